//! Supervisors monitoring calls and agents' attended transfers. Each request is checked by
//! [`crate::policy`] against the call as stored, carried out by the call's provider, then
//! recorded on the call with its audit event (the store checks again inside its
//! transaction, so two supervisors racing cannot both win). A provider that refuses leaves
//! nothing behind: the trail shows what happened, not what was attempted.

use switchboard_core::api::{CallActionResponse, TransferTarget};
use switchboard_core::{Agent, CallSid, ConsultStep, MediaJoin};
use switchboard_telephony::{CallRef, ConsultTarget, ProviderError};

use crate::actions::call_ref;
use crate::error::ApiError;
use crate::policy::{self, MonitorChange};
use crate::store::{Principal, StoreError, Supervision};
use crate::{AppState, now_ms};

/// Start, switch or stop monitoring a call; the reply says how to join its audio.
pub async fn monitor(
    st: &AppState,
    who: &Principal,
    sid: &CallSid,
    change: MonitorChange,
) -> Result<CallActionResponse, ApiError> {
    let rec = st
        .store
        .call(who.business_id, sid)
        .await?
        .ok_or(ApiError::NotFound("call"))?;
    let me = myself(st, who).await?;
    policy::monitor(who.into(), &me.display_name, &rec, change, now_ms()).map_err(denied)?;
    let handle = crate::actions::carrier(st, &rec)?;
    let mode = match change {
        MonitorChange::Start(m) | MonitorChange::Switch(m) => Some(m),
        MonitorChange::Stop => None,
    };
    let call_ref = CallRef {
        agent: Some(me.name.clone()),
        ..call_ref(&rec)
    };
    let media = handle
        .provider
        .monitor(&call_ref, &me.name, mode)
        .await
        .map_err(provider_error)?;
    let call = st
        .store
        .supervise(
            who,
            sid,
            Supervision::Monitor {
                name: &me.display_name,
                change,
            },
        )
        .await?;
    // A switch keeps the session the supervisor already has.
    let media = if matches!(change, MonitorChange::Start(_)) {
        media
    } else {
        MediaJoin::None
    };
    Ok(CallActionResponse { call, media })
}

/// A step of an attended transfer. The consulted agent's `Accept` reply says how to join
/// the call's audio.
pub async fn consult(
    st: &AppState,
    who: &Principal,
    sid: &CallSid,
    step: ConsultStep,
    target: Option<&TransferTarget>,
) -> Result<CallActionResponse, ApiError> {
    let rec = st
        .store
        .call(who.business_id, sid)
        .await?
        .ok_or(ApiError::NotFound("call"))?;
    let target_agent = match target {
        Some(TransferTarget::Agent(a)) => st.store.agent(who.business_id, *a).await?,
        _ => None,
    };
    policy::consult(who.into(), &rec, step, target, target_agent.is_some(), now_ms()).map_err(denied)?;
    let handle = crate::actions::carrier(st, &rec)?;
    let provider_target = match (target, target_agent) {
        (Some(TransferTarget::Number(n)), _) => Some(ConsultTarget::Number(n.clone())),
        (Some(TransferTarget::Agent(_)), Some(agent)) => Some(ConsultTarget::Agent(agent.name)),
        _ => None,
    };
    let me = myself(st, who).await?;
    let call_ref = CallRef {
        agent: Some(me.name),
        ..call_ref(&rec)
    };
    handle
        .provider
        .consult(&call_ref, step, provider_target.as_ref())
        .await
        .map_err(provider_error)?;
    let call = st
        .store
        .supervise(who, sid, Supervision::Consult { step, target })
        .await?;
    let media = match step {
        ConsultStep::Accept => handle.provider.media_join(&call_ref),
        _ => MediaJoin::None,
    };
    Ok(CallActionResponse { call, media })
}

async fn myself(st: &AppState, who: &Principal) -> Result<Agent, ApiError> {
    st.store
        .agent(who.business_id, who.agent_id)
        .await?
        .ok_or(ApiError::Internal)
}

fn denied(d: policy::Denied) -> ApiError {
    ApiError::from(StoreError::from(d))
}

/// A provider's refusal, as the API says it.
pub fn provider_error(e: ProviderError) -> ApiError {
    crate::metrics::provider_error(&e);
    match e {
        ProviderError::Unsupported(what) => ApiError::Conflict(format!("this call's provider does not support {what}")),
        ProviderError::Invalid(m) => ApiError::Invalid(m),
        other => ApiError::Provider(other.to_call_error()),
    }
}
