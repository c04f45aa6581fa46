//! Start-up timing for the desktop benchmark: with `SWITCHBOARD_STARTUP_PROBE` set, the
//! shell's and the UI's milestones ("queue" = the queue rendered from the cache) are printed
//! as milliseconds since the process started; the UI's carry the page's own clock. Off, it
//! costs one environment lookup.
//!
//! "Started" is the launcher's clock when it gives one: `SWITCHBOARD_STARTUP_PROBE=<unix
//! ms>` taken just before it spawned us, so loading the binary and its libraries before
//! `main` counts too. With any other value it is the moment `main` began.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

const VAR: &str = "SWITCHBOARD_STARTUP_PROBE";

/// When the process started, as wall-clock milliseconds: the page's own timestamps are
/// wall-clock (`Date.now()`), so every milestone is measured on that one clock.
static START: OnceLock<f64> = OnceLock::new();

/// Call first thing in `main`.
pub fn start() {
    START.get_or_init(|| origin(std::env::var(VAR).ok().as_deref(), unix_ms()));
}

/// The launcher's spawn time when `value` is one (a plausible Unix time in ms, not after
/// `now`), else `now`.
fn origin(value: Option<&str>, now: f64) -> f64 {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        // Under 1e12 ms is before 2001: a flag such as "1", not a time.
        .filter(|&at| at >= 1e12 && at <= now)
        .unwrap_or(now)
}

/// Now, as wall-clock milliseconds since the Unix epoch (also the prerender's clock).
pub(crate) fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Print a milestone reached now, once per label, if probing is on.
pub fn mark(label: &str) {
    record(label, unix_ms());
}

/// Print a milestone the page reached at `unix_ms` (its wall clock), once per label: the
/// time its message took to get here is not part of it.
pub fn mark_at(label: &str, unix_ms: f64) {
    record(label, unix_ms);
}

#[allow(clippy::print_stdout)]
fn record(label: &str, at: f64) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if std::env::var_os(VAR).is_none() {
        return;
    }
    let Ok(mut seen) = SEEN.lock() else { return };
    if seen.iter().any(|s| s == label) {
        return;
    }
    seen.push(label.to_owned());
    let Some(started) = START.get() else {
        return;
    };
    let ms = (at - started).max(0.0).round() as u128;
    println!("startup-probe {label} {ms}");
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn the_launchers_spawn_time_is_the_origin_and_a_bare_flag_is_mains_start() {
        let now = 1_780_000_000_000.0;
        assert_eq!(origin(Some("1779999999950.5"), now), 1_779_999_999_950.5);
        assert_eq!(origin(Some("1"), now), now);
        assert_eq!(origin(None, now), now);
        assert_eq!(origin(Some("soon"), now), now);
        // A clock that says the spawn came after main began is not believed.
        assert_eq!(origin(Some("1780000000100"), now), now);
    }
}
