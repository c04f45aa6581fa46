//! Double talk through the whole live chain: the agent's end with voice processing on and
//! the caller's without it (as the simulator's caller runs), two WebRTC sessions over
//! loopback, WAV devices on a real clock and no echo path (a headset). The agent speaks a
//! sentence (espeak-ng), once with the caller silent and once with the caller's phrase
//! playing all along; what the caller hears of the agent is compared between the two.
//!
//! The echo canceller's suppression sets how much of the agent survives double talk. On
//! this test, moderate suppression (shipped) kept 0.88-0.90x of the agent's active frames
//! and 0.61-0.63x of its level (five runs, three of them beside two busy loops); high
//! suppression kept 0.83x and 0.56x, and fails it.

#![allow(clippy::print_stdout)] // figures are reported beside the bars they must clear

#[path = "support/connected.rs"]
mod connected;
use connected::wait_connected;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use switchboard_media::SAMPLE_RATE;
use switchboard_media::device::{WavDevice, WavSource, read_wav};
use switchboard_media::peer::{PeerConfig, PeerSession};
use switchboard_media::session::MediaSession;
use switchboard_media::tone::{caller_phrase, rms};

/// How long each call's audio runs.
const TALK: Duration = Duration::from_secs(12);
/// 20 ms frames left out at the start of a recording: connecting, and the canceller and
/// gain settling.
const SETTLING_FRAMES: usize = 100;
/// A frame this loud (RMS, -40 dBFS) carries speech.
const ACTIVE_RMS: f32 = 0.01;

/// What the caller heard while the agent looped `agent` and the caller played `caller`.
async fn caller_heard(agent: &Arc<Vec<f32>>, caller: WavSource, dir: &Path, name: &str) -> Vec<f32> {
    let recording = dir.join(name);
    let agent_end = PeerSession::new(
        Box::new(WavDevice::new(WavSource::Samples(agent.clone()), true)),
        PeerConfig {
            loopback_only: true,
            ..PeerConfig::default()
        },
    )
    .await
    .expect("the agent's session");
    let mut caller_config = PeerConfig {
        loopback_only: true,
        ..PeerConfig::default()
    };
    caller_config.pipeline.voice_processing = false;
    let caller_end = PeerSession::new(
        Box::new(WavDevice::new(caller, true).recording_to(&recording)),
        caller_config,
    )
    .await
    .expect("the caller's session");
    let answer = caller_end
        .answer(&agent_end.offer(false).await.expect("offer"))
        .await
        .expect("answer");
    agent_end.accept_answer(&answer).await.expect("accept");
    wait_connected(&agent_end).await;
    wait_connected(&caller_end).await;
    tokio::time::sleep(TALK).await;
    agent_end.close().await;
    caller_end.close().await;
    read_wav(&recording).expect("the caller's recording")
}

/// Share of 20 ms frames that carry speech, and the RMS over all of them, after settling.
fn speech_figures(samples: &[f32]) -> (f32, f32) {
    let frames: Vec<f32> = samples
        .chunks_exact(SAMPLE_RATE as usize / 50)
        .skip(SETTLING_FRAMES)
        .map(rms)
        .collect();
    assert!(frames.len() > 200, "only {} frames recorded", frames.len());
    let active = frames.iter().filter(|r| **r > ACTIVE_RMS).count() as f32 / frames.len() as f32;
    let level = (frames.iter().map(|r| r * r).sum::<f32>() / frames.len() as f32).sqrt();
    (active, level)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_is_heard_through_the_callers_talk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("agent.wav");
    let out = std::process::Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&wav)
        .arg("Thank you for calling. Let me look up your account, it will only take a moment.")
        .output()
        .expect("espeak-ng must be installed (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "espeak-ng: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sentence = read_wav(&wav).expect("the sentence");
    sentence.extend(std::iter::repeat_n(0.0, SAMPLE_RATE as usize / 2));
    let sentence = Arc::new(sentence);

    let source = speech_figures(&sentence.repeat(3));
    let alone = speech_figures(&caller_heard(&sentence, WavSource::Silence, dir.path(), "alone.wav").await);
    let phrase = WavSource::Samples(Arc::new(caller_phrase(1.2)));
    let both = speech_figures(&caller_heard(&sentence, phrase, dir.path(), "both.wav").await);
    let (active, level) = (both.0 / alone.0, both.1 / alone.1);
    println!(
        "the agent's speech as the caller heard it: {:.2} of frames active with the caller silent \
         ({:.2} in the sentence), {:.2} with the caller talking; kept in double talk: {active:.2}x \
         of the active frames, {level:.2}x of the level",
        alone.0, source.0, both.0
    );
    // Single talk: the agent comes through whole (no echo path, nothing to suppress).
    assert!(
        alone.0 > 0.9 * source.0,
        "with the caller silent only {:.2} of frames carried the agent, of {:.2} in the sentence",
        alone.0,
        source.0
    );
    // Double talk: the canceller takes some of the agent while the caller talks, but not
    // as much as high suppression does (0.83x and 0.56x).
    assert!(
        active >= 0.85,
        "double talk kept {active:.2}x of the agent's active frames (at least 0.85x expected)"
    );
    assert!(
        level >= 0.58,
        "double talk kept {level:.2}x of the agent's level (at least 0.58x expected)"
    );
}
