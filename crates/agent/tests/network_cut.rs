//! A 5 s network cut during a call: the gateway (and with it the simulator's caller peer)
//! runs in its own network namespace, joined to ours by a veth pair the test controls.
//! Taking our end of the link down for 5 s drops media and signalling alike; the console
//! must report the audio reconnecting, recover it by ICE restart through the gateway once
//! the link is back, keep the call answered, and the caller's voice must play again.
//!
//! Needs root (network namespaces), as `cargo xtask test` has on its CI machines.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use switchboard_agent::AudioSetup;
use switchboard_core::CallStatus;
use switchboard_core::desktop::UiEvent;
use switchboard_e2e::Netns;

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
    // gateway brings it back: renegotiated, then connected, without the call ending. One
    // restart does it: the restart request that hung through the cut, and the drop's reports
    // queued behind it, must not set off more restarts, each of which would drop the
    // candidate checks of the one before and keep the agent in silence.
    let mut ui2 = console.subscribe();
    let mut restarts = 0;
    wait_for(&mut ui2, "audio connected again after a restart", |e| match e {
        UiEvent::AudioState { state, .. } if state == "renegotiated" => {
            restarts += 1;
            false
        }
        UiEvent::AudioState { state, .. } => state == "connected" && restarts > 0,
        _ => false,
    })
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
    let (mut loudest, mut readings) = (-100.0f32, 0);
    while let Ok(Ok(ev)) = tokio::time::timeout_at(until, ui2.recv()).await {
        match ev {
            UiEvent::AudioLevels(l) => {
                loudest = loudest.max(l.output.rms_dbfs);
                readings += 1;
            }
            UiEvent::AudioState { state, .. } if state == "renegotiated" => restarts += 1,
            _ => {}
        }
    }
    assert_eq!(restarts, 1, "ICE restarts accepted after the link came back");
    // How many readings came tells a silent speaker (about 50 at -100 dBFS) from audio
    // that stopped running (none): the one failure seen so far (stop 51) read -100 dBFS
    // and did not say which.
    assert!(
        loudest > -40.0,
        "no caller audio after the cut: speaker at {loudest} dBFS at most, over {readings} meter readings in 5 s"
    );
    eprintln!(
        "audio recovered {:.1} s after the cut began",
        recovered_after.as_secs_f64()
    );
    console.end(&sid).await.unwrap();
}
