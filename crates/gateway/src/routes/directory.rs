//! Numbers, leads, agents, transcripts, health and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use switchboard_core::api::{
    AgentStatusRequest, AgentsResponse, Health, LeadDetail, LeadQuery, LeadsResponse, NumbersResponse,
    TranscriptResponse,
};
use switchboard_core::{Agent, LeadId};

use super::{ApiJson, ApiPath, ApiQuery, SidPath};
use crate::AppState;
use crate::error::ApiError;
use crate::store::Principal;

pub async fn health(State(st): State<AppState>) -> Result<Json<Health>, ApiError> {
    st.store.ping().await?;
    Ok(Json(Health {
        status: "ok".into(),
        database: st.store.backend().into(),
    }))
}

pub async fn openapi() -> Json<serde_json::Value> {
    Json(crate::openapi::document())
}

pub async fn numbers(State(st): State<AppState>, who: Principal) -> Result<Json<NumbersResponse>, ApiError> {
    Ok(Json(NumbersResponse {
        numbers: super::providers::with_capabilities(&st, st.store.numbers(who.business_id).await?),
    }))
}

pub async fn leads(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<LeadQuery>,
) -> Result<Json<LeadsResponse>, ApiError> {
    if let Some(p) = &q.phone {
        p.parse::<switchboard_core::E164>()
            .map_err(|e| ApiError::Invalid(e.to_string()))?;
    }
    Ok(Json(LeadsResponse {
        leads: st.store.leads(who.business_id, &q).await?,
    }))
}

pub async fn lead(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<LeadDetail>, ApiError> {
    let id: LeadId = id
        .parse()
        .map_err(|e: switchboard_core::IdError| ApiError::BadRequest(e.to_string()))?;
    let lead = st
        .store
        .lead(who.business_id, id)
        .await?
        .ok_or(ApiError::NotFound("lead"))?;
    let calls = st.store.calls_of_lead(who.business_id, id, 50).await?;
    Ok(Json(LeadDetail { lead, calls }))
}

pub async fn transcript(
    State(st): State<AppState>,
    who: Principal,
    SidPath(sid): SidPath,
) -> Result<Json<TranscriptResponse>, ApiError> {
    // A call of another business is a 404, like one that does not exist.
    st.store
        .call(who.business_id, &sid)
        .await?
        .ok_or(ApiError::NotFound("call"))?;
    let turns = st.store.transcript(who.business_id, &sid).await?;
    Ok(Json(TranscriptResponse { call_sid: sid, turns }))
}

pub async fn agents(State(st): State<AppState>, who: Principal) -> Result<Json<AgentsResponse>, ApiError> {
    Ok(Json(AgentsResponse {
        agents: st.store.agents(who.business_id).await?,
    }))
}

pub async fn set_status(
    State(st): State<AppState>,
    who: Principal,
    key: super::IdempotencyKey,
    ApiJson(req): ApiJson<AgentStatusRequest>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(
        st.store.set_agent_status(&who, req.status, key.0.as_deref()).await?,
    ))
}

pub async fn me(State(st): State<AppState>, who: Principal) -> Result<Json<Agent>, ApiError> {
    Ok(Json(
        st.store
            .agent(who.business_id, who.agent_id)
            .await?
            .ok_or(ApiError::Unauthorized)?,
    ))
}

/// How far back "today" may start.
const MAX_DAY_MS: i64 = 7 * 24 * 3_600_000;

pub async fn floor(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<switchboard_core::api::FloorQuery>,
) -> Result<Json<switchboard_core::floor::Floor>, ApiError> {
    if !crate::policy::watches_floor(who.role) {
        return Err(ApiError::Forbidden("the floor is for supervisors and admins".into()));
    }
    let now = crate::now_ms();
    let day_start = match q.day_start {
        Some(d) if (now - MAX_DAY_MS..=now).contains(&d) => d,
        Some(_) => {
            return Err(ApiError::Invalid(
                "day_start must be a time (ms since the epoch) within the last 7 days".into(),
            ));
        }
        None => now - now.rem_euclid(24 * 3_600_000),
    };
    let floor = st.floors.get(&*st.store, who.business_id, day_start, now).await?;
    Ok(Json((*floor).clone()))
}

/// `GET /v1/settings`: the business's settings (everyone in it may read them).
pub async fn settings(
    State(st): State<AppState>,
    who: Principal,
) -> Result<Json<switchboard_core::api::BusinessSettings>, ApiError> {
    Ok(Json(st.store.settings(who.business_id).await?))
}

/// `PATCH /v1/settings` (admins).
pub async fn update_settings(
    State(st): State<AppState>,
    who: Principal,
    super::ApiJson(patch): super::ApiJson<switchboard_core::api::SettingsPatch>,
) -> Result<Json<switchboard_core::api::BusinessSettings>, ApiError> {
    Ok(Json(st.store.update_settings(&who, &patch).await?))
}

/// `PATCH /v1/queues/{id}` (admins): name and answer-time target.
pub async fn update_queue(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<switchboard_core::api::QueuePatch>,
) -> Result<Json<switchboard_core::api::QueueInfo>, ApiError> {
    patch.validate().map_err(ApiError::Invalid)?;
    let id = switchboard_core::QueueId::try_from(id).map_err(|_| ApiError::NotFound("queue"))?;
    Ok(Json(st.store.update_queue(&who, id, &patch).await?))
}
