//! # switchboard-gateway
//!
//! One API for calls whatever carries them. Providers report through webhooks or in-process
//! sinks; every report takes the same path:
//!
//! ```text
//! provider -> telephony::parse_webhook (verify, normalise) -> ingest -> store (one transaction:
//! correlate ids, merge via core's state machine, call_records + call_events) -> commit ->
//! bus (in-process; LISTEN/NOTIFY across replicas) -> WebSocket /v1/events -> desktops
//! ```
//!
//! Agent actions go the other way: REST -> [`actions`] (authorise, state machine, claim) ->
//! provider API; the provider's own event then confirms the change along the path above.
//!
//! Start reading at [`app`] (the router), then [`ingest`] and [`store::sql`].

pub mod actions;
pub mod auth;
pub mod bus;
pub mod config;
pub mod demo;
pub mod error;
pub mod floor;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod onboarding;
pub mod openapi;
pub mod policy;
pub mod providers;
pub mod routes;
pub mod secrets;
pub mod store;
pub mod supervision;

use std::sync::Arc;

use axum::Router;
use switchboard_core::CallSid;

pub use bus::Bus;
pub use providers::Providers;
pub use store::Store;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Realtime fan-out.
    pub bus: Bus,
    /// Running providers.
    pub providers: Arc<Providers>,
    /// Base URL providers call us at (webhook signatures may cover it).
    pub public_url: String,
    /// Floors computed for supervisors' boards, shared between them.
    pub floors: Arc<floor::FloorCache>,
}

/// The whole HTTP API, with the edge's body limits and its JSON error safety net.
pub fn app(state: AppState, limits: http::Limits) -> Router {
    let body_timeout = limits.body_timeout;
    routes::router()
        .with_state(state)
        .layer(axum::middleware::from_fn(move |req, next| {
            http::bounded_body(body_timeout, req, next)
        }))
        .layer(axum::middleware::from_fn(http::json_errors))
}

/// A fresh call id: now, plus 80 random bits.
pub fn new_call_sid() -> CallSid {
    let u = ulid::Ulid::new();
    CallSid::from_parts(u.timestamp_ms(), u.random())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Everything a running gateway needs, started: providers running, realtime feeder
/// running. Tests use this to serve the real router on a loopback port.
pub async fn start(store: Arc<dyn Store>, secrets: &secrets::Secrets, public_url: String) -> anyhow::Result<AppState> {
    let bus = Bus::new();
    bus.start_feeder(store.clone()).await?;
    let providers = Providers::start(store.clone(), secrets, &public_url, &bus).await?;
    Ok(AppState {
        store,
        bus,
        providers,
        public_url,
        floors: Arc::default(),
    })
}

/// Serve `state` on `listener` with the default limits until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, http::Limits::default(), shutdown).await
}

/// Serve `state` on `listener` within `limits` until `shutdown` resolves.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: http::Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    http::serve(listener, app(state, limits), limits, shutdown).await
}
