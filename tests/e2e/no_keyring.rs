//! The desktop on a machine without a system keyring (no Secret Service on its session
//! bus): signing in says so and offers a session-only sign-in; with it the console works,
//! the top bar says the sign-in is for this session only, and the token is written
//! nowhere on disk. After quitting, the app asks for the token again.
//!
//! The session bus is a real `dbus-daemon` of this test's own, configured with no service
//! directories, so nothing can be activated on it: asking it for `org.freedesktop.secrets`
//! fails exactly as on a desktop where no keyring is installed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::path::Path;
use std::time::Duration;

use switchboard_e2e::{Window, app_binary, free_port};

/// Every file under `root` whose bytes contain `needle`.
fn files_containing(root: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_the_agent_signs_in_for_the_session_only() {
    tokio::time::timeout(Duration::from_secs(240), session_only())
        .await
        .expect("finished within 4 minutes");
}

async fn session_only() {
    let app = app_binary();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.db").display());
    let secrets = dir.path().join("secrets");
    let bind = format!("127.0.0.1:{}", free_port());
    let _gateway = gw::GatewayProcess::spawn_with_args(&db, dir.path(), &secrets, &bind, &["--demo"]).await;
    let token = gw::cli_token(&db, "alice");

    let bus_dir = tempfile::tempdir().unwrap();
    let (_bus, bus) = switchboard_e2e::bare_session_bus(bus_dir.path()).await;
    // Everything the app and its web view may write goes under one directory, which is
    // searched for the token at the end.
    let home = tempfile::tempdir().unwrap();
    let sub = |name: &str| {
        let p = home.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p.into_os_string()
    };
    let (data, xdg_data, xdg_cache, xdg_config) = (sub("app"), sub("data"), sub("cache"), sub("config"));
    let env = [
        ("DBUS_SESSION_BUS_ADDRESS", std::ffi::OsStr::new(&bus)),
        ("SWITCHBOARD_DESKTOP_DATA_DIR", data.as_os_str()),
        ("XDG_DATA_HOME", xdg_data.as_os_str()),
        ("XDG_CACHE_HOME", xdg_cache.as_os_str()),
        ("XDG_CONFIG_HOME", xdg_config.as_os_str()),
        ("HOME", home.path().as_os_str()),
    ];

    let window = Window::open(&app, &env).await;
    let ui = &window.ui;
    ui.el("#signin-url").await;
    ui.type_into("#signin-url", &format!("http://{bind}")).await;
    ui.type_into("#signin-token", &token).await;
    ui.click("#signin-submit").await;
    // The keyring is missing: the sign-in says so and offers the session-only way.
    let why = ui.text("#keyring-missing").await;
    assert!(why.contains("no system keyring"), "{why}");
    assert_eq!(
        ui.count("#queue").await,
        0,
        "not signed in without a place for the token"
    );
    ui.shot("no-keyring-01-offer").await;
    ui.click("#signin-session-only").await;
    ui.el("#queue").await;
    let chip = ui.text("#session-only-chip").await;
    assert_eq!(chip, "Signed in for this session only");
    // The console works: the demo's first caller reaches the queue.
    ui.until_count("#queue .queue-item", 1).await;
    ui.shot("no-keyring-02-console").await;

    let leaked = files_containing(home.path(), token.as_bytes());
    assert!(leaked.is_empty(), "the token was written to disk: {leaked:?}");
    println!("session-only sign-in works; token found in none of the app's files");

    // Quit; the next start does not know the token and asks for it again.
    window.ui.c.clone().close().await.unwrap();
    drop(window);
    let again = Window::open(&app, &env).await;
    again.ui.el("#signin-token").await;
    assert_eq!(again.ui.count("#queue").await, 0, "signed out after quitting");
    again.ui.shot("no-keyring-03-signed-out-after-restart").await;
}
