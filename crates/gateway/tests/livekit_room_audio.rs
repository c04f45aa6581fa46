//! The desktop's LiveKit room session (`switchboard_media::room`, our own signalling on
//! webrtc-rs) against the real `livekit-server` on loopback, with LiveKit's own client
//! SDK (PyPI `livekit`) in the same room: each hears the other's tone through the SFU.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use switchboard_e2e::livekit::{LiveKitStack, RoomPeer, blocks_near};
use switchboard_media::device::{WavDevice, WavSource, read_wav};
use switchboard_media::peer::PeerConfig;
use switchboard_media::room::RoomSession;
use switchboard_media::session::{MediaSession, MediaState};
use switchboard_media::tone::{sine, tone_blocks};
use switchboard_telephony::livekit::token::{self, ApiKey, VideoGrant};
use switchboard_telephony::secret::Secret;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_room_session_and_livekits_own_client_hear_each_other() {
    tokio::time::timeout(Duration::from_secs(120), hear_each_other())
        .await
        .expect("finished within 2 minutes");
}

async fn hear_each_other() {
    let lk = LiveKitStack::start(false, &[]);
    let key = ApiKey {
        key: lk.key.clone(),
        secret: Secret::new(lk.secret.clone()),
    };
    let grant = || VideoGrant {
        room_join: true,
        room: Some("call-room".into()),
        can_publish: Some(true),
        can_subscribe: Some(true),
        can_publish_data: Some(true),
        ..VideoGrant::default()
    };
    let ours = token::mint_for(&key, "agent-ours", 600, Some(grant()), None);
    let theirs = token::mint_for(&key, "caller-sdk", 600, Some(grant()), None);

    let speaker = lk.dir.path().join("ours-heard.wav");
    let device = WavDevice::new(WavSource::Samples(Arc::new(sine(1_000.0, 0.3, 48_000))), true).recording_to(&speaker);
    let session = RoomSession::join(
        &lk.url,
        &ours,
        Box::new(device),
        PeerConfig {
            loopback_only: true,
            ..PeerConfig::default()
        },
    )
    .await
    .expect("joined the room");
    assert_eq!(session.identity, "agent-ours");

    let mut sdk = RoomPeer::join(&lk.url, &theirs, 440);
    assert!(sdk.saw("agent-ours"), "the SDK sees us in the room: {}", sdk.joined);
    let mut events = session.subscribe();
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while session.state() != MediaState::Connected {
        tokio::select! {
            _ = events.recv() => {}
            _ = tokio::time::sleep_until(until) => panic!("our publisher never connected"),
        }
    }
    let heard = sdk.until_hears(1_000.0, 1.0, 8, Duration::from_secs(30));
    println!("the SDK heard (Hz per 100 ms): {}", heard["dominant"]);
    // Two more seconds of both talking, then what our speaker played.
    let more = sdk.listen(2.0);
    assert!(blocks_near(&more["dominant"], 1_000.0) >= 16, "{more}");
    session.close().await;
    sdk.leave();
    let played = read_wav(&speaker).unwrap();
    let caller = tone_blocks(&played, &[440]).len();
    println!(
        "our speaker played the SDK's 440 Hz in {caller} of {} blocks of 100 ms",
        played.len() / 4_800
    );
    assert!(caller >= 20, "we hear the other participant");
}
