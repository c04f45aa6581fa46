//! `/v1/queue` and `/v1/calls...`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use switchboard_core::api::{
    CallActionResponse, CallDetail, CallList, CallListQuery, ConsultRequest, DtmfRequest, HistoryEntry, MonitorRequest,
    OutboundCallRequest, QueueResponse, RecordingRequest, TransferRequest, WrapUpRequest,
};
use switchboard_core::{CallAction, CallSid, ConsultStep, MediaAnswer, MediaOffer};

use super::{ApiJson, ApiQuery, SidPath};
use crate::AppState;
use crate::actions::{self, ActionDetail};
use crate::error::ApiError;
use crate::policy::MonitorChange;
use crate::store::Principal;
use crate::supervision;

type Reply = Result<(StatusCode, Json<CallActionResponse>), ApiError>;

pub async fn queue(State(st): State<AppState>, who: Principal) -> Result<Json<QueueResponse>, ApiError> {
    Ok(Json(QueueResponse {
        calls: st.store.queue(who.business_id).await?,
    }))
}

pub async fn list(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<CallListQuery>,
) -> Result<Json<CallList>, ApiError> {
    let mut list = st.store.calls(who.business_id, &q).await?;
    let announce = st.store.settings(who.business_id).await?.announce_listening;
    for call in &mut list.calls {
        crate::policy::visible_monitors(who.role, announce, call);
    }
    Ok(Json(list))
}

pub async fn detail(
    State(st): State<AppState>,
    who: Principal,
    SidPath(sid): SidPath,
) -> Result<Json<CallDetail>, ApiError> {
    let call = st
        .store
        .call(who.business_id, &sid)
        .await?
        .ok_or(ApiError::NotFound("call"))?;
    let lead = match call.lead_id {
        Some(id) => st.store.lead(who.business_id, id).await?,
        None => None,
    };
    let transcript = st.store.transcript(who.business_id, &sid).await?;
    let announce = st.store.settings(who.business_id).await?.announce_listening;
    let mut call = call;
    crate::policy::visible_monitors(who.role, announce, &mut call);
    let history = st
        .store
        .call_history(who.business_id, &sid)
        .await?
        .iter()
        .filter(|ev| crate::policy::trail_visible(who.role, announce, ev))
        .filter_map(HistoryEntry::from_event)
        .collect();
    Ok(Json(CallDetail {
        call,
        lead,
        transcript,
        history,
    }))
}

/// `POST /v1/calls/{call_sid}/monitor`: a supervisor joins in a mode.
pub async fn monitor_start(
    State(st): State<AppState>,
    who: Principal,
    SidPath(sid): SidPath,
    ApiJson(req): ApiJson<MonitorRequest>,
) -> Reply {
    let done = supervision::monitor(&st, &who, &sid, MonitorChange::Start(req.mode)).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

/// `PATCH /v1/calls/{call_sid}/monitor`: switch mode, same audio session.
pub async fn monitor_switch(
    State(st): State<AppState>,
    who: Principal,
    SidPath(sid): SidPath,
    ApiJson(req): ApiJson<MonitorRequest>,
) -> Reply {
    let done = supervision::monitor(&st, &who, &sid, MonitorChange::Switch(req.mode)).await?;
    Ok((StatusCode::OK, Json(done)))
}

/// `DELETE /v1/calls/{call_sid}/monitor`: leave.
pub async fn monitor_stop(State(st): State<AppState>, who: Principal, SidPath(sid): SidPath) -> Reply {
    let done = supervision::monitor(&st, &who, &sid, MonitorChange::Stop).await?;
    Ok((StatusCode::OK, Json(done)))
}

/// `POST /v1/calls/{call_sid}/consult`: hold the caller and reach the target.
pub async fn consult_start(
    State(st): State<AppState>,
    who: Principal,
    SidPath(sid): SidPath,
    ApiJson(req): ApiJson<ConsultRequest>,
) -> Reply {
    let done = supervision::consult(&st, &who, &sid, ConsultStep::Start, Some(&req.to)).await?;
    Ok((StatusCode::ACCEPTED, Json(done)))
}

/// `POST /v1/calls/{call_sid}/consult/{step}`: accept, conference or complete.
pub async fn consult_step(
    State(st): State<AppState>,
    who: Principal,
    super::ApiPath((sid, step)): super::ApiPath<(String, String)>,
) -> Reply {
    let sid: CallSid = sid
        .parse()
        .map_err(|e: switchboard_core::IdError| ApiError::BadRequest(e.to_string()))?;
    let step = match step.as_str() {
        "accept" => ConsultStep::Accept,
        "conference" => ConsultStep::Conference,
        "complete" => ConsultStep::Complete,
        // Cancelling is DELETE on the consult.
        _ => return Err(ApiError::NotFound("consult step (accept, conference, complete)")),
    };
    let done = supervision::consult(&st, &who, &sid, step, None).await?;
    Ok((StatusCode::ACCEPTED, Json(done)))
}

/// `DELETE /v1/calls/{call_sid}/consult`: the target leaves, the agent has the caller back.
pub async fn consult_cancel(State(st): State<AppState>, who: Principal, SidPath(sid): SidPath) -> Reply {
    let done = supervision::consult(&st, &who, &sid, ConsultStep::Cancel, None).await?;
    Ok((StatusCode::ACCEPTED, Json(done)))
}

pub async fn place(State(st): State<AppState>, who: Principal, ApiJson(req): ApiJson<OutboundCallRequest>) -> Reply {
    Ok((StatusCode::CREATED, Json(actions::place_call(&st, &who, &req).await?)))
}

async fn act(st: AppState, who: Principal, sid: SidPath, action: CallAction, detail: ActionDetail) -> Reply {
    Ok((
        StatusCode::ACCEPTED,
        Json(actions::perform(&st, &who, &sid.0, action, detail).await?),
    ))
}

/// The desktop's SDP offer for the call's audio; the reply is the far end's answer.
pub async fn media(
    State(st): State<AppState>,
    who: Principal,
    SidPath(sid): SidPath,
    ApiJson(req): ApiJson<MediaOffer>,
) -> Result<Json<MediaAnswer>, ApiError> {
    Ok(Json(MediaAnswer {
        sdp: actions::media_offer(&st, &who, &sid, &req.sdp).await?,
    }))
}

/// How the agent holding the call joins its audio again (a fresh room token).
pub async fn media_join(
    State(st): State<AppState>,
    who: Principal,
    SidPath(sid): SidPath,
) -> Result<Json<switchboard_core::MediaJoin>, ApiError> {
    Ok(Json(actions::media_join(&st, &who, &sid).await?))
}

pub async fn answer(State(st): State<AppState>, who: Principal, sid: SidPath) -> Reply {
    act(st, who, sid, CallAction::Answer, ActionDetail::None).await
}

pub async fn hold(State(st): State<AppState>, who: Principal, sid: SidPath) -> Reply {
    act(st, who, sid, CallAction::Hold, ActionDetail::None).await
}

pub async fn resume(State(st): State<AppState>, who: Principal, sid: SidPath) -> Reply {
    act(st, who, sid, CallAction::Resume, ActionDetail::None).await
}

pub async fn end(State(st): State<AppState>, who: Principal, sid: SidPath) -> Reply {
    act(st, who, sid, CallAction::End, ActionDetail::None).await
}

pub async fn transfer(
    State(st): State<AppState>,
    who: Principal,
    sid: SidPath,
    ApiJson(req): ApiJson<TransferRequest>,
) -> Reply {
    act(st, who, sid, CallAction::Transfer, ActionDetail::Transfer(req.to)).await
}

pub async fn dtmf(
    State(st): State<AppState>,
    who: Principal,
    sid: SidPath,
    ApiJson(req): ApiJson<DtmfRequest>,
) -> Reply {
    req.validate().map_err(ApiError::Invalid)?;
    act(st, who, sid, CallAction::Dtmf, ActionDetail::Dtmf(req.digits)).await
}

pub async fn recording(
    State(st): State<AppState>,
    who: Principal,
    sid: SidPath,
    ApiJson(req): ApiJson<RecordingRequest>,
) -> Reply {
    act(st, who, sid, CallAction::Recording, ActionDetail::Recording(req.action)).await
}

pub async fn wrap_up(
    State(st): State<AppState>,
    who: Principal,
    SidPath(sid): SidPath,
    key: super::IdempotencyKey,
    ApiJson(req): ApiJson<WrapUpRequest>,
) -> Result<Json<switchboard_core::CallRecord>, ApiError> {
    req.validate().map_err(ApiError::Invalid)?;
    Ok(Json(
        st.store
            .wrap_up(&who, &sid, &req.disposition, req.notes.as_deref(), key.0.as_deref())
            .await?,
    ))
}
