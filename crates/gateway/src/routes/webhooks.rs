//! Provider webhooks (and carriers' media WebSockets). Verified, normalised, stored in one transaction, and acknowledged
//! only after the commit: a 2xx means it is on disk. Unknown call: 404 with a clear body
//! and an audit event. Database failure: 503, so the sender retries.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocketUpgrade};
use futures_util::{SinkExt, StreamExt};

use super::ApiPath;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use switchboard_core::api::TranscriptWebhook;
use switchboard_telephony::{MediaStreamSocket, WebhookError, WebhookRequest, signature};

use crate::AppState;
use crate::error::ApiError;

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned())))
        .collect()
}

/// The running provider a webhook URL names (`/webhooks/{path}/{name}`: the path is the
/// provider's own, see `TelephonyProvider::webhook_path`).
fn named(st: &AppState, path: &str, name: &str) -> Result<std::sync::Arc<crate::providers::ProviderHandle>, ApiError> {
    st.providers
        .by_name(name)
        .filter(|h| h.provider.webhook_path() == path)
        .ok_or(ApiError::NotFound("provider"))
}

fn webhook_error(e: WebhookError) -> ApiError {
    match e {
        WebhookError::BadSignature => ApiError::BadSignature,
        WebhookError::Malformed(m) => ApiError::Invalid(m),
        WebhookError::Forbidden(m) => ApiError::Forbidden(m),
    }
}

/// `POST /webhooks/{kind}/{provider}`: a provider's own webhook format.
pub async fn provider(
    State(st): State<AppState>,
    ApiPath((kind, name)): ApiPath<(String, String)>,
    extensions: axum::http::Extensions,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let answer = handle_webhook(&st, &kind, &name, &extensions, &uri, &headers, &body).await;
    let status = match &answer {
        Ok(r) => r.status(),
        Err(e) => e.status(),
    };
    // The kind is only a label here, and only for a provider that exists (no label per
    // made-up path).
    let label = if named(&st, &kind, &name).is_ok() {
        kind.as_str()
    } else {
        "unknown"
    };
    crate::metrics::webhook(label, status.as_u16(), started.elapsed());
    answer
}

async fn handle_webhook(
    st: &AppState,
    kind: &str,
    name: &str,
    extensions: &axum::http::Extensions,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let handle = named(st, kind, name)?;
    let url = format!("{}{}", st.public_url.trim_end_matches('/'), uri);
    let headers = header_list(headers);
    let req = WebhookRequest {
        url: &url,
        headers: &headers,
        body,
        // Set by `http::serve` for every connection it accepts.
        peer: extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|p| p.0.ip()),
    };
    let events = handle.provider.parse_webhook(&req).map_err(webhook_error)?;
    let mut sid = None;
    for ev in &events {
        sid = crate::ingest::ingest(&*st.store, &handle.row, ev).await?.or(sid);
    }
    let reply = handle.provider.webhook_response(&req, sid.as_ref());
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, reply.content_type)], reply.body).into_response())
}

/// Frames in flight each way on a carrier's media WebSocket (20 ms each: a second).
const STREAM_FRAMES: usize = 50;
/// The media WebSocket's read buffer, bytes.
const MEDIA_READ_BUFFER: usize = 8 * 1024;

/// `GET /webhooks/{kind}/{provider}/stream`: a carrier's media WebSocket (Twilio Media
/// Streams). The provider checks the upgrade request (its signature covers the `ws(s)://`
/// URL the carrier asked for) and then carries the frames; this handler only moves them.
pub async fn media_stream(
    State(st): State<AppState>,
    ApiPath((kind, name)): ApiPath<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let handle = named(&st, &kind, &name)?;
    let base = st.public_url.trim_end_matches('/');
    let ws_base = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some(("http", rest)) => format!("ws://{rest}"),
        _ => base.to_owned(),
    };
    let url = format!("{ws_base}{uri}");
    let headers = header_list(&headers);
    handle
        .provider
        .verify_media_stream(&WebhookRequest {
            url: &url,
            headers: &headers,
            body: &[],
            peer: None,
        })
        .map_err(webhook_error)?;
    let ws = ws.map_err(|e| {
        ApiError::BadRequest(format!(
            "the media stream is a WebSocket: connect with an HTTP/1.1 upgrade ({})",
            e.body_text()
        ))
    })?;
    let provider = handle.provider.clone();
    Ok(ws
        .max_message_size(switchboard_telephony::twilio::stream::MAX_FRAME)
        // Frames of ~400 bytes, 50 a second: tungstenite's default 128 KiB read buffer is
        // zeroed on every read. A larger frame still arrives whole (the buffer grows).
        .read_buffer_size(MEDIA_READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let (mut sink, mut source) = socket.split();
            let (in_tx, in_rx) = tokio::sync::mpsc::channel(STREAM_FRAMES);
            let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<String>(STREAM_FRAMES);
            let reader = tokio::spawn(async move {
                while let Some(Ok(msg)) = source.next().await {
                    match msg {
                        Message::Text(t) if in_tx.send(t.to_string()).await.is_err() => return,
                        Message::Close(_) => return,
                        _ => {}
                    }
                }
            });
            let writer = tokio::spawn(async move {
                while let Some(frame) = out_rx.recv().await {
                    if sink.send(Message::Text(frame.into())).await.is_err() {
                        return;
                    }
                }
                let _ = sink.send(Message::Close(None)).await;
            });
            provider
                .media_stream(MediaStreamSocket {
                    incoming: in_rx,
                    outgoing: out_tx,
                })
                .await;
            reader.abort();
            let _ = writer.await;
        }))
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
