//! The API's one error type. It turns into `{"error": {"code", "message"}}` with the right
//! status, and never sends database or internal text to clients (that goes to the log).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchboard_core::CallError;
use switchboard_core::api::{ErrorBody, ErrorDetail};

use crate::store::StoreError;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed input (bad JSON syntax, bad query string, bad id).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but invalid input (unknown field, invalid E.164, unknown number).
    #[error("{0}")]
    Invalid(String),
    /// No or unknown bearer token.
    #[error("a valid bearer token is required: send Authorization: Bearer <token>")]
    Unauthorized,
    /// The token was good but has expired.
    #[error("this token has expired: sign in again with a new one")]
    TokenExpired,
    /// The token was revoked.
    #[error("this token was revoked: sign in again with a new one")]
    TokenRevoked,
    /// Not allowed for this agent.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing by that id in this business.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A webhook named a call we do not know.
    #[error("{0}")]
    UnknownCall(String),
    /// A webhook's signature failed.
    #[error("webhook signature is missing or does not match")]
    BadSignature,
    /// Not possible in the current state.
    #[error("{0}")]
    Conflict(String),
    /// The state machine forbids it.
    #[error("{0}")]
    IllegalTransition(String),
    /// The provider refused.
    #[error("{}", .0.message)]
    Provider(CallError),
    /// The request body is larger than the route takes.
    #[error("the request body is larger than this route's limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The request body did not arrive in time.
    #[error("the request body did not arrive within {0} seconds")]
    BodyTimeout(u64),
    /// The database failed; the client should retry.
    #[error("the gateway could not reach its database; retry shortly")]
    Unavailable,
    /// A bug.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::TokenExpired => (StatusCode::UNAUTHORIZED, "token_expired"),
            Self::TokenRevoked => (StatusCode::UNAUTHORIZED, "token_revoked"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::UnknownCall(_) => (StatusCode::NOT_FOUND, "unknown_call"),
            Self::BadSignature => (StatusCode::UNAUTHORIZED, "bad_signature"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::IllegalTransition(_) => (StatusCode::CONFLICT, "illegal_transition"),
            Self::Provider(_) => (StatusCode::BAD_GATEWAY, "provider_error"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.into(),
                message: self.to_string(),
            },
        };
        let mut resp = (status, Json(body)).into_response();
        if let Self::Provider(e) = &self {
            // Keep the normalised provider error machine-readable too.
            if let Ok(v) = serde_json::to_string(e) {
                if let Ok(h) = v.parse() {
                    resp.headers_mut().insert("x-switchboard-call-error", h);
                }
            }
        }
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::UnknownCall(m) => Self::UnknownCall(m),
            StoreError::IllegalTransition { action, status } => {
                Self::IllegalTransition(format!("cannot {action} a call that is {status}"))
            }
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Forbidden(m) => Self::Forbidden(m),
            StoreError::Invalid(m) => Self::Invalid(m),
            StoreError::BadReport(m) => Self::BadRequest(m),
            StoreError::Corrupt(m) => {
                tracing::error!(error = %m, "corrupt row");
                Self::Internal
            }
            StoreError::Database(e) => {
                tracing::error!(error = %e, "database error");
                Self::Unavailable
            }
            StoreError::Migrate(e) => {
                tracing::error!(error = %e, "migration error");
                Self::Unavailable
            }
        }
    }
}
