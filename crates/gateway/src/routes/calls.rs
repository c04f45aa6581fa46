//! `/v1/queue` and `/v1/calls...`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use switchboard_core::api::{
    CallActionResponse, CallDetail, CallList, CallListQuery, DtmfRequest, OutboundCallRequest, QueueResponse,
    RecordingRequest, TransferRequest, WrapUpRequest,
};
use switchboard_core::{CallAction, MediaAnswer, MediaOffer};

use super::{ApiJson, ApiQuery, SidPath};
use crate::AppState;
use crate::actions::{self, ActionDetail};
use crate::error::ApiError;
use crate::store::Principal;

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
    Ok(Json(st.store.calls(who.business_id, &q).await?))
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
    Ok(Json(CallDetail { call, lead, transcript }))
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
