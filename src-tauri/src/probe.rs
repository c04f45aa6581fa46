//! Start-up timing for the desktop benchmark: with `SWITCHBOARD_STARTUP_PROBE=1`, the UI's
//! milestones ("queue" = the queue rendered from the cache) are printed as milliseconds
//! since the process started. Off, it costs one environment lookup.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Call first thing in `main`.
pub fn start() {
    START.get_or_init(Instant::now);
}

/// Print a milestone, once per label, if probing is on.
#[allow(clippy::print_stdout)]
pub fn mark(label: &str) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if std::env::var_os("SWITCHBOARD_STARTUP_PROBE").is_none() {
        return;
    }
    let Ok(mut seen) = SEEN.lock() else { return };
    if seen.iter().any(|s| s == label) {
        return;
    }
    seen.push(label.to_owned());
    let ms = START.get().map_or(0, |t| t.elapsed().as_millis());
    println!("startup-probe {label} {ms}");
}
