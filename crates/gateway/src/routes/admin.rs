//! `/v1/admin/...`: onboarding without SQL. An admin manages the agents and tokens of their
//! own business; admins of the operator's own business (`platform`) may also create
//! businesses. Everything is scoped by the caller's token, like every other route.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use switchboard_core::api::{
    AgentsResponse, IssuedToken, NewAgentRequest, NewBusinessRequest, NewBusinessResponse, NewTokenRequest,
    TokensResponse,
};
use switchboard_core::{Agent, AgentId, AgentRole};

use super::{ApiJson, ApiPath};
use crate::AppState;
use crate::auth::{DEFAULT_TOKEN_TTL_DAYS, issue};
use crate::error::ApiError;
use crate::store::Principal;

/// Who may use the admin API: admins, and for businesses only the operator's admins.
pub(super) fn require_admin(who: &Principal) -> Result<(), ApiError> {
    if who.role == AgentRole::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("this needs the admin role".into()))
    }
}

/// A login name: what people type, so letters, digits, `.`, `_`, `-`, at most 64.
fn check_login(name: &str) -> Result<(), ApiError> {
    check_slug("a login name", name)
}

/// A name people type and URLs carry: letters, digits, `.`, `_`, `-`, at most 64.
pub(super) fn check_slug(what: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::Invalid(format!(
            "{what} is 1 to 64 letters, digits, '.', '_' or '-'"
        )))
    }
}

fn check_display(what: &str, name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 200 || name.contains('\0') {
        return Err(ApiError::Invalid(format!("{what} must be 1 to 200 characters")));
    }
    Ok(())
}

/// `GET /v1/admin/agents`.
pub async fn agents(State(st): State<AppState>, who: Principal) -> Result<Json<AgentsResponse>, ApiError> {
    require_admin(&who)?;
    Ok(Json(AgentsResponse {
        agents: st.store.agents(who.business_id).await?,
    }))
}

/// `POST /v1/admin/agents`.
pub async fn create_agent(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(req): ApiJson<NewAgentRequest>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    require_admin(&who)?;
    check_login(&req.name)?;
    let display = req.display_name.clone().unwrap_or_else(|| req.name.clone());
    check_display("display_name", &display)?;
    let id = st
        .store
        .create_agent(who.business_id, &req.name, display.trim(), req.role)
        .await?;
    let agent = st.store.agent(who.business_id, id).await?.ok_or(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// `POST /v1/admin/agents/{id}/tokens`.
pub async fn create_token(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(agent): ApiPath<i64>,
    ApiJson(req): ApiJson<NewTokenRequest>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    require_admin(&who)?;
    let agent = AgentId::try_from(agent).map_err(|_| ApiError::NotFound("agent"))?;
    st.store
        .agent(who.business_id, agent)
        .await?
        .ok_or(ApiError::NotFound("agent"))?;
    let issued = issue(
        &*st.store,
        agent,
        req.label.as_deref().unwrap_or(""),
        req.ttl_days.unwrap_or(DEFAULT_TOKEN_TTL_DAYS),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// `GET /v1/admin/tokens`.
pub async fn tokens(State(st): State<AppState>, who: Principal) -> Result<Json<TokensResponse>, ApiError> {
    require_admin(&who)?;
    Ok(Json(TokensResponse {
        tokens: st.store.tokens(who.business_id).await?,
    }))
}

/// `DELETE /v1/admin/tokens/{id}`.
pub async fn revoke_token(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    require_admin(&who)?;
    st.store.revoke_token(who.business_id, id, crate::now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/agents/me/token`: sign out for good; this token stops working at once.
pub async fn sign_out(State(st): State<AppState>, who: Principal) -> Result<StatusCode, ApiError> {
    st.store
        .revoke_token(who.business_id, who.token_id, crate::now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/businesses`: a new business with its first admin and a token for them.
pub async fn create_business(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(req): ApiJson<NewBusinessRequest>,
) -> Result<(StatusCode, Json<NewBusinessResponse>), ApiError> {
    require_admin(&who)?;
    if !who.platform {
        return Err(ApiError::Forbidden(
            "only admins of the operator's own business may create businesses".into(),
        ));
    }
    check_display("name", &req.name)?;
    check_login(&req.admin)?;
    let (business, admin) =
        crate::onboarding::create_business_with_admin(&*st.store, req.name.trim(), &req.admin).await?;
    let token = issue(&*st.store, admin.id, "first admin", DEFAULT_TOKEN_TTL_DAYS).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewBusinessResponse {
            business_id: business.get(),
            admin,
            token,
        }),
    ))
}
