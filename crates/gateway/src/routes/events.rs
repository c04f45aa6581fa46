//! `GET /v1/events?since=ID`: the WebSocket event stream. Backlog from the database first,
//! then live events from the bus. Ids are the business's own event numbers, 1, 2, 3, ...
//! with no gaps, so a client that reconnects with the last id it saw misses nothing and
//! sees nothing twice, and learns nothing about other businesses' activity.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use switchboard_core::api::EventCursor;
use switchboard_core::{AgentRole, BusinessId, StreamEvent, StreamEventKind};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::ApiQuery;
use crate::AppState;
use crate::error::ApiError;
use crate::store::{Principal, TokenCheck};

/// Query of `/v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Resume after this event id; without it the stream starts at the current end.
    since: Option<i64>,
}

const PAGE: u32 = 500;

pub async fn stream(
    State(st): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<EventsQuery>,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|e| {
        ApiError::BadRequest(format!(
            "/v1/events is a WebSocket: connect with an HTTP/1.1 upgrade ({})",
            e.body_text()
        ))
    })?;
    if q.since.is_some_and(|s| s < 0) {
        return Err(ApiError::BadRequest("since must be 0 or a positive event id".into()));
    }
    let since = match q.since {
        Some(s) => s,
        None => st.store.last_event_id(who.business_id).await?,
    };
    let token_hash = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(|t| crate::auth::hash_token(t.trim()))
        .unwrap_or_default();
    let view = View {
        role: who.role,
        announce_listening: st.store.settings(who.business_id).await?.announce_listening,
    };
    Ok(ws
        .read_buffer_size(CLIENT_READ_BUFFER)
        .on_upgrade(move |socket| session(st, who.business_id, token_hash, since, view, socket)))
}

/// The read buffer of a stream's socket, bytes. Clients only send pongs and a close, and
/// tungstenite zeroes its whole read buffer (128 KiB by default) on every read attempt:
/// with a session polling its socket once per event it sends, that memset was 41 % of a
/// 1,000-client fan-out's CPU, and the default cost 128 KiB of memory per client.
const CLIENT_READ_BUFFER: usize = 4 * 1024;

/// What this client may see (see [`crate::policy::redact_event`]).
#[derive(Debug, Clone, Copy)]
struct View {
    role: AgentRole,
    announce_listening: bool,
}

impl View {
    /// The text to send for `ev` (`json` is its stored form), following settings changes.
    fn text(&mut self, ev: &StreamEvent, json: &Utf8Bytes) -> Option<Utf8Bytes> {
        if ev.kind == StreamEventKind::SettingsChanged {
            if let Some(a) = ev
                .data
                .pointer("/settings/announce_listening")
                .and_then(|v| v.as_bool())
            {
                self.announce_listening = a;
            }
        }
        match crate::policy::redact_event(self.role, self.announce_listening, ev) {
            Some(redacted) => serde_json::to_string(&redacted).ok().map(Utf8Bytes::from),
            None => Some(json.clone()),
        }
    }
}

/// Most live events written before one flush: a client that fell behind gets them in a
/// few large writes instead of one system call each, and still sees the first quickly.
const BURST: usize = 64;

async fn session(
    st: AppState,
    business: BusinessId,
    token_hash: String,
    since: i64,
    mut view: View,
    socket: WebSocket,
) {
    let _counted = crate::metrics::StreamClient::open();
    let (mut tx, mut rx) = socket.split();
    // Subscribe before reading the backlog so nothing falls between the two.
    let mut live = st.bus.subscribe();
    let mut last = since;
    if catch_up(&st, business, &mut last, &mut view, &mut tx).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            msg = live.recv() => {
                let mut msg = msg;
                let mut written = 0;
                // Write what is already waiting, then flush once.
                loop {
                    match msg {
                        Ok(ev) if ev.business_id == business && ev.event.id > last => {
                            let Some(text) = view.text(&ev.event, &ev.json) else { return };
                            if tx.feed(Message::Text(text)).await.is_err() { return; }
                            crate::metrics::delivered(ev.event.at, crate::now_ms());
                            last = ev.event.id;
                            written += 1;
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => {
                            if catch_up(&st, business, &mut last, &mut view, &mut tx).await.is_err() { return; }
                        }
                        Err(RecvError::Closed) => return,
                    }
                    if written >= BURST {
                        break;
                    }
                    msg = match live.try_recv() {
                        Ok(ev) => Ok(ev),
                        Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Closed) => Err(RecvError::Closed),
                    };
                }
                if tx.flush().await.is_err() { return; }
            },
            incoming = rx.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                // A token revoked or expired while the stream is open ends the stream; the
                // client's reconnect then learns why (401 with the reason).
                if let Ok(check) = st.store.authenticate(&token_hash, crate::now_ms()).await {
                    if !matches!(check, TokenCheck::Valid(_)) {
                        let _ = tx.send(Message::Close(None)).await;
                        return;
                    }
                }
                if tx.send(Message::Ping(Vec::new().into())).await.is_err() { return; }
            }
        }
    }
}

async fn catch_up<S>(st: &AppState, business: BusinessId, last: &mut i64, view: &mut View, tx: &mut S) -> Result<(), ()>
where
    S: futures_util::Sink<Message> + Unpin,
{
    loop {
        let page = match st.store.events_since(business, *last, PAGE).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "event backlog unavailable; closing stream so the client retries");
                let _ = tx.send(Message::Close(None)).await;
                return Err(());
            }
        };
        let full = page.len() as u32 == PAGE;
        for ev in page {
            let json = Utf8Bytes::from(serde_json::to_string(&ev).map_err(|_| ())?);
            let text = view.text(&ev, &json).ok_or(())?;
            tx.feed(Message::Text(text)).await.map_err(|_| ())?;
            *last = ev.id;
        }
        // A page is one flush.
        tx.flush().await.map_err(|_| ())?;
        if !full {
            return Ok(());
        }
    }
}

/// `GET /v1/events/cursor`: the business's newest event id. A client reads it *before*
/// taking a snapshot, then streams from it: changes made during the snapshot are replayed,
/// none lost.
pub async fn cursor(State(st): State<AppState>, who: Principal) -> Result<axum::Json<EventCursor>, ApiError> {
    Ok(axum::Json(EventCursor {
        cursor: st.store.last_event_id(who.business_id).await?,
    }))
}
