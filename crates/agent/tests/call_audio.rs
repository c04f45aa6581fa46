//! The console joins a call's audio the way the desktop does: answer returns a
//! `MediaJoin::Peer`, the console negotiates with the simulator's caller through the
//! gateway, and from then on hold, mute, DTMF and end act on the audio while levels stream
//! to the UI. Devices are WAV files (espeak-ng speech as the microphone).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use switchboard_agent::AudioSetup;
use switchboard_core::desktop::UiEvent;
use switchboard_core::{CallStatus, TranscriptRole};

/// Loudest (input, output) RMS seen in level events over the next `secs` (readings
/// already queued from before are dropped first).
async fn loudest(ui: &mut tokio::sync::broadcast::Receiver<UiEvent>, secs: u64) -> (f32, f32, usize) {
    while ui.try_recv().is_ok() {}
    let (mut i, mut o, mut n) = (-100.0f32, -100.0f32, 0);
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    while let Ok(ev) = tokio::time::timeout_at(until, ui.recv()).await {
        if let Ok(UiEvent::AudioLevels(l)) = ev {
            i = i.max(l.input.rms_dbfs);
            o = o.max(l.output.rms_dbfs);
            n += 1;
        }
    }
    (i, o, n)
}

/// Wait (at most 5 s) for a level reading that satisfies `f`: frames already on their way
/// when a control changed must pass first.
async fn until_levels(ui: &mut tokio::sync::broadcast::Receiver<UiEvent>, what: &str, f: impl Fn(f32, f32) -> bool) {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(until, ui.recv()).await {
            Ok(Ok(UiEvent::AudioLevels(l))) if f(l.input.rms_dbfs, l.output.rms_dbfs) => return,
            Ok(_) => {}
            Err(_) => panic!("no level reading showed {what} within 5 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_joins_the_audio_and_controls_act_on_it() {
    let world = World::start_with_media().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let (console, mut ui) = signed_in(&world, dir.path(), &svc).await;
    let speaker = dir.path().join("speaker.wav");
    console.set_audio_setup(AudioSetup::Wav {
        mic: gw::speech_wav(
            &dir.path().join("mic.wav"),
            "Hello, this is Alice from Switchboard. Let me check that for you.",
        ),
        speaker: speaker.clone(),
    });

    let sid = answer_with_audio(&world, &console, &mut ui, "SIM-AUDIO-7").await;

    // Both meters move while the agent speaks and the caller talks (10 readings/s).
    let (input, output, readings) = loudest(&mut ui, 3).await;
    assert!(readings >= 20, "only {readings} level readings in 3 s");
    assert!(
        input > -40.0 && output > -40.0,
        "meters: microphone {input} dBFS, speaker {output} dBFS"
    );

    // Mute: the microphone meter falls to silence; the caller still comes through.
    console.set_muted(true);
    until_levels(&mut ui, "the microphone muted", |input, _| input <= -90.0).await;
    let (input, output, _) = loudest(&mut ui, 2).await;
    assert!(input <= -90.0, "muted microphone meter at {input} dBFS");
    assert!(output > -40.0, "speaker went quiet on mute: {output} dBFS");
    console.set_muted(false);

    // Hold: the caller is held (hears music), the agent hears nothing.
    console.hold(&sid).await.unwrap();
    wait_for(
        &mut ui,
        "on hold",
        |e| matches!(e, UiEvent::CallChanged(c) if c.call.call_sid == sid && c.call.status == CallStatus::OnHold),
    )
    .await;
    until_levels(&mut ui, "the speaker silent on hold", |_, output| output <= -60.0).await;
    let (_, output, _) = loudest(&mut ui, 2).await;
    assert!(output <= -60.0, "agent still hears the caller on hold: {output} dBFS");
    console.resume(&sid).await.unwrap();
    wait_for(
        &mut ui,
        "resumed",
        |e| matches!(e, UiEvent::CallChanged(c) if c.call.call_sid == sid && c.call.status == CallStatus::Answered),
    )
    .await;

    // DTMF goes in band: the caller's peer hears the keys and the simulator says so.
    console.dtmf(&sid, "42").await.unwrap();
    let mut heard = String::new();
    while heard.len() < 2 {
        match wait_for(&mut ui, "the caller hearing the keys", |e| {
            matches!(e, UiEvent::TranscriptTurn(t) if t.role == TranscriptRole::System && t.content.starts_with("Caller heard key"))
        })
        .await
        {
            UiEvent::TranscriptTurn(t) => heard.push(t.content.chars().last().unwrap()),
            _ => unreachable!(),
        }
    }
    assert_eq!(heard, "42");

    // End: the audio closes with the call.
    console.end(&sid).await.unwrap();
    wait_for(
        &mut ui,
        "audio closed",
        |e| matches!(e, UiEvent::AudioState { state, .. } if state == "closed"),
    )
    .await;
    let heard = switchboard_media::device::read_wav(&speaker).unwrap();
    assert!(
        heard.len() > 48_000 * 5,
        "the speaker file holds {} samples",
        heard.len()
    );
}
