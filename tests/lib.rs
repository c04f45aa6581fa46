//! # switchboard-e2e
//!
//! Cross-process tests (`e2e/`) and the desktop benchmark (`benches/`): they start the
//! gateway binary, an X server and the desktop app, and drive or measure the window like
//! an agent would. This library holds what both need.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The repository root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// Cargo's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// An X server on a free display, ready for clients: Xvfb writes the display number to
/// `-displayfd` only once it accepts connections. Killed when the child is dropped.
pub async fn xvfb() -> (Child, String) {
    let mut child = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1440x900x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Xvfb is installed (cargo xtask setup)");
    let stdout = child.stdout.take().expect("piped stdout");
    let line = tokio::time::timeout(Duration::from_secs(20), BufReader::new(stdout).lines().next_line())
        .await
        .expect("Xvfb ready within 20 s")
        .expect("Xvfb output")
        .expect("a display number");
    (child, format!(":{}", line.trim()))
}

/// The debug desktop app, built now with the very command `cargo xtask test` prebuilds it
/// with (so this finds it fresh); the UI it embeds must have been built.
pub fn app_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("switchboard");
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-p", "switchboard-desktop", "--bin", "switchboard"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the desktop app failed");
    assert!(
        workspace().join("ui/dist/switchboard-ui.js").exists(),
        "build the UI first: cargo xtask ui"
    );
    bin
}
