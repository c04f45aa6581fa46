//! The gateway carries no sound-card code: switchboard-media's device layer (cpal, and
//! ALSA under it) sits behind the `devices` feature, which only the desktop enables.
//! Checked two ways: the gateway's dependency graph holds no cpal or alsa-sys (while the
//! desktop's does, so the probe is known to see them), and the gateway binary links no
//! libasound.

#![allow(clippy::unwrap_used)]

use std::process::Command;

/// The normal (non-dev) dependencies of `package`, one crate name per line.
fn dependency_names(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[test]
fn the_gateway_depends_on_no_audio_device_crate() {
    let sound = ["cpal", "alsa", "alsa-sys"];
    let desktop = dependency_names("switchboard-agent");
    assert!(
        desktop.iter().any(|n| n == "cpal"),
        "the probe sees cpal where it is used (the desktop's agent crate)"
    );
    let gateway = dependency_names("switchboard-gateway");
    assert!(
        gateway.iter().any(|n| n == "switchboard-media"),
        "the gateway uses the media crate"
    );
    let found: Vec<_> = gateway.iter().filter(|n| sound.contains(&n.as_str())).collect();
    assert!(found.is_empty(), "the gateway pulls in sound-card crates: {found:?}");
}

#[test]
fn the_gateway_binary_links_no_libasound() {
    let bin = env!("CARGO_BIN_EXE_switchboard-gateway");
    let out = Command::new("ldd").arg(bin).output().unwrap();
    let libs = String::from_utf8_lossy(&out.stdout);
    assert!(libs.contains("libc.so"), "ldd listed the binary's libraries:\n{libs}");
    assert!(!libs.contains("libasound"), "the gateway links ALSA:\n{libs}");
}
