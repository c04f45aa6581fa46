//! Call audio through the gateway: the simulator's caller is a real WebRTC peer. The agent
//! side here is a media session driven the way the desktop drives it (client + PeerSession),
//! with a WAV of speech (espeak-ng, generated at test time) as its microphone and a WAV as
//! its speaker. Checked: the speech arrives in the caller's recording; the caller's voice
//! arrives at the agent's speaker; on hold the caller hears hold music and the agent hears
//! nothing; after resume both directions flow again; ending the call closes both peers.

#![allow(clippy::print_stdout)] // figures are reported, not asserted

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;
use switchboard_core::{CallStatus, MediaJoin};
use switchboard_gateway::{demo, store};
use switchboard_media::device::{WavDevice, WavSource, read_wav};
use switchboard_media::session::MediaSession;
use switchboard_media::tone::{dominant_frequency, rms};

const RATE: usize = 48_000;

async fn wait_status(client: &switchboard_client::Client, sid: &switchboard_core::CallSid, want: CallStatus) {
    eventually(10, &format!("call {want}"), || async {
        let d = client.call(sid).await.ok()?;
        (d.call.status == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_and_simulated_caller_hear_each_other_through_the_gateway() {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let recordings = dir.path().join("recordings");
    let store = store::connect(db.url()).await.expect("store");
    let mut sim = quiet_sim();
    sim["media"] = serde_json::json!({ "recordings_dir": recordings, "loopback_only": true });
    let seeded = demo::seed_business(&*store, "Audio Co", "sim-audio", sim, 700, 5)
        .await
        .expect("seed");
    let gw = TestGateway::with_store(store.clone()).await;
    let client = gw.client(&token(&*store, &seeded, "alice").await);

    // A caller rings in.
    let http = reqwest::Client::new();
    let (code, body) = post_webhook(
        &http,
        &gw.base,
        "sim-audio",
        &inbound("SIM-AUDIO-1", "a1", 1_000, CallStatus::Ringing, "+14155550700"),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let sid = eventually(10, "the call in the queue", || async {
        client
            .queue()
            .await
            .ok()?
            .calls
            .into_iter()
            .next()
            .map(|c| c.call.call_sid)
    })
    .await;

    // Answer: the reply says how to join the audio.
    let answered = client.answer(&sid).await.expect("answer");
    let MediaJoin::Peer { signal } = answered.media else {
        panic!("expected a peer to join, got {:?}", answered.media)
    };
    assert_eq!(signal, format!("/v1/calls/{sid}/media"));

    // Bad offers are refused with a clear error and change nothing.
    let err = client.media_offer(&signal, "hello").await.expect_err("not SDP");
    assert!(err.to_string().contains("v=0"), "{err}");

    let speech_path = speech_wav(
        &dir.path().join("agent-speech.wav"),
        "Thank you for calling Switchboard. My name is Alice. How can I help you today?",
    );
    let speech = read_wav(&speech_path).expect("speech");
    let agent_speaker = dir.path().join("agent-speaker.wav");
    let device = WavDevice::new(WavSource::Samples(Arc::new(speech.clone())), true).recording_to(&agent_speaker);
    let agent_clock = device.clock();
    let agent = join_audio(&client, &signal, device).await;

    // Talk 5 s, hold 4 s, talk 4 s, hang up.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t_hold = Instant::now();
    client.hold(&sid).await.expect("hold");
    wait_status(&client, &sid, CallStatus::OnHold).await;
    // The provider silences the caller before it reports the hold, so from here on nothing
    // new leaves the caller; what is still in flight drains within the playout margin below.
    let t_held = Instant::now();
    agent.set_hold(true).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let t_resume = Instant::now();
    client.resume(&sid).await.expect("resume");
    wait_status(&client, &sid, CallStatus::Answered).await;
    let t_resumed = Instant::now();
    agent.set_hold(false).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let t_end = Instant::now();
    client.end(&sid).await.expect("end");
    wait_status(&client, &sid, CallStatus::Completed).await;
    agent.close().await;

    // The caller's side: its peer closed with the call, leaving its recording.
    let caller_rec = recordings.join(format!("{sid}.wav"));
    let heard_by_caller = eventually(10, "the caller's finished recording", || async {
        read_wav(&caller_rec).ok().filter(|s| s.len() > RATE * 5)
    })
    .await;

    // 1. The agent's speech is in the caller's recording: its loudness contour matches the
    //    speech file's (a tone or noise would not).
    let corr = speech_followed(&heard_by_caller, &speech);
    println!("speech envelope correlation at the caller: {corr:.2}");
    assert!(
        corr > 0.6,
        "the caller's recording does not follow the agent's speech (r = {corr:.2})"
    );

    // 2. On hold the caller hears hold music (660 Hz + 880 Hz), for about as long as the hold.
    //    The hold began somewhere between the request and its confirmation, and ended
    //    between those of the resume: the music lasted at least the confirmed stretch and
    //    at most the requested one (a half-second window either side for framing).
    let hold_windows = heard_by_caller
        .chunks(RATE / 2)
        .filter(|w| dominant_frequency(w).is_some_and(|f| (f - 660.0).abs() < 15.0))
        .count();
    let half_seconds = |d: Duration| (d.as_secs_f64() * 2.0) as usize;
    let (shortest, longest) = (half_seconds(t_resume - t_held), half_seconds(t_resumed - t_hold));
    assert!(
        (shortest.saturating_sub(2)..=longest + 2).contains(&hold_windows),
        "{hold_windows} half-seconds of hold music (hold lasted {shortest}..={longest} half-seconds)"
    );

    // 3. The agent heard the caller's voice (330/440/550 Hz phrase) before the hold, nothing
    //    during it, and the caller again after resuming.
    let heard_by_agent = read_wav(&agent_speaker).expect("agent speaker");
    let t0 = agent_clock.lock().expect("clock").expect("started");
    let at = |t: Instant| ((t - t0).as_secs_f64() * RATE as f64) as usize;
    let is_caller =
        |w: &[f32]| dominant_frequency(w).is_some_and(|f| [330.0, 440.0, 550.0].iter().any(|n| (f - n).abs() < 15.0));
    let voiced = |from: usize, to: usize| {
        heard_by_agent[from..to]
            .chunks(RATE / 5)
            .filter(|w| is_caller(w))
            .count()
    };
    let before = voiced(at(t_hold) - RATE * 3, at(t_hold));
    let after = voiced(at(t_resume) + RATE, at(t_end));
    assert!(
        before >= 6,
        "agent heard the caller in only {before} of 15 windows before hold"
    );
    assert!(
        after >= 6,
        "agent heard the caller in only {after} of 15 windows after resume"
    );
    // The hold is a stretch of silence as long as the confirmed hold, starting after the
    // request. Where it starts depends on the audio path's delay (jitter buffer, speaker
    // ring), which a loaded machine stretches; the stretch itself does not shrink. The
    // caller's phrase pauses for 0.1 s between notes, far shorter than this.
    let window = RATE / 20;
    let from = at(t_hold);
    let to = (at(t_resumed) + RATE * 2).min(heard_by_agent.len());
    let (mut run, mut longest, mut longest_start) = (0usize, 0usize, 0usize);
    for (i, w) in heard_by_agent[from..to].chunks(window).enumerate() {
        if rms(w) < 0.005 {
            run += 1;
            if run > longest {
                (longest, longest_start) = (run, i + 1 - run);
            }
        } else {
            run = 0;
        }
    }
    let silent = Duration::from_secs_f64((longest * window) as f64 / RATE as f64);
    let delay = Duration::from_secs_f64((longest_start * window) as f64 / RATE as f64);
    println!("agent side on hold: {silent:?} of silence, starting {delay:?} after the hold request");
    let confirmed = t_resume - t_held;
    assert!(
        silent + Duration::from_millis(500) >= confirmed,
        "agent still hears audio on hold: the longest silence is {silent:?}, the hold lasted {confirmed:?}"
    );
}

/// The speech check itself (`speech_followed`), on an espeak-ng sentence played as a
/// talker repeats it: a copy scores high, and so does one whose timeline slips by
/// `SLIP_FRAMES` between its seconds as a jitter buffer's may (40 ms of silence inserted
/// after the first second, 40 ms dropped after the second); a tone, noise and the sentence
/// played backwards score low.
#[test]
fn the_speech_check_follows_speech_through_slips_and_rejects_what_is_not_speech() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sentence = read_wav(&speech_wav(
        &dir.path().join("speech.wav"),
        "Hello, I am calling about my order. It has not arrived yet, and I would like to know where it is.",
    ))
    .expect("espeak-ng's sentence");
    let turn = with_pause(&sentence, 1);
    let lead = vec![0.0f32; RATE / 2];
    let on = switchboard_media::tone::onset(&turn, 0.01).expect("the sentence makes a sound");
    let slip = SLIP_FRAMES * 960;

    let copy = [&lead[..], &turn, &turn].concat();
    let slipped = [
        &lead[..],
        &turn[..on + RATE],
        &vec![0.0; slip],
        &turn[on + RATE..on + 2 * RATE],
        &turn[on + 2 * RATE + slip..],
        &turn,
    ]
    .concat();
    let tone = switchboard_media::tone::sine(1_000.0, 0.3, RATE * 8);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<f32> = (0..RATE * 8)
        .map(|_| {
            // xorshift64: reproducible white noise without a dependency.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 * 0.2 - 0.1
        })
        .collect();
    let backwards: Vec<f32> = [&turn[..], &turn].concat().into_iter().rev().collect();

    let score = |what: &str, played: &[f32]| {
        let r = speech_followed(played, &turn);
        println!("{what}: r = {r:.2}");
        r
    };
    assert!(score("a copy", &copy) >= 0.9);
    assert!(score("a copy that slips", &slipped) >= 0.9);
    assert!(score("a 1 kHz tone", &tone) < 0.3);
    assert!(score("white noise", &noise) < 0.3);
    assert!(score("the sentence backwards", &backwards) < 0.6);
}
