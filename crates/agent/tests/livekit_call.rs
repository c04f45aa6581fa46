//! The desktop holds a LiveKit SIP call's audio itself, with every peer real: the gateway
//! process with a LiveKit provider, `livekit-server` and `livekit-sip` on loopback (built
//! by `cargo xtask setup`), and Debian's baresip as the caller's phone speaking an
//! espeak-ng sentence. The console answers as an agent does: the gateway's
//! `MediaJoin::LiveKit` makes it join the caller's room with our own room session
//! (`switchboard_media::room`), microphone and speaker being WAV files.
//!
//! Checked: the caller's speech arrives at the agent's speaker (its loudness contour
//! correlates with the sentence's), the agent's 1 kHz tone arrives in baresip's recording,
//! hold silences the caller for the agent and resume brings them back, and ending hangs
//! up the SIP leg (baresip's session closes with a BYE). A supervisor's console listening
//! joins the room listen-only: it hears the caller and the agent, and neither hears it.
//! When the server drops the agent's session for good, the console joins again with a
//! fresh token (`GET /v1/calls/{sid}/media`) and the call goes on.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::time::Duration;

use common::*;
use switchboard_agent::AudioSetup;
use switchboard_core::desktop::UiEvent;
use switchboard_core::{AgentStatus, CallStatus, MonitorMode};
use switchboard_e2e::livekit::{Baresip, LiveKitStack, tone_wav_8k, wav_8k};
use switchboard_media::device::read_wav;
use switchboard_media::tone::{rms, tone_blocks, tone_level};
use switchboard_telephony::livekit::token::ApiKey;
use switchboard_telephony::livekit::twirp::Twirp;
use switchboard_telephony::secret::Secret;

const NUMBER: &str = "+14155550188";
const CALLER: &str = "+16285550177";

/// The loudest output level (dBFS) the console reports over the next `secs`.
async fn loudest_output(ui: &mut tokio::sync::broadcast::Receiver<UiEvent>, secs: u64) -> f32 {
    while ui.try_recv().is_ok() {}
    let mut loudest = -100.0f32;
    let until = tokio::time::Instant::now() + Duration::from_secs(secs);
    while let Ok(ev) = tokio::time::timeout_at(until, ui.recv()).await {
        if let Ok(UiEvent::AudioLevels(l)) = ev {
            loudest = loudest.max(l.output.rms_dbfs);
        }
    }
    loudest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_talks_to_a_livekit_sip_caller_from_its_own_room_session() {
    tokio::time::timeout(Duration::from_secs(300), call())
        .await
        .expect("finished within 5 minutes");
}

async fn call() {
    let mut w = World::seeded(gw::quiet_sim()).await;
    let lk = LiveKitStack::start(true, &[format!("{}/webhooks/livekit/lk", w.url())]);
    std::fs::write(w.secrets.path().join("LIVEKIT_SECRET"), &lk.secret).unwrap();
    w.up().await;

    // An admin adds the LiveKit provider and a number on it, over the API.
    let store = switchboard_gateway::store::connect(w.db.url()).await.unwrap();
    let ada = store
        .create_agent(
            w.seeded.business,
            "ada",
            "Ada Admin",
            switchboard_core::AgentRole::Admin,
        )
        .await
        .unwrap();
    let admin = switchboard_gateway::demo::issue_token(&*store, ada).await.unwrap();
    let sam_token = gw::token(&*store, &w.seeded, "sam").await;
    drop(store);
    gw::livekit_line(&w.url(), &admin, &lk, "lk", NUMBER).await;
    let api = Twirp::new(
        &lk.url,
        ApiKey {
            key: lk.key.clone(),
            secret: Secret::new(lk.secret.clone()),
        },
    );

    // The console, with a 1 kHz tone as the agent's microphone.
    let dir = tempfile::tempdir().unwrap();
    let svc = service();
    let (console, mut ui) = signed_in(&w, dir.path(), &svc).await;
    let speaker = dir.path().join("speaker.wav");
    console.set_audio_setup(AudioSetup::Wav {
        mic: tone_wav_8k(&dir.path().join("agent.wav"), 1000.0, 120),
        speaker: speaker.clone(),
    });
    console.set_status(AgentStatus::Available).await.unwrap();

    // The caller says a sentence, ten times over (a minute: the whole call), with pauses
    // (8 kHz, as a phone sends).
    let sentence = read_wav(&gw::speech_wav(
        &dir.path().join("speech.wav"),
        "Hello, I am calling about my order. It has not arrived yet, and I would like to know where it is.",
    ))
    .unwrap();
    // One turn: the sentence and a second's pause.
    let turn = gw::with_pause(&sentence, 1);
    let spoken = switchboard_media::device::resample(&turn, 48_000, 8_000).repeat(10);
    let mic = wav_8k(&dir.path().join("caller.wav"), &spoken);
    let mut phone = Baresip::dial(
        &format!("sip:{NUMBER}@127.0.0.1:{}", lk.sip_port.unwrap()),
        CALLER,
        &mic,
    );

    // It rings on the console; answering joins the caller's room from the desktop.
    let sid = match wait_for(&mut ui, "the incoming call", |e| {
        matches!(e, UiEvent::IncomingCall { .. })
    })
    .await
    {
        UiEvent::IncomingCall { call_sid, .. } => call_sid,
        _ => unreachable!(),
    };
    let answered = console.answer(&sid).await.unwrap();
    assert_eq!(answered.voice_platform, Some(switchboard_core::VoicePlatform::LiveKit));
    wait_for(
        &mut ui,
        "the room's audio connected",
        |e| matches!(e, UiEvent::AudioState { state, .. } if state == "connected"),
    )
    .await;

    // The caller is heard; on hold not; after resume again.
    let talking = loudest_output(&mut ui, 4).await;
    println!("agent's speaker while talking: {talking:.1} dBFS");
    assert!(talking > -30.0, "the agent hears the caller ({talking:.1} dBFS)");
    console.hold(&sid).await.unwrap();
    let gateway = switchboard_client::Client::new(&w.url(), &w.token).unwrap();
    let status = |want: CallStatus| {
        let (gateway, sid) = (&gateway, &sid);
        async move {
            eventually(10, &format!("the call {want}"), || async {
                (gateway.call(sid).await.ok()?.call.status == want).then_some(())
            })
            .await
        }
    };
    status(CallStatus::OnHold).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // frames already in flight drain
    let on_hold = loudest_output(&mut ui, 3).await;
    println!("agent's speaker on hold: {on_hold:.1} dBFS");
    assert!(
        on_hold < -50.0,
        "the agent hears the caller on hold ({on_hold:.1} dBFS)"
    );
    console.resume(&sid).await.unwrap();
    status(CallStatus::Answered).await;
    // Heard again within 10 s (the server renegotiates the subscription).
    let mut back = -100.0;
    for _ in 0..10 {
        back = loudest_output(&mut ui, 1).await;
        if back > -30.0 {
            break;
        }
    }
    assert!(back > -30.0, "the agent hears the caller after resume ({back:.1} dBFS)");

    // A supervisor listens from their own console, with a 1.5 kHz tone as microphone:
    // the room session joins listen-only (the token may not publish).
    let sam_dir = tempfile::tempdir().unwrap();
    let sam = common::console(sam_dir.path(), &service()).await;
    let mut sam_ui = sam.subscribe();
    sam.sign_in(&w.url(), &sam_token).await.unwrap();
    wait_for(
        &mut sam_ui,
        "sam online",
        |e| matches!(e, UiEvent::Connection(s) if s.online),
    )
    .await;
    let sam_speaker = sam_dir.path().join("speaker.wav");
    sam.set_audio_setup(AudioSetup::Wav {
        mic: tone_wav_8k(&sam_dir.path().join("sam.wav"), 1500.0, 60),
        speaker: sam_speaker.clone(),
    });
    sam.monitor(&sid, MonitorMode::Listen).await.unwrap();
    wait_for(
        &mut sam_ui,
        "the supervisor's audio connected",
        |e| matches!(e, UiEvent::AudioState { state, .. } if state == "connected"),
    )
    .await;
    // Both tracks reach a late joiner, though not always at once: 8 s to hear them.
    let listening = loudest_output(&mut sam_ui, 8).await;
    println!("supervisor's speaker: {listening:.1} dBFS");
    sam.stop_monitor(&sid).await.unwrap();
    println!("agent's speaker after resume: {back:.1} dBFS");
    tokio::time::sleep(Duration::from_secs(6)).await;

    // The server drops the agent's session for good (as it does when a node goes away):
    // the console joins again with a fresh token from the gateway, and hears the caller.
    let room = api
        .list_rooms()
        .await
        .unwrap()
        .into_iter()
        .next()
        .expect("the caller's room")
        .name;
    let agent_identity = api
        .list_participants(&room)
        .await
        .unwrap()
        .into_iter()
        .find(|p| !p.attributes.contains_key("sip.callID") && !p.permission.as_ref().is_some_and(|perm| perm.hidden))
        .expect("the agent in the room")
        .identity;
    let mut ui3 = console.subscribe();
    api.remove_participant(&room, &agent_identity).await.unwrap();
    wait_for(
        &mut ui3,
        "the console reconnecting after the server dropped it",
        |e| matches!(e, UiEvent::AudioState { state, .. } if state == "reconnecting"),
    )
    .await;
    wait_for(
        &mut ui3,
        "the console back in the room",
        |e| matches!(e, UiEvent::AudioState { state, .. } if state == "connected"),
    )
    .await;
    let mut rejoined = -100.0;
    for _ in 0..10 {
        rejoined = loudest_output(&mut ui, 1).await;
        if rejoined > -30.0 {
            break;
        }
    }
    println!("agent's speaker after rejoining: {rejoined:.1} dBFS");
    assert!(
        rejoined > -30.0,
        "the agent hears the caller after rejoining ({rejoined:.1} dBFS)"
    );
    status(CallStatus::Answered).await;

    // Ending hangs up the SIP leg.
    console.end(&sid).await.unwrap();
    status(CallStatus::Completed).await;
    phone.wait_for("session closed", Duration::from_secs(30));
    assert!(
        !phone.log().contains("486 Busy"),
        "an answered call ends with BYE:\n{}",
        phone.log()
    );

    // The caller's speech at the agent's speaker: its loudness contour follows the
    // sentence's (a tone, noise or silence would not).
    let heard = eventually(10, "the agent's speaker file", || async {
        read_wav(&speaker).ok().filter(|s| s.len() > 48_000 * 5)
    })
    .await;
    let corr = gw::speech_followed(&heard, &turn);
    println!("speech envelope correlation at the agent: {corr:.2}");
    assert!(
        corr > 0.8,
        "the agent's speaker does not follow the caller's speech (r = {corr:.2})"
    );
    assert!(rms(&heard) > 0.005);

    // The agent's tone at the caller's phone.
    let caller_heard = read_wav(&phone.heard().expect("baresip recorded the call")).unwrap();
    let blocks = tone_blocks(&caller_heard, &[1000]).len();
    println!(
        "caller heard the agent's 1 kHz in {blocks} of {} blocks of 100 ms",
        caller_heard.len() / 4800
    );
    assert!(blocks >= 30, "the caller hears the agent ({blocks} blocks)");

    // The supervisor heard both: the agent's tone, and the caller's voice beside it
    // (energy at speech frequencies, which the tone has none of).
    let sam_heard = eventually(10, "the supervisor's speaker file", || async {
        read_wav(&sam_speaker).ok().filter(|s| s.len() > 48_000 * 4)
    })
    .await;
    let blocks_with =
        |samples: &[f32], f: &dyn Fn(&[f32]) -> bool| samples.chunks_exact(4_800).filter(|b| f(b)).count();
    let agent_in_sam = blocks_with(&sam_heard, &|b| tone_level(b, 1000.0) > 0.02);
    let caller_in_sam = blocks_with(&sam_heard, &|b| {
        [150.0, 250.0, 350.0, 450.0, 550.0, 650.0]
            .iter()
            .map(|f| tone_level(b, *f))
            .sum::<f32>()
            > 0.02
    });
    println!(
        "supervisor heard the agent in {agent_in_sam} and the caller in {caller_in_sam} of {} blocks",
        sam_heard.len() / 4_800
    );
    assert!(
        listening > -30.0 && agent_in_sam >= 5 && caller_in_sam >= 5,
        "the supervisor hears both"
    );
    // ... and neither party heard the supervisor's 1.5 kHz tone. The caller's speech has
    // some 1.5 kHz in it (about 0.03 here); a tone as loud as the agent's, which the same
    // measure finds at the caller's phone (0.18-0.19: the microphone gain's -18 dBFS target,
    // the noise suppressor having taken the steady tone below it), would be well above 0.1.
    let loudest_at = |samples: &[f32], hz: f32| {
        samples
            .chunks_exact(4_800)
            .map(|b| tone_level(b, hz))
            .fold(0.0f32, f32::max)
    };
    let (sam_at_agent, sam_at_caller) = (loudest_at(&heard, 1500.0), loudest_at(&caller_heard, 1500.0));
    let agent_at_caller = loudest_at(&caller_heard, 1000.0);
    println!(
        "1.5 kHz at the agent {sam_at_agent:.4}, at the caller {sam_at_caller:.4}; 1 kHz at the caller {agent_at_caller:.4}"
    );
    assert!(agent_at_caller > 0.15, "the measure finds a tone that is there");
    assert!(sam_at_agent < 0.1 && sam_at_caller < 0.1, "the supervisor was heard");
}
