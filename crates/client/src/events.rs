//! The resumable event stream: a background task keeps a WebSocket open, reconnects with
//! backoff, and always asks for `since=<last delivered id>`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use switchboard_core::StreamEvent;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// What the stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// Connected (again); events follow from where we left off.
    Connected,
    /// One event, never one already delivered.
    Event(StreamEvent),
    /// The connection dropped; the stream retries after `retry_in`.
    Disconnected {
        /// Why.
        reason: String,
        /// When the next attempt is.
        retry_in: Duration,
    },
    /// The gateway refused the token; the stream has stopped.
    Unauthorized {
        /// The gateway's error code: `token_expired`, `token_revoked` or `unauthorized`.
        code: String,
    },
}

/// A running event stream. Dropping it stops the background task.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<StreamItem>,
    /// The last event handed to the consumer: the cursor to persist. The task keeps its
    /// own (further ahead) cursor for reconnecting.
    delivered: i64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventStream {
    pub(crate) fn start(base: url::Url, token: String, since: i64) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let task = tokio::spawn(run(base, token, Arc::new(AtomicI64::new(since)), tx));
        Self {
            rx,
            delivered: since,
            task,
        }
    }

    /// The next item; `None` once the stream has stopped.
    pub async fn next(&mut self) -> Option<StreamItem> {
        let item = self.rx.recv().await;
        if let Some(StreamItem::Event(ev)) = &item {
            self.delivered = ev.id;
        }
        item
    }

    /// The id of the last event returned by [`Self::next`]: where a restarted client
    /// resumes without losing what was received but not yet handled.
    pub fn last_event_id(&self) -> i64 {
        self.delivered
    }
}

fn ws_url(base: &url::Url, since: i64) -> String {
    let mut u = base.clone();
    let scheme = if u.scheme() == "https" { "wss" } else { "ws" };
    // http(s) -> ws(s) always succeeds for these schemes.
    let _ = u.set_scheme(scheme);
    let mut u = u.join("v1/events").unwrap_or(u);
    u.set_query(Some(&format!("since={since}")));
    u.to_string()
}

async fn run(base: url::Url, token: String, last: Arc<AtomicI64>, tx: mpsc::Sender<StreamItem>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let since = last.load(Ordering::SeqCst);
        let reason = match connect(&base, &token, since).await {
            Ok(mut ws) => {
                backoff = Duration::from_millis(200);
                if tx.send(StreamItem::Connected).await.is_err() {
                    return;
                }
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(text))) => {
                            match serde_json::from_str::<StreamEvent>(&text) {
                                Ok(ev) if ev.id > last.load(Ordering::SeqCst) => {
                                    last.store(ev.id, Ordering::SeqCst);
                                    if tx.send(StreamItem::Event(ev)).await.is_err() {
                                        return;
                                    }
                                }
                                Ok(_) => {} // Already delivered before a reconnect.
                                Err(e) => tracing::warn!(error = %e, "unreadable event; skipped"),
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => {
                            break "the gateway closed the stream".to_owned();
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break e.to_string(),
                    }
                }
            }
            Err(ConnectError::Unauthorized(code)) => {
                let _ = tx.send(StreamItem::Unauthorized { code }).await;
                return;
            }
            Err(ConnectError::Other(e)) => e,
        };
        if tx
            .send(StreamItem::Disconnected {
                reason,
                retry_in: backoff,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

enum ConnectError {
    Unauthorized(String),
    Other(String),
}

/// The event stream's WebSocket settings. Events are ~1 KiB each, and tungstenite zeroes
/// its whole read buffer (128 KiB by default) before every read: a desktop reading one
/// event at a time paid that per event. Larger frames (a backlog page) still arrive whole.
pub fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(8 * 1024)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(base: &url::Url, token: &str, since: i64) -> Result<Ws, ConnectError> {
    let mut req = ws_url(base, since)
        .into_client_request()
        .map_err(|e| ConnectError::Other(e.to_string()))?;
    let auth = format!("Bearer {token}")
        .parse()
        .map_err(|_| ConnectError::Other("token is not a valid header value".into()))?;
    req.headers_mut().insert("authorization", auth);
    let connecting = tokio_tungstenite::connect_async_with_config(req, Some(ws_config()), false);
    match tokio::time::timeout(Duration::from_secs(10), connecting).await {
        Err(_) => Err(ConnectError::Other("timed out connecting".into())),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) if resp.status() == 401 => {
            let code = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<switchboard_core::api::ErrorBody>(b).ok())
                .map_or_else(|| "unauthorized".to_owned(), |e| e.error.code);
            Err(ConnectError::Unauthorized(code))
        }
        Ok(Err(e)) => Err(ConnectError::Other(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_url_keeps_path_prefix_and_scheme() {
        let u = url::Url::parse("https://gw.example/api/").expect("url");
        assert_eq!(ws_url(&u, 42), "wss://gw.example/api/v1/events?since=42");
        let u = url::Url::parse("http://127.0.0.1:8080/").expect("url");
        assert_eq!(ws_url(&u, 0), "ws://127.0.0.1:8080/v1/events?since=0");
    }
}
