//! Two desks for the end-to-end tests that need two people: the real gateway with the demo
//! simulator, and two instances of the real app, each in a window of its own with WAV
//! files of its own tone as microphone and speaker, signed in. The first desk uses the
//! test's keyring session; the second runs on a session bus of its own (the app is
//! single-instance per session, and a second launch would hand over to the first), so it
//! signs in for the session only. Also: how loud a tone is in a stretch of a recording.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use switchboard_e2e::{Window, app_binary, bare_session_bus, free_port};
use switchboard_media::device::write_wav;
use switchboard_media::tone::{sine, tone_presence};

use super::gw;

pub const RATE: usize = 48_000;

/// One person at their desk.
pub struct Desk {
    pub window: Window,
    /// What their speaker played (rewritten each time their app joins a call's audio).
    pub ear: PathBuf,
}

/// The gateway, its data and the two desks. Dropping it stops everything.
pub struct TwoDesks {
    pub first: Desk,
    pub second: Desk,
    /// The gateway, the bus, the apps' data (stopped and removed before `dir`).
    _keep: Vec<Box<dyn std::any::Any + Send>>,
    /// The gateway's data directory; the caller's recordings are in `recordings/`.
    pub dir: tempfile::TempDir,
}

/// A long steady tone as a WAV microphone.
fn mic(dir: &Path, name: &str, hz: f32) -> PathBuf {
    let path = dir.join(format!("{name}-mic.wav"));
    write_wav(&path, &sine(hz, 0.3, RATE * 150)).unwrap();
    path
}

/// Start the gateway and two apps signed in as `first` and `second`, whose microphones say
/// `first_hz` and `second_hz`.
pub async fn open(first: (&str, f32), second: (&str, f32)) -> TwoDesks {
    let app = app_binary();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.db").display());
    let bind = format!("127.0.0.1:{}", free_port());
    let gateway =
        gw::GatewayProcess::spawn_with_args(&db, dir.path(), &dir.path().join("secrets"), &bind, &["--demo"]).await;
    let files = tempfile::tempdir().unwrap();
    let bus_dir = tempfile::tempdir().unwrap();
    let (bus_daemon, bus) = bare_session_bus(bus_dir.path()).await;
    let mut desks = vec![];
    let mut keep: Vec<Box<dyn std::any::Any + Send>> = vec![];
    for (i, (login, hz)) in [first, second].into_iter().enumerate() {
        let (mic, ear) = (
            mic(files.path(), login, hz),
            files.path().join(format!("{login}-speaker.wav")),
        );
        let data = tempfile::tempdir().unwrap();
        let mut env = vec![
            ("SWITCHBOARD_DESKTOP_DATA_DIR", data.path().as_os_str().to_owned()),
            ("SWITCHBOARD_AUDIO_WAV_IN", mic.into_os_string()),
            ("SWITCHBOARD_AUDIO_WAV_OUT", ear.clone().into_os_string()),
        ];
        if i == 1 {
            env.push(("DBUS_SESSION_BUS_ADDRESS", bus.clone().into()));
            env.push(("XDG_DATA_HOME", data.path().as_os_str().to_owned()));
        }
        let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        let window = Window::open(&app, &env).await;
        let ui = &window.ui;
        ui.type_into("#signin-url", &format!("http://{bind}")).await;
        ui.type_into("#signin-token", &gw::cli_token(&db, login)).await;
        ui.click("#signin-submit").await;
        if i == 1 {
            // No keyring on this bus: the app offers to sign in for this session only.
            ui.click("#signin-session-only").await;
        }
        ui.el("#queue").await;
        desks.push(Desk { window, ear });
        keep.push(Box::new(data));
    }
    keep.extend([Box::new(files) as Box<dyn std::any::Any + Send>, Box::new(bus_dir)]);
    keep.push(Box::new(bus_daemon));
    keep.push(Box::new(gateway));
    let second = desks.pop().unwrap();
    let first = desks.pop().unwrap();
    TwoDesks {
        first,
        second,
        _keep: keep,
        dir,
    }
}

/// When a recording that stopped at `stopped` (seen by the test just after) began: the
/// devices write in real time, one frame per 20 ms of wall clock, so its length says.
pub fn began(samples: &[f32], stopped: Instant) -> Instant {
    stopped - Duration::from_secs_f64(samples.len() as f64 / RATE as f64)
}

/// The level of `hz` in `samples` between `from` and `to` (test clock), for a recording
/// that began at `start` (as [`began`] puts it, so a little late): a stretch starts 1.5 s
/// after `from` (the change travels) and ends 1 s before `to`. Measured block by block
/// ([`tone_presence`]): the caller's phrase sounds its 440 Hz a quarter of the time, and
/// a note shifted by a stretch of the jitter buffer must not cancel the ones before it.
pub fn level(samples: &[f32], start: Instant, hz: f32, from: Instant, to: Instant) -> f32 {
    let at = |t: Instant| (t.saturating_duration_since(start).as_secs_f64() * RATE as f64) as usize;
    let (a, b) = (
        at(from + Duration::from_millis(1_500)),
        at(to - Duration::from_secs(1)).min(samples.len()),
    );
    assert!(
        a + RATE <= b,
        "the recording covers the stretch ({a}..{b} of {})",
        samples.len()
    );
    tone_presence(&samples[a..b], hz)
}

/// Assert that `who` heard `hz` (a level over 0.02) or did not (under 0.005) in stretch
/// `name`, printing the level either way.
pub fn expect(name: &str, who: &str, heard: f32, hz: f32, audible: bool) {
    println!("{name:>10} | {who:>6} hears {hz:>5} Hz at {heard:.4}");
    if audible {
        assert!(heard > 0.02, "{name}: {who} should hear {hz} Hz ({heard:.4})");
    } else {
        assert!(heard < 0.005, "{name}: {who} should not hear {hz} Hz ({heard:.4})");
    }
}

/// The caller's recording of the demo simulator, once the call is over.
pub async fn caller_heard(dir: &Path) -> Vec<f32> {
    let recordings = dir.join("recordings");
    gw::eventually(15, "the caller's finished recording", || async {
        let file = std::fs::read_dir(&recordings).ok()?.flatten().next()?.path();
        switchboard_media::device::read_wav(&file)
            .ok()
            .filter(|s| s.len() > RATE * 20)
    })
    .await
}
