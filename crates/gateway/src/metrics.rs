//! Operational figures in Prometheus' text format, so an operator sees in production what
//! `cargo xtask bench gateway` measures on a bench.
//!
//! The figures are recorded through the `metrics` facade wherever the work happens (the
//! functions below) and rendered by `metrics-exporter-prometheus`. Nothing is recorded
//! until [`install`] runs, which `serve` does only when `--metrics-bind` is given; then
//! [`serve`] answers `GET /metrics` on that address, unauthenticated. The public API
//! address never serves them: put the metrics address on a private interface.
//!
//! | name | type | what |
//! |---|---|---|
//! | `switchboard_webhook_seconds{kind,status}` | histogram | a provider webhook, received to answered |
//! | `switchboard_ingest_commit_seconds` | histogram | one provider report stored and committed |
//! | `switchboard_events_total` | counter | events committed and forwarded to streams (rate = events/s) |
//! | `switchboard_stream_clients` | gauge | event-stream WebSockets open on this replica |
//! | `switchboard_event_delivery_lag_seconds` | histogram | an event's commit to its send to a client |
//! | `switchboard_provider_errors_total{kind}` | counter | provider refusals and failures, by kind |

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const WEBHOOK: &str = "switchboard_webhook_seconds";
const INGEST_COMMIT: &str = "switchboard_ingest_commit_seconds";
const EVENTS: &str = "switchboard_events_total";
const STREAM_CLIENTS: &str = "switchboard_stream_clients";
const DELIVERY_LAG: &str = "switchboard_event_delivery_lag_seconds";
const PROVIDER_ERRORS: &str = "switchboard_provider_errors_total";

/// Histogram bounds (seconds): from a fast commit (1 ms) to a slow carrier (10 s).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Install this process's recorder (the first call does; later ones return the same
/// handle) and describe the figures.
pub fn install() -> Result<&'static PrometheusHandle, String> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|e| e.to_string())?;
            metrics::describe_histogram!(
                WEBHOOK,
                metrics::Unit::Seconds,
                "Provider webhooks, from request to answer, by provider kind and HTTP status."
            );
            metrics::describe_histogram!(
                INGEST_COMMIT,
                metrics::Unit::Seconds,
                "Storing one provider report, committed."
            );
            metrics::describe_counter!(EVENTS, "Events committed and forwarded to event streams.");
            metrics::describe_gauge!(STREAM_CLIENTS, "Event-stream WebSockets open on this replica.");
            metrics::describe_histogram!(
                DELIVERY_LAG,
                metrics::Unit::Seconds,
                "From an event's commit to its send to a stream client."
            );
            metrics::describe_counter!(PROVIDER_ERRORS, "Provider refusals and failures, by kind.");
            Ok(handle)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A provider webhook of `kind` answered with `status` after `took`.
pub fn webhook(kind: &str, status: u16, took: Duration) {
    metrics::histogram!(WEBHOOK, "kind" => kind.to_owned(), "status" => status.to_string()).record(took);
}

/// One provider report committed after `took`.
pub fn ingest_commit(took: Duration) {
    metrics::histogram!(INGEST_COMMIT).record(took);
}

/// `n` committed events forwarded to the streams.
pub fn events_forwarded(n: u64) {
    metrics::counter!(EVENTS).increment(n);
}

/// An event committed at `at_ms` (ms since epoch) was just sent to a client.
pub fn delivered(at_ms: i64, now_ms: i64) {
    let lag = Duration::from_millis(u64::try_from(now_ms.saturating_sub(at_ms)).unwrap_or(0));
    metrics::histogram!(DELIVERY_LAG).record(lag);
}

/// A provider refused or failed an action: counted by how (the normalised call error's
/// code, lower case, such as `busy` or `invalid_number`; or `config`, `unsupported`,
/// `invalid`).
pub fn provider_error(e: &switchboard_telephony::ProviderError) {
    use switchboard_telephony::ProviderError as E;
    let kind = match e {
        E::Call(c) => serde_json::to_value(c.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_ascii_lowercase))
            .unwrap_or_else(|| "call".into()),
        E::Config(_) => "config".into(),
        E::Unsupported(_) => "unsupported".into(),
        E::Invalid(_) => "invalid".into(),
    };
    metrics::counter!(PROVIDER_ERRORS, "kind" => kind).increment(1);
}

/// Counts an open event stream while it lives.
#[derive(Debug)]
pub struct StreamClient(());

impl StreamClient {
    /// One more client.
    pub fn open() -> Self {
        metrics::gauge!(STREAM_CLIENTS).increment(1.0);
        Self(())
    }
}

impl Drop for StreamClient {
    fn drop(&mut self) {
        metrics::gauge!(STREAM_CLIENTS).decrement(1.0);
    }
}

/// The metrics address's only route: `GET /metrics`.
pub fn router(handle: &'static PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || async move {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                handle.render(),
            )
                .into_response()
        }),
    )
}

/// Serve [`router`] on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, handle: &'static PrometheusHandle) -> std::io::Result<()> {
    axum::serve(listener, router(handle)).await
}
