//! Start-up timing for the desktop benchmark: with `SWITCHBOARD_STARTUP_PROBE=1`, the
//! shell's and the UI's milestones ("queue" = the queue rendered from the cache) are printed
//! as milliseconds since the process started; the UI's carry the page's own clock. Off, it
//! costs one environment lookup.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// When the process started, on the monotonic clock and as wall-clock milliseconds (the
/// page's own timestamps are wall-clock: `Date.now()`).
static START: OnceLock<(Instant, f64)> = OnceLock::new();

/// Call first thing in `main`.
pub fn start() {
    START.get_or_init(|| (Instant::now(), unix_ms()));
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Print a milestone reached now, once per label, if probing is on.
pub fn mark(label: &str) {
    record(label, None);
}

/// Print a milestone the page reached at `unix_ms` (its wall clock), once per label: the
/// time its message took to get here is not part of it.
pub fn mark_at(label: &str, unix_ms: f64) {
    record(label, Some(unix_ms));
}

#[allow(clippy::print_stdout)]
fn record(label: &str, at: Option<f64>) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if std::env::var_os("SWITCHBOARD_STARTUP_PROBE").is_none() {
        return;
    }
    let Ok(mut seen) = SEEN.lock() else { return };
    if seen.iter().any(|s| s == label) {
        return;
    }
    seen.push(label.to_owned());
    let Some((started, started_ms)) = START.get() else {
        return;
    };
    let ms = match at {
        Some(at) => (at - started_ms).max(0.0).round() as u128,
        None => started.elapsed().as_millis(),
    };
    println!("startup-probe {label} {ms}");
}
