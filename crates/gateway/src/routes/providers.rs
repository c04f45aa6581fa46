//! `/v1/providers` and the write side of `/v1/numbers`: an admin connects the business's
//! telephony while the gateway runs. A config is checked by its provider kind before it is
//! stored (every credential a `secret:NAME` reference; a literal one is refused and never
//! stored); the change reaches every replica through the event stream
//! ([`crate::providers`]), and calls in progress stay with the instance that carried them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use switchboard_core::api::{
    NewNumberRequest, NewProviderRequest, NumberPatch, ProviderCheck, ProviderInfo, ProviderPatch, ProvidersResponse,
};
use switchboard_core::{NumberId, PhoneNumber, ProviderCapabilities, ProviderId};
use switchboard_telephony::registry;

use super::{ApiJson, ApiPath};
use crate::AppState;
use crate::error::ApiError;
use crate::store::{Principal, ProviderRow};

use super::admin::{check_slug, require_admin};

/// One of the business's providers (removed ones are not found).
async fn own_provider(st: &AppState, who: &Principal, id: ProviderId) -> Result<ProviderRow, ApiError> {
    st.store
        .business_providers(who.business_id)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(ApiError::NotFound("provider"))
}

/// Check a config the way its kind reads it; the message names the field, never a value.
fn check_config(st: &AppState, kind: &str, config: &serde_json::Value) -> Result<(), ApiError> {
    registry::check_config(kind, config, &st.providers.secrets()).map_err(|e| ApiError::Invalid(format!("config: {e}")))
}

fn info(st: &AppState, row: ProviderRow) -> ProviderInfo {
    // Only the instance built from this very row counts as running it.
    let running = st.providers.get(row.id).filter(|h| h.row.same_settings(&row));
    ProviderInfo {
        id: row.id,
        name: row.name,
        kind: row.kind,
        config: row.config,
        enabled: row.enabled,
        running: running.is_some(),
        capabilities: running.map(|h| h.provider.capabilities()).unwrap_or_default(),
    }
}

fn provider_id(raw: i64) -> Result<ProviderId, ApiError> {
    ProviderId::try_from(raw).map_err(|_| ApiError::NotFound("provider"))
}

/// `GET /v1/providers`.
pub async fn list(State(st): State<AppState>, who: Principal) -> Result<Json<ProvidersResponse>, ApiError> {
    require_admin(&who)?;
    let rows = st.store.business_providers(who.business_id).await?;
    Ok(Json(ProvidersResponse {
        providers: rows.into_iter().map(|r| info(&st, r)).collect(),
        kinds: registry::KINDS.iter().map(|k| (*k).to_owned()).collect(),
    }))
}

/// `POST /v1/providers`.
pub async fn create(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(req): ApiJson<NewProviderRequest>,
) -> Result<(StatusCode, Json<ProviderInfo>), ApiError> {
    require_admin(&who)?;
    // The name goes into webhook URLs.
    check_slug("a provider name", &req.name)?;
    check_config(&st, &req.kind, &req.config)?;
    let row = st.store.add_provider(&who, &req.name, &req.kind, &req.config).await?;
    Ok((StatusCode::CREATED, Json(info(&st, row))))
}

/// `PATCH /v1/providers/{id}`.
pub async fn update(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<ProviderPatch>,
) -> Result<Json<ProviderInfo>, ApiError> {
    require_admin(&who)?;
    let id = provider_id(id)?;
    if let Some(config) = &patch.config {
        let row = own_provider(&st, &who, id).await?;
        check_config(&st, &row.kind, config)?;
    }
    let row = st
        .store
        .update_provider(&who, id, patch.config.as_ref(), patch.enabled)
        .await?;
    Ok(Json(info(&st, row)))
}

/// `DELETE /v1/providers/{id}`.
pub async fn remove(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    require_admin(&who)?;
    st.store.remove_provider(&who, provider_id(id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/providers/{id}/check`: ask the provider to check itself against its real
/// service; a provider that is not running reports why its config does not build.
pub async fn check(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ProviderCheck>, ApiError> {
    require_admin(&who)?;
    let id = provider_id(id)?;
    let row = own_provider(&st, &who, id).await?;
    let mut problems = Vec::new();
    match st.providers.get(id).filter(|h| h.row.same_settings(&row)) {
        Some(handle) => {
            if let Err(e) = handle.provider.check().await {
                problems.push(e.to_string());
            }
        }
        None => {
            if let Err(e) = registry::check_config(&row.kind, &row.config, &st.providers.secrets()) {
                problems.push(e.to_string());
            }
            if !row.enabled {
                problems.push("the provider is disabled".into());
            } else if problems.is_empty() {
                problems
                    .push("the provider is not running on this gateway yet (a change takes a moment to apply)".into());
            }
        }
    }
    Ok(Json(ProviderCheck {
        ok: problems.is_empty(),
        problems,
    }))
}

/// Every number with its provider's capabilities, as the running providers report them.
pub fn with_capabilities(st: &AppState, mut numbers: Vec<PhoneNumber>) -> Vec<PhoneNumber> {
    for n in &mut numbers {
        n.provider_capabilities = st
            .providers
            .get(n.provider_id)
            .map_or_else(ProviderCapabilities::default, |h| h.provider.capabilities());
    }
    numbers
}

fn check_label(label: &str) -> Result<(), ApiError> {
    if label.trim().is_empty() || label.len() > 100 || label.contains('\0') {
        return Err(ApiError::Invalid("label must be 1 to 100 characters".into()));
    }
    Ok(())
}

fn number_id(raw: i64) -> Result<NumberId, ApiError> {
    NumberId::try_from(raw).map_err(|_| ApiError::NotFound("number"))
}

/// `POST /v1/numbers`.
pub async fn add_number(
    State(st): State<AppState>,
    who: Principal,
    ApiJson(req): ApiJson<NewNumberRequest>,
) -> Result<(StatusCode, Json<PhoneNumber>), ApiError> {
    require_admin(&who)?;
    check_label(&req.label)?;
    let n = st.store.add_number(&who, &req).await?;
    let n = with_capabilities(&st, vec![n]).remove(0);
    Ok((StatusCode::CREATED, Json(n)))
}

/// `PATCH /v1/numbers/{id}`.
pub async fn update_number(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<NumberPatch>,
) -> Result<Json<PhoneNumber>, ApiError> {
    require_admin(&who)?;
    if let Some(label) = &patch.label {
        check_label(label)?;
    }
    let n = st.store.update_number(&who, number_id(id)?, &patch).await?;
    Ok(Json(with_capabilities(&st, vec![n]).remove(0)))
}

/// `DELETE /v1/numbers/{id}`.
pub async fn remove_number(
    State(st): State<AppState>,
    who: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    require_admin(&who)?;
    st.store.remove_number(&who, number_id(id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
