//! A 5 s network cut during a call: the gateway (and with it the simulator's caller peer)
//! runs in its own network namespace, joined to ours by a veth pair the test controls.
//! Taking our end of the link down for 5 s drops media and signalling alike; the console
//! must report the audio reconnecting, recover it by ICE restart through the gateway once
//! the link is back, keep the call answered, and the caller's voice must play again.
//!
//! Needs root (network namespaces), as `cargo xtask test` has on its CI machines.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use switchboard_agent::AudioSetup;
use switchboard_core::CallStatus;
use switchboard_core::desktop::UiEvent;

/// A namespace with one veth link to ours; removed on drop.
struct Netns {
    name: String,
    outer: String,
    pub inner_ip: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2 (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    fn new() -> Self {
        let tag = format!("{:x}", std::process::id() & 0xffff);
        let (name, outer, inner) = (format!("sbcut{tag}"), format!("sbo{tag}"), format!("sbi{tag}"));
        let net = 64 + (std::process::id() % 128);
        let (outer_ip, inner_ip) = (format!("10.77.{net}.1"), format!("10.77.{net}.2"));
        ip(&["netns", "add", &name]);
        ip(&["link", "add", &outer, "type", "veth", "peer", "name", &inner]);
        ip(&["link", "set", &inner, "netns", &name]);
        ip(&["addr", "add", &format!("{outer_ip}/24"), "dev", &outer]);
        ip(&["link", "set", &outer, "up"]);
        ip(&[
            "netns",
            "exec",
            &name,
            "ip",
            "addr",
            "add",
            &format!("{inner_ip}/24"),
            "dev",
            &inner,
        ]);
        ip(&["netns", "exec", &name, "ip", "link", "set", &inner, "up"]);
        ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        Self { name, outer, inner_ip }
    }

    fn link(&self, up: bool) {
        ip(&["link", "set", &self.outer, if up { "up" } else { "down" }]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.outer]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_second_cut_does_not_end_the_call_and_audio_resumes() {
    require_secret_service();
    let ns = Netns::new();
    let world = World::start_in(&ns.name, &ns.inner_ip).await;
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let (console, mut ui) = signed_in(&world, dir.path(), &svc).await;
    let speaker = dir.path().join("speaker.wav");
    // The microphone: a file of silence is enough here; what matters is the caller's voice.
    let mic = dir.path().join("mic.wav");
    switchboard_media::device::write_wav(&mic, &vec![0.0; 48_000]).unwrap();
    console.set_audio_setup(AudioSetup::Wav {
        mic,
        speaker: speaker.clone(),
    });

    let sid = answer_with_audio(&world, &console, &mut ui, "SIM-CUT-1").await;

    ns.link(false);
    let cut_at = tokio::time::Instant::now();
    wait_for(
        &mut ui,
        "audio reconnecting",
        |e| matches!(e, UiEvent::AudioState { state, .. } if state == "reconnecting"),
    )
    .await;
    tokio::time::sleep_until(cut_at + Duration::from_secs(5)).await;
    ns.link(true);

    // Recovery: ICE failed during the cut (after 4 s), so only an ICE restart through the
    // gateway brings it back: renegotiated, then connected, without the call ending.
    let mut ui2 = console.subscribe();
    wait_for(
        &mut ui2,
        "an ICE restart accepted",
        |e| matches!(e, UiEvent::AudioState { state, .. } if state == "renegotiated"),
    )
    .await;
    wait_for(
        &mut ui2,
        "audio connected again",
        |e| matches!(e, UiEvent::AudioState { state, .. } if state == "connected"),
    )
    .await;
    let recovered_after = cut_at.elapsed();
    let detail = console.call_detail(&sid).await.unwrap();
    assert_eq!(
        detail.call.status,
        CallStatus::Answered,
        "the call must survive the cut"
    );
    // The caller's voice plays again: the speaker meter rises.
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut loudest = -100.0f32;
    while let Ok(Ok(ev)) = tokio::time::timeout_at(until, ui2.recv()).await {
        if let UiEvent::AudioLevels(l) = ev {
            loudest = loudest.max(l.output.rms_dbfs);
        }
    }
    assert!(
        loudest > -40.0,
        "no caller audio after the cut: speaker at {loudest} dBFS"
    );
    eprintln!(
        "audio recovered {:.1} s after the cut began",
        recovered_after.as_secs_f64()
    );
    console.end(&sid).await.unwrap();
}
