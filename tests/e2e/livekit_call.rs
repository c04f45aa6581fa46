//! A LiveKit SIP call answered in the real desktop app, in a real window (Xvfb, driven
//! through WebDriver), with every peer real: the gateway binary with a LiveKit provider,
//! `livekit-server` and `livekit-sip` on loopback (built by `cargo xtask setup`), and
//! Debian's baresip as the caller's phone speaking an espeak-ng sentence. The app's
//! microphone is a 1 kHz tone and its speaker a WAV file; the app's Rust backend joins the
//! caller's room with its own room session (no browser involved in the audio).
//!
//! Checked through the window: the call rings in the queue, Answer connects the audio and
//! the speaker meter moves with the caller; Hold silences it and Resume brings it back;
//! End completes the call. Then through the files: the caller's speech is at the app's
//! speaker (its loudness contour correlates with the sentence's), the agent's tone is in
//! baresip's recording, and baresip's session was closed by a BYE.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../../crates/gateway/tests/support/mod.rs"]
mod gw;

use std::time::Duration;

use switchboard_e2e::livekit::{Baresip, LiveKitStack, wav_8k};
use switchboard_e2e::{Window, app_binary, free_port, meter_above};
use switchboard_media::device::{read_wav, resample, write_wav};
use switchboard_media::tone::{rms, sine, tone_blocks};

const NUMBER: &str = "+14155550199";
const CALLER: &str = "+16285550166";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_answers_a_livekit_sip_caller_in_the_real_window() {
    tokio::time::timeout(Duration::from_secs(300), call())
        .await
        .expect("finished within 5 minutes");
}

async fn call() {
    switchboard_e2e::require_keyring();
    let app = app_binary();

    // The gateway on SQLite with a business (its simulator quiet) and an admin.
    let db = gw::TestDb::sqlite().await;
    let store = switchboard_gateway::store::connect(db.url()).await.unwrap();
    let seeded = switchboard_gateway::demo::seed_business(&*store, "Business 1", "sim-1", gw::quiet_sim(), 100, 10)
        .await
        .unwrap();
    let ada = store
        .create_agent(seeded.business, "ada", "Ada Admin", switchboard_core::AgentRole::Admin)
        .await
        .unwrap();
    let admin = switchboard_gateway::demo::issue_token(&*store, ada).await.unwrap();
    drop(store);
    let bind = format!("127.0.0.1:{}", free_port());
    let lk = LiveKitStack::start(true, &[format!("http://{bind}/webhooks/livekit/lk")]);
    let secrets = gw::secrets_dir();
    std::fs::write(secrets.path().join("LIVEKIT_SECRET"), &lk.secret).unwrap();
    let data = tempfile::tempdir().unwrap();
    let _gateway = gw::GatewayProcess::spawn_at(db.url(), data.path(), secrets.path(), &bind).await;
    gw::livekit_line(&format!("http://{bind}"), &admin, &lk, "lk", NUMBER).await;

    // The app, signed in as alice, with a 1 kHz tone as microphone.
    let app_data = tempfile::tempdir().unwrap();
    let (mic, speaker) = (app_data.path().join("mic.wav"), app_data.path().join("speaker.wav"));
    write_wav(&mic, &sine(1_000.0, 0.3, 48_000 * 150)).unwrap();
    let window = Window::open(
        &app,
        &[
            ("SWITCHBOARD_DESKTOP_DATA_DIR", app_data.path().as_os_str()),
            ("SWITCHBOARD_AUDIO_WAV_IN", mic.as_os_str()),
            ("SWITCHBOARD_AUDIO_WAV_OUT", speaker.as_os_str()),
        ],
    )
    .await;
    let ui = &window.ui;
    ui.sign_in(&format!("http://{bind}"), &gw::cli_token(db.url(), "alice"))
        .await;
    ui.choose("#status-select", "available").await;

    // The caller says a sentence, six times over with pauses (8 kHz, as a phone sends).
    let sentence = read_wav(&gw::speech_wav(
        &app_data.path().join("speech.wav"),
        "Hello, I am calling about my order. It has not arrived yet, and I would like to know where it is.",
    ))
    .unwrap();
    // One turn: the sentence and a second's pause.
    let turn = gw::with_pause(&sentence, 1);
    let spoken = resample(&turn, 48_000, 8_000).repeat(6);
    let caller_mic = wav_8k(&app_data.path().join("caller.wav"), &spoken);
    let mut phone = Baresip::dial(
        &format!("sip:{NUMBER}@127.0.0.1:{}", lk.sip_port.unwrap()),
        CALLER,
        &caller_mic,
    );

    // It rings in the queue; Answer joins the caller's room from the app's backend.
    ui.until_count("#queue .queue-item", 1).await;
    ui.shot("livekit-01-ringing").await;
    ui.click("#btn-answer").await;
    ui.until_text("#call-status", "Connected", |t| t == "Connected").await;
    ui.until_text("#audio-state", "Audio connected", |t| t == "Audio connected")
        .await;
    let heard = ui
        .until_attr("#meter-speaker", "data-dbfs", "the caller above -40 dBFS", |v| {
            meter_above(v, -40.0)
        })
        .await;
    println!("speaker meter with the caller talking: {heard} dBFS");
    ui.shot("livekit-02-connected").await;
    // Five seconds of conversation before the hold: the speech check below reads the
    // first three seconds the speaker played (its length is the condition, not a wait).
    tokio::time::sleep(Duration::from_secs(5)).await;

    ui.click("#btn-hold").await;
    ui.until_text("#call-status", "On hold", |t| t == "On hold").await;
    ui.until_attr("#meter-speaker", "data-dbfs", "silent on hold", |v| {
        !meter_above(v, -50.0)
    })
    .await;
    ui.shot("livekit-03-on-hold").await;
    ui.click("#btn-resume").await;
    ui.until_text("#call-status", "Connected", |t| t == "Connected").await;
    ui.until_attr("#meter-speaker", "data-dbfs", "the caller again", |v| {
        meter_above(v, -40.0)
    })
    .await;
    // Three more seconds of conversation (its length is what the recordings are checked
    // on), then the agent ends the call.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ui.click("#btn-end").await;
    ui.until_text("#call-status", "Completed", |t| t == "Completed").await;
    ui.shot("livekit-04-completed").await;
    phone.wait_for("session closed", Duration::from_secs(30));
    assert!(
        !phone.log().contains("486 Busy"),
        "an answered call ends with BYE:\n{}",
        phone.log()
    );

    // The caller's speech at the app's speaker: its loudness contour follows the sentence.
    let played = gw::eventually(10, "the app's speaker file", || async {
        read_wav(&speaker).ok().filter(|s| s.len() > 48_000 * 5)
    })
    .await;
    // The app's own figures for the call's received audio (jitter buffer, speaker):
    // what a speech check below the bar is read against.
    let figures = gw::eventually(10, "the app's figures for the call's audio", || async {
        let log = window.app_log();
        log.lines()
            .find(|l| l.contains("the call's audio ended"))
            .map(str::to_owned)
    })
    .await;
    println!("{figures}");
    // The figures are the call's: it played at least the eight seconds of conversation
    // above, 50 frames a second.
    let played_frames: u64 = figures
        .split_whitespace()
        .find_map(|f| f.strip_prefix("played="))
        .and_then(|n| n.parse().ok())
        .expect("the figures say how many frames were played");
    assert!(
        played_frames >= 400,
        "the app played {played_frames} frames of the caller"
    );
    let corr = gw::speech_followed(&played, &turn);
    println!("speech envelope correlation at the app's speaker: {corr:.2}");
    assert!(
        corr >= 0.8,
        "the app's speaker does not follow the caller (r = {corr:.2})"
    );
    assert!(rms(&played) > 0.005);

    // The agent's tone at the caller's phone.
    let caller_heard = read_wav(&phone.heard().expect("baresip recorded the call")).unwrap();
    let blocks = tone_blocks(&caller_heard, &[1000]).len();
    println!(
        "the caller heard the agent's 1 kHz in {blocks} of {} blocks of 100 ms",
        caller_heard.len() / 4_800
    );
    assert!(blocks >= 30, "the caller hears the agent ({blocks} blocks)");
    ui.c.clone().close().await.unwrap();
}
