//! The shell's own signals, checked from the desktop's side of the screen:
//!
//! - an incoming call raises a desktop notification: a real notification daemon (GNOME's
//!   notification-daemon) runs on the session bus and `dbus-monitor` records the Notify
//!   call, which must name the caller's lead;
//! - the tray icon shows the agent's status: a real XEmbed system tray (trayer) runs under
//!   Xvfb (libayatana-appindicator falls back to an XEmbed icon when no StatusNotifier host
//!   runs), and the pixels of the tray must turn the status colour when the status changes.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::process::Stdio;

use switchboard_core::{AgentStatus, Direction};
use switchboard_e2e::{app_binary, free_port};
use tokio::process::{Child, Command};

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (cargo xtask setup installs it)"))
}

/// The tray panel's geometry (w, h, x, y) from the X window tree.
async fn tray_panel(display: &str) -> Option<(u32, u32, u32, u32)> {
    let out = Command::new("xwininfo")
        .args(["-root", "-tree"])
        .env("DISPLAY", display)
        .output()
        .await
        .ok()?;
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = tree.lines().find(|l| l.contains("(\"panel\" \"trayer\")"))?;
    // ... ("panel" "trayer")  51x28+1389+872  +1389+872
    let geo = line
        .split_whitespace()
        .find(|w| w.contains('x') && w.contains('+') && !w.starts_with('+'))?;
    let (size, pos) = geo.split_once('+')?;
    let (w, h) = size.split_once('x')?;
    let (x, y) = pos.split_once('+')?;
    Some((w.parse().ok()?, h.parse().ok()?, x.parse().ok()?, y.parse().ok()?))
}

/// How many pixels of the screen rectangle are within 24 of `rgb` on every channel.
async fn pixels_like(display: &str, (w, h, x, y): (u32, u32, u32, u32), rgb: [u8; 3]) -> usize {
    let out = Command::new("import")
        .args([
            "-window",
            "root",
            "-crop",
            &format!("{w}x{h}+{x}+{y}"),
            "-depth",
            "8",
            "rgb:-",
        ])
        .env("DISPLAY", display)
        .output()
        .await
        .unwrap();
    out.stdout
        .chunks_exact(3)
        .filter(|p| p.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 24))
        .count()
}

const GREEN: [u8; 3] = [0x1f, 0x8a, 0x4c];
const GREY: [u8; 3] = [0x7a, 0x84, 0x94];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tray_shows_status_and_incoming_calls_notify() {
    switchboard_e2e::require_keyring();
    let app = app_binary();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.db").display());
    let secrets = dir.path().join("secrets");
    let bind = format!("127.0.0.1:{}", free_port());
    let _gateway = gw::GatewayProcess::spawn_with_args(&db, dir.path(), &secrets, &bind, &["--demo"]).await;
    let token = gw::cli_token(&db, "alice");
    let client = switchboard_client::Client::new(&format!("http://{bind}"), &token).unwrap();

    let (_x, display) = switchboard_e2e::xvfb().await;
    let monitor_log = dir.path().join("notify.log");
    let _monitor = spawn(
        Command::new("dbus-monitor")
            .args(["--session", "interface='org.freedesktop.Notifications',member='Notify'"])
            .stdout(std::fs::File::create(&monitor_log).unwrap())
            .stderr(Stdio::null()),
    );
    let _daemon = spawn(
        Command::new("/usr/lib/notification-daemon/notification-daemon")
            .arg("--replace")
            .env("DISPLAY", &display)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    // The app's window is 1360x860 at the origin of a 1440x900 screen: the tray goes in the
    // free strip at the bottom right, so no window covers it.
    let _tray = spawn(
        Command::new("trayer")
            .args([
                "--edge",
                "bottom",
                "--align",
                "right",
                "--widthtype",
                "request",
                "--height",
                "28",
            ])
            .args(["--transparent", "false", "--tint", "0x202830", "--SetDockType", "true"])
            .env("DISPLAY", &display)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    gw::eventually(20, "the tray panel", || tray_panel(&display)).await;

    let app_data = tempfile::tempdir().unwrap();
    let _app = spawn(
        Command::new(&app)
            .env("DISPLAY", &display)
            .env("NO_AT_BRIDGE", "1")
            .env("SWITCHBOARD_DESKTOP_DATA_DIR", app_data.path())
            .env("SWITCHBOARD_SIGN_IN_URL", format!("http://{bind}"))
            .env("SWITCHBOARD_SIGN_IN_TOKEN", &token)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );

    // The demo's callers ring within seconds. The app notifies for calls that start ringing
    // once it is connected (which call that is depends on how long the app took to start),
    // so the notification is read first and then checked against the gateway's records: it
    // must name a call the gateway has, by its lead's name and the caller's number.
    let body = gw::eventually(45, "the incoming-call notification", || async {
        let log = std::fs::read_to_string(&monitor_log).ok()?;
        notification_body(&log)
    })
    .await;
    let (name, from) = body
        .strip_suffix(')')
        .and_then(|b| b.split_once(" ("))
        .unwrap_or_else(|| panic!("notification body {body:?} is not \"Name (+number)\""));
    let leads = client.leads(Some(from)).await.unwrap().leads;
    assert!(
        leads.iter().any(|l| l.name == name && l.phone == from),
        "the notification names {name} ({from}), but the gateway's lead for {from} is {leads:?}"
    );
    let calls = client.calls(&Default::default()).await.unwrap().calls;
    assert!(
        calls
            .iter()
            .any(|c| c.from == from && c.direction == Direction::Inbound),
        "the notification names a caller {from} the gateway has no inbound call from"
    );

    // The tray icon follows the agent's status, whoever changes it. The panel grows to the
    // left as icons dock, so its geometry is read again on every look.
    let look = |rgb: [u8; 3]| {
        let display = display.clone();
        async move {
            let rect = tray_panel(&display).await?;
            Some(pixels_like(&display, rect, rgb).await)
        }
    };
    client.set_status(AgentStatus::Available).await.unwrap();
    let green = gw::eventually(20, "a green (available) tray icon", || async {
        look(GREEN).await.filter(|&n| n > 100)
    })
    .await;
    client.set_status(AgentStatus::Away).await.unwrap();
    let grey = gw::eventually(20, "a grey (away) tray icon", || async {
        let (grey, green) = (look(GREY).await?, look(GREEN).await?);
        (grey > 100 && green == 0).then_some(grey)
    })
    .await;
    println!("tray: {green} green pixels when available, {grey} grey pixels and no green when away");
}

/// The body of the first "Incoming call" notification in a `dbus-monitor` log: the string
/// argument after the summary (app name, replaces id, icon, summary, body, ...).
fn notification_body(log: &str) -> Option<String> {
    let mut lines = log.lines().skip_while(|l| l.trim() != "string \"Incoming call\"");
    lines.next()?;
    let body = lines.next()?.trim().strip_prefix("string \"")?.strip_suffix('"')?;
    Some(body.to_owned())
}
