//! Agent actions on calls: check, log, ask the provider. The provider's confirmation comes
//! back later as an event; the reply carries the record as it stands and the media join.

use switchboard_core::api::{CallActionResponse, OutboundCallRequest, RecordingAction, TransferTarget};
use switchboard_core::{CallAction, CallRecord, CallSid, MediaJoin, NormalizedCallEvent};
use switchboard_telephony::{CallRef, OutboundCall};

use crate::error::ApiError;
use crate::store::Principal;
use crate::{AppState, new_call_sid, now_ms};

/// The details some actions carry.
#[derive(Debug, Clone)]
pub enum ActionDetail {
    /// Nothing more.
    None,
    /// Transfer target.
    Transfer(TransferTarget),
    /// Digits.
    Dtmf(String),
    /// Start/stop.
    Recording(RecordingAction),
}

/// Perform `action` on a call for `who`.
pub async fn perform(
    st: &AppState,
    who: &Principal,
    sid: &CallSid,
    action: CallAction,
    detail: ActionDetail,
) -> Result<CallActionResponse, ApiError> {
    // Resolve the provider before logging anything, so a misconfigured provider does not
    // leave a dangling "action requested" in the history.
    let current = st
        .store
        .call(who.business_id, sid)
        .await?
        .ok_or(ApiError::NotFound("call"))?;
    let handle = crate::actions::carrier(st, &current)?;
    let transfer = match &detail {
        ActionDetail::Transfer(t) => Some(t),
        _ => None,
    };
    let rec = st.store.begin_action(who, sid, action, transfer).await?;
    let call = CallRef {
        agent: login(st, who).await?,
        ..call_ref(&rec)
    };
    let p = &handle.provider;
    let result = match &detail {
        ActionDetail::Transfer(t) => p.transfer(&call, t).await,
        ActionDetail::Dtmf(d) => p.send_dtmf(&call, d).await,
        ActionDetail::Recording(RecordingAction::Start) => p.start_recording(&call).await,
        ActionDetail::Recording(RecordingAction::Stop) => p.stop_recording(&call).await,
        ActionDetail::None => match action {
            CallAction::Answer => p.answer(&call).await,
            CallAction::Hold => p.hold(&call).await,
            CallAction::Resume => p.resume(&call).await,
            CallAction::End => p.end(&call).await,
            CallAction::Transfer | CallAction::Dtmf | CallAction::Recording => {
                return Err(ApiError::BadRequest(format!("{action} needs a request body")));
            }
        },
    };
    if let Err(e) = result {
        crate::metrics::provider_error(&e);
        let err = e.to_call_error();
        let undo = crate::policy::undo_claim(action, &current, &rec).map(|owner| (who.agent_id, owner));
        st.store.action_failed(who.business_id, sid, action, &err, undo).await?;
        return Err(ApiError::Provider(err));
    }
    // Answer and resume tell the desktop how to (re)join the audio.
    let media = match action {
        CallAction::Answer | CallAction::Resume => p.media_join(&call),
        _ => MediaJoin::None,
    };
    Ok(CallActionResponse { call: rec, media })
}

/// Pass the desktop's SDP offer to the provider carrying the call. The agent holding the
/// call, a supervisor monitoring it and an agent it consults may join its audio.
pub async fn media_offer(st: &AppState, who: &Principal, sid: &CallSid, sdp: &str) -> Result<String, ApiError> {
    if !sdp.starts_with("v=0") {
        return Err(ApiError::Invalid(
            "sdp must be a session description starting with v=0".into(),
        ));
    }
    let rec = st
        .store
        .call(who.business_id, sid)
        .await?
        .ok_or(ApiError::NotFound("call"))?;
    crate::policy::authorize(who.into(), crate::policy::Act::JoinAudio, &rec)
        .map_err(|d| ApiError::from(crate::store::StoreError::from(d)))?;
    let handle = crate::actions::carrier(st, &rec)?;
    // The provider tells the agent's, a supervisor's and a consulted agent's session apart
    // by who is joining.
    let call = CallRef {
        agent: login(st, who).await?,
        ..call_ref(&rec)
    };
    handle
        .provider
        .media_offer(&call, sdp)
        .await
        .map_err(crate::supervision::provider_error)
}

/// How the agent holding a call joins its audio again, freshly (a LiveKit server that
/// dropped the desktop's session wants a new token). Supervisors and consulted agents
/// join again by the step that let them in.
pub async fn media_join(st: &AppState, who: &Principal, sid: &CallSid) -> Result<MediaJoin, ApiError> {
    let rec = st
        .store
        .call(who.business_id, sid)
        .await?
        .ok_or(ApiError::NotFound("call"))?;
    if rec.agent_id != Some(who.agent_id) {
        return Err(ApiError::Forbidden(
            "only the agent holding the call joins its audio this way".into(),
        ));
    }
    if rec.status.is_terminal() {
        return Err(ApiError::Conflict(format!("the call is over ({})", rec.status)));
    }
    let handle = crate::actions::carrier(st, &rec)?;
    let call = CallRef {
        agent: login(st, who).await?,
        ..call_ref(&rec)
    };
    Ok(handle.provider.media_join(&call))
}

/// The running provider carrying `rec`, or why there is none here.
pub fn carrier(st: &AppState, rec: &CallRecord) -> Result<std::sync::Arc<crate::providers::ProviderHandle>, ApiError> {
    st.providers
        .for_call(rec)
        .ok_or_else(|| ApiError::Conflict("the provider carrying this call is not running on this gateway".into()))
}

/// What a provider needs to know about a call to act on it.
pub fn call_ref(rec: &CallRecord) -> CallRef {
    CallRef {
        call_sid: rec.call_sid.clone(),
        vendor_call_id: rec.vendor_call_id.clone(),
        direction: rec.direction,
        from: rec.from.clone(),
        to: rec.to.clone(),
        agent: None,
    }
}

/// The acting agent's login name, which providers that ring agents' own phones key by.
async fn login(st: &AppState, who: &Principal) -> Result<Option<String>, ApiError> {
    Ok(st.store.agent(who.business_id, who.agent_id).await?.map(|a| a.name))
}

/// Place an outbound call. The record (and its `call_sid`) is stored before the provider is
/// asked; a provider failure leaves it `failed` with the normalised error, so every attempt
/// has an audit trail.
pub async fn place_call(
    st: &AppState,
    who: &Principal,
    req: &OutboundCallRequest,
) -> Result<CallActionResponse, ApiError> {
    let numbers = st.store.numbers(who.business_id).await?;
    let number = numbers.iter().find(|n| n.id == req.from_number_id).ok_or_else(|| {
        ApiError::Invalid(format!(
            "from_number_id {} is not one of this business's numbers",
            req.from_number_id
        ))
    })?;
    if !number.capabilities.outbound {
        return Err(ApiError::Invalid(format!(
            "{} ({}) cannot place outbound calls",
            number.e164, number.label
        )));
    }
    if let Some(agent) = &req.ai_agent {
        let can = st
            .providers
            .get(number.provider_id)
            .is_some_and(|h| h.provider.capabilities().ai_agents);
        if !can || agent.trim().is_empty() {
            return Err(ApiError::Invalid(format!(
                "ai_agent: {} ({}) is not carried by a provider with AI agents",
                number.e164, number.label
            )));
        }
    }
    if let Some(lead) = req.lead_id {
        st.store
            .lead(who.business_id, lead)
            .await?
            .ok_or_else(|| ApiError::Invalid(format!("lead {lead} does not exist")))?;
    }
    let handle = st
        .providers
        .get(number.provider_id)
        .ok_or_else(|| ApiError::Conflict(format!("provider {} is not running on this gateway", number.provider)))?;

    let agent = login(st, who).await?;
    let sid = new_call_sid();
    let mut rec = CallRecord::outbound(
        sid.clone(),
        who.business_id,
        number.e164.to_string(),
        req.to.to_string(),
        now_ms(),
    );
    rec.agent_id = Some(who.agent_id);
    rec.number_id = Some(number.id);
    rec.provider_id = Some(number.provider_id);
    rec.capabilities = Some(handle.provider.capabilities());
    rec.lead_id = req.lead_id;
    rec.telephony_vendor = Some(handle.vendor());
    st.store.create_outbound(&rec).await?;

    let outcome = handle
        .provider
        .initiate(&OutboundCall {
            call_sid: sid.clone(),
            from: number.e164.clone(),
            to: req.to.clone(),
            ai_agent: req.ai_agent.clone(),
            agent,
        })
        .await;
    // Either way the result goes through the normal event path, so it is merged, stored and
    // streamed like anything a provider reports.
    let ev = match outcome {
        Ok(init) => NormalizedCallEvent {
            call_sid: Some(sid.clone()),
            telephony_vendor: Some(handle.vendor()),
            // Empty when the id only comes later (with the call's first event).
            vendor_call_id: Some(init.vendor_call_id).filter(|v| !v.is_empty()),
            voice_platform: init.voice_platform,
            voice_platform_call_id: init.voice_platform_call_id,
            conversation_id: init.conversation_id,
            ..NormalizedCallEvent::new(format!("{sid}:initiated"), now_ms())
        },
        Err(e) => NormalizedCallEvent {
            call_sid: Some(sid.clone()),
            status: Some(switchboard_core::CallStatus::Failed),
            error: Some({
                crate::metrics::provider_error(&e);
                e.to_call_error()
            }),
            ..NormalizedCallEvent::new(format!("{sid}:initiate-failed"), now_ms())
        },
    };
    st.store.ingest_call_event(&handle.row, &ev).await?;
    let call = st.store.call(who.business_id, &sid).await?.ok_or(ApiError::Internal)?;
    Ok(CallActionResponse {
        call,
        media: MediaJoin::None,
    })
}
