//! Provider webhooks. Verified, normalised, stored in one transaction, and acknowledged
//! only after the commit: a 2xx means it is on disk. Unknown call: 404 with a clear body
//! and an audit event. Database failure: 503, so the sender retries.

use axum::body::Bytes;
use axum::extract::State;

use super::ApiPath;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use switchboard_core::api::TranscriptWebhook;
use switchboard_telephony::{WebhookError, WebhookRequest, signature};

use crate::AppState;
use crate::error::ApiError;

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned())))
        .collect()
}

/// `POST /webhooks/{kind}/{provider}`: a provider's own webhook format.
pub async fn provider(
    State(st): State<AppState>,
    ApiPath((kind, name)): ApiPath<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let handle = st
        .providers
        .by_name(&name)
        .filter(|h| h.row.kind == kind)
        .ok_or(ApiError::NotFound("provider"))?;
    let url = format!("{}{}", st.public_url.trim_end_matches('/'), uri);
    let headers = header_list(&headers);
    let events = handle
        .provider
        .parse_webhook(&WebhookRequest {
            url: &url,
            headers: &headers,
            body: &body,
        })
        .map_err(|e| match e {
            WebhookError::BadSignature => ApiError::BadSignature,
            WebhookError::Malformed(m) => ApiError::Invalid(m),
        })?;
    let mut sid = None;
    for ev in &events {
        sid = crate::ingest::ingest(&*st.store, &handle.row, ev).await?.or(sid);
    }
    let reply = handle.provider.webhook_response(sid.as_ref());
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, reply.content_type)], reply.body).into_response())
}

/// Most turns one transcript webhook may carry.
const MAX_TURNS: usize = 1000;

/// `POST /webhooks/transcripts/{source}`: transcript turns by `call_sid`, from any source
/// configured as a provider with a `webhook_secret`, signed like the simulator's webhooks.
pub async fn transcripts(
    State(st): State<AppState>,
    ApiPath(source): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let handle = st
        .providers
        .by_name(&source)
        .ok_or(ApiError::NotFound("transcript source"))?;
    let secret = handle.webhook_secret.as_ref().ok_or(ApiError::BadSignature)?.expose();
    let sig = headers.get(signature::HEADER).and_then(|v| v.to_str().ok());
    if !signature::verify(secret.as_bytes(), &body, sig) {
        return Err(ApiError::BadSignature);
    }
    let hook: TranscriptWebhook = serde_json::from_slice(&body).map_err(|e| ApiError::Invalid(e.to_string()))?;
    if hook.turns.is_empty() || hook.turns.len() > MAX_TURNS {
        return Err(ApiError::Invalid(format!("turns must hold 1 to {MAX_TURNS} turns")));
    }
    let now = crate::now_ms();
    for turn in &hook.turns {
        crate::ingest::check_turn(turn, now).map_err(ApiError::Invalid)?;
    }
    let stored = st
        .store
        .ingest_transcript(&handle.row, &hook.call_sid, &hook.turns)
        .await?;
    Ok(axum::Json(serde_json::json!({ "ok": true, "call_sid": hook.call_sid, "stored": stored })).into_response())
}
