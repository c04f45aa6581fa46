//! The HTTP edge: what the gateway does before a handler sees a request, so that a slow,
//! lying or greedy client costs a bounded amount and every error is the one JSON shape.
//!
//! - [`serve`] accepts connections itself (hyper) rather than through `axum::serve`, to cap
//!   connections in total and per peer address and to time out slow request headers.
//! - [`bounded_body`] refuses a declared `Content-Length` over the route's limit at once
//!   (413, before reading a byte), reads every other body with the same limit, and gives
//!   the whole body a deadline (408), so a trickling client cannot hold a handler.
//! - [`json_errors`] is the safety net: any 4xx/5xx that is not already our JSON error (the
//!   HTTP layer's own 405, a rejection we did not map, a panic) is rewritten into it.
//!
//! The limits are in [`Limits`]; the README lists them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt, StreamExt};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use switchboard_core::api::{ErrorBody, ErrorDetail};
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// Body size limit for provider webhooks (carriers send forms and JSON of a few KiB;
/// transcripts of a long call are larger).
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;
/// Body size limit for the API (the largest request is an SDP offer, a few KiB).
pub const API_BODY_LIMIT: usize = 64 * 1024;

/// The edge's limits. Every field has a flag on `serve` (see `config`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's headers must arrive within this.
    pub header_timeout: Duration,
    /// A request's body must arrive within this.
    pub body_timeout: Duration,
    /// Open connections from one IP address. Behind a load balancer every client shares its
    /// address: raise this there, the balancer does the per-client limiting.
    pub max_connections_per_peer: usize,
    /// Open connections in total.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            max_connections_per_peer: 256,
            max_connections: 10_000,
        }
    }
}

/// The body limit of a path.
pub fn body_limit(path: &str) -> usize {
    if path.starts_with("/webhooks/") {
        WEBHOOK_BODY_LIMIT
    } else {
        API_BODY_LIMIT
    }
}

/// Middleware: bounded, timed request bodies (see the module docs).
pub async fn bounded_body(timeout: Duration, req: Request, next: Next) -> Response {
    let limit = body_limit(req.uri().path());
    if let Some(declared) = req.headers().get(header::CONTENT_LENGTH) {
        match declared.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(n) if n > limit as u64 => return ApiError::PayloadTooLarge(limit).into_response(),
            Some(_) => {}
            None => return ApiError::BadRequest("Content-Length is not a number".into()).into_response(),
        }
    }
    let (parts, body) = req.into_parts();
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
            if buf.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    };
    match tokio::time::timeout(timeout, read).await {
        Err(_) => ApiError::BodyTimeout(timeout.as_secs()).into_response(),
        Ok(Err(e)) => e.into_response(),
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
    }
}

/// Middleware: every error response is `{"error": {"code", "message"}}`, and a panic in
/// a handler is a 500 in that shape rather than a dropped connection.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = match std::panic::AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::error!("a request handler panicked");
            return ApiError::Internal.into_response();
        }
    };
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // Keep what the HTTP layer said (it is short and ours, never a database's text).
    let said = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&said).trim().to_owned();
    let message = match (status, said.is_empty()) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => {
            let allow = parts
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            format!("this path does not take that method; it takes: {allow}")
        }
        (_, false) => said,
        (_, true) => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = ErrorBody {
        error: ErrorDetail {
            code: code_for(status).into(),
            message,
        },
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(json))
}

/// The error code for a status the HTTP layer produced on its own.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_request",
        429 => "too_many_requests",
        500..=599 => "internal",
        _ => "bad_request",
    }
}

/// Open connections per peer address, and in total.
#[derive(Debug, Default)]
struct Conns {
    per_peer: HashMap<IpAddr, usize>,
    total: usize,
}

/// One admitted connection; leaving gives its place back.
#[derive(Debug)]
struct Admitted {
    conns: Arc<Mutex<Conns>>,
    peer: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut c) = self.conns.lock() {
            c.total = c.total.saturating_sub(1);
            if let Some(n) = c.per_peer.get_mut(&self.peer) {
                *n -= 1;
                if *n == 0 {
                    c.per_peer.remove(&self.peer);
                }
            }
        }
    }
}

fn admit(conns: &Arc<Mutex<Conns>>, peer: IpAddr, limits: &Limits) -> Option<Admitted> {
    let mut c = conns.lock().ok()?;
    let mine = c.per_peer.get(&peer).copied().unwrap_or(0);
    if mine >= limits.max_connections_per_peer || c.total >= limits.max_connections {
        return None;
    }
    c.total += 1;
    *c.per_peer.entry(peer).or_insert(0) += 1;
    Some(Admitted {
        conns: conns.clone(),
        peer,
    })
}

/// What a connection over the limits is told before it is closed.
async fn refuse(mut stream: tokio::net::TcpStream, peer: SocketAddr) {
    tracing::warn!(%peer, "connection refused: too many open connections");
    let body = serde_json::to_string(&ErrorBody {
        error: ErrorDetail {
            code: "too_many_connections".into(),
            message: "too many open connections from this address; close some and retry".into(),
        },
    })
    .unwrap_or_default();
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(reply.as_bytes())).await;
}

/// Serve `router` on `listener` until `shutdown` resolves, within `limits`. Connections in
/// progress get 10 seconds to finish after that.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let conns = Arc::new(Mutex::new(Conns::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = admit(&conns, peer.ip(), &limits) else {
            tokio::spawn(refuse(stream, peer));
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Handlers that check who is calling (a PBX webhook's allow-list) read the peer.
        let service = hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
            router.clone(),
            move |mut req: axum::http::Request<_>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _admitted = admitted;
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}
