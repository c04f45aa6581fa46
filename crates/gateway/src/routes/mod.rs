//! The router, and extractors that turn malformed input into clear 4xx errors.

mod admin;
mod calls;
mod directory;
mod events;
pub mod providers;
mod webhooks;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use switchboard_core::CallSid;

use crate::AppState;
use crate::error::ApiError;

/// Every route. Keep `openapi::ROUTES` in step (a test checks it).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(directory::health))
        .route("/openapi.json", get(directory::openapi))
        .route("/v1/queue", get(calls::queue))
        .route("/v1/floor", get(directory::floor))
        .route("/v1/calls", get(calls::list).post(calls::place))
        .route("/v1/calls/{call_sid}", get(calls::detail))
        .route("/v1/calls/{call_sid}/answer", post(calls::answer))
        .route("/v1/calls/{call_sid}/hold", post(calls::hold))
        .route("/v1/calls/{call_sid}/resume", post(calls::resume))
        .route("/v1/calls/{call_sid}/end", post(calls::end))
        .route("/v1/calls/{call_sid}/transfer", post(calls::transfer))
        .route("/v1/calls/{call_sid}/dtmf", post(calls::dtmf))
        .route("/v1/calls/{call_sid}/recording", post(calls::recording))
        .route("/v1/calls/{call_sid}/wrapup", put(calls::wrap_up))
        .route("/v1/calls/{call_sid}/media", post(calls::media).get(calls::media_join))
        .route(
            "/v1/calls/{call_sid}/monitor",
            post(calls::monitor_start)
                .patch(calls::monitor_switch)
                .delete(calls::monitor_stop),
        )
        .route(
            "/v1/calls/{call_sid}/consult",
            post(calls::consult_start).delete(calls::consult_cancel),
        )
        .route("/v1/calls/{call_sid}/consult/{step}", post(calls::consult_step))
        .route(
            "/v1/settings",
            get(directory::settings).patch(directory::update_settings),
        )
        .route("/v1/queues/{id}", patch(directory::update_queue))
        .route("/v1/numbers", get(directory::numbers).post(providers::add_number))
        .route(
            "/v1/numbers/{id}",
            patch(providers::update_number).delete(providers::remove_number),
        )
        .route("/v1/providers", get(providers::list).post(providers::create))
        .route("/v1/providers/{id}", patch(providers::update).delete(providers::remove))
        .route("/v1/providers/{id}/check", post(providers::check))
        .route("/v1/leads", get(directory::leads))
        .route("/v1/leads/{id}", get(directory::lead))
        .route("/v1/transcripts/{call_sid}", get(directory::transcript))
        .route("/v1/agents", get(directory::agents))
        .route("/v1/agents/me", get(directory::me))
        .route("/v1/agents/me/status", put(directory::set_status))
        .route("/v1/agents/me/token", delete(admin::sign_out))
        .route("/v1/admin/businesses", post(admin::create_business))
        .route("/v1/admin/agents", get(admin::agents).post(admin::create_agent))
        .route("/v1/admin/agents/{id}/tokens", post(admin::create_token))
        .route("/v1/admin/tokens", get(admin::tokens))
        .route("/v1/admin/tokens/{id}", delete(admin::revoke_token))
        .route("/v1/events", get(events::stream))
        .route("/v1/events/cursor", get(events::cursor))
        .route("/webhooks/transcripts/{source}", post(webhooks::transcripts))
        .route("/webhooks/{kind}/{provider}", post(webhooks::provider))
        .route("/webhooks/{kind}/{provider}/stream", get(webhooks::media_stream))
        .fallback(|| async { ApiError::NotFound("route") })
}

/// `Json<T>` whose rejections are [`ApiError`]s: syntax errors are 400, data errors
/// (unknown fields, invalid E.164, wrong types) 422, both saying what was wrong.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Invalid(e.body_text())),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// `Query<T>` with [`ApiError`] rejections.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// Path parameters whose rejections (a segment that is not UTF-8, not a number) are
/// [`ApiError`]s.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// A `{call_sid}` path segment, validated.
#[derive(Debug)]
pub struct SidPath(pub CallSid);

impl<S: Send + Sync> FromRequestParts<S> for SidPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let ApiPath(raw) = ApiPath::<String>::from_request_parts(parts, state).await?;
        raw.parse()
            .map(Self)
            .map_err(|e: switchboard_core::IdError| ApiError::BadRequest(e.to_string()))
    }
}

/// The optional `Idempotency-Key` header (at most 200 characters).
#[derive(Debug)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.headers.get("idempotency-key") {
            None => Ok(Self(None)),
            Some(v) => match v.to_str() {
                Ok(k) if !k.trim().is_empty() && k.len() <= 200 => Ok(Self(Some(k.trim().to_owned()))),
                _ => Err(ApiError::BadRequest(
                    "Idempotency-Key must be 1 to 200 visible characters".into(),
                )),
            },
        }
    }
}
