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

/// Room tokens for us (`agent-ours`) and LiveKit's SDK (`caller-sdk`) in `room`.
fn tokens(lk: &LiveKitStack, room: &str) -> (String, String) {
    (
        lk.room_token("agent-ours", room, true),
        lk.room_token("caller-sdk", room, true),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_room_session_and_livekits_own_client_hear_each_other() {
    tokio::time::timeout(Duration::from_secs(120), hear_each_other())
        .await
        .expect("finished within 2 minutes");
}

async fn hear_each_other() {
    let lk = LiveKitStack::start(false, &[]);
    let (ours, theirs) = tokens(&lk, "call-room");

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

/// A 5 s network cut between our session and the server: the server (and LiveKit's SDK as
/// the other participant) run in a network namespace whose link the test takes down. Our
/// session must not end: it resumes (signal `reconnect=1`, ICE restarts both ways) and the
/// audio is back both ways soon after the network. Needs root, as `cargo xtask test` has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_second_cut_resumes_the_room_session() {
    tokio::time::timeout(Duration::from_secs(150), cut())
        .await
        .expect("finished within 150 s");
}

async fn cut() {
    // The session's own account (a remote track that stops, a resume) is printed if this
    // fails: a failure seen once in a full suite left nothing to go on.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("switchboard_media=info")
        .with_test_writer()
        .try_init();
    let ns = switchboard_e2e::Netns::new();
    let lk = LiveKitStack::start_in(false, &[], Some((&ns.name, &ns.inner_ip)));
    let (ours, theirs) = tokens(&lk, "cut-room");

    let speaker = lk.dir.path().join("ours-heard.wav");
    let device = WavDevice::new(WavSource::Samples(Arc::new(sine(1_000.0, 0.3, 48_000))), true).recording_to(&speaker);
    let clock = device.clock();
    let session = RoomSession::join(&lk.url, &ours, Box::new(device), PeerConfig::default())
        .await
        .expect("joined the room across the link");
    let mut sdk = RoomPeer::join_in(&lk.url, &theirs, 440, Some(&ns.name));
    let mut events = session.subscribe();
    let wait_state = |want: MediaState, within: Duration| {
        let session = &session;
        let mut events = session.subscribe();
        async move {
            let until = tokio::time::Instant::now() + within;
            while session.state() != want {
                tokio::select! {
                    _ = events.recv() => {}
                    _ = tokio::time::sleep_until(until) => panic!("not {want:?} within {within:?}"),
                }
            }
        }
    };
    wait_state(MediaState::Connected, Duration::from_secs(20)).await;
    sdk.until_hears(1_000.0, 1.0, 8, Duration::from_secs(30));

    // The cut: 5 s without a network between us and the server.
    ns.link(false);
    let cut_at = std::time::Instant::now();
    wait_state(MediaState::Reconnecting, Duration::from_secs(5)).await;
    let sleep_left = Duration::from_secs(5).saturating_sub(cut_at.elapsed());
    tokio::time::sleep(sleep_left).await; // the cut's length is the condition under test
    ns.link(true);
    let up_at = std::time::Instant::now();

    // The session never closed, and is connected again.
    wait_state(MediaState::Connected, Duration::from_secs(20)).await;
    let connected_after = up_at.elapsed();
    let mut saw_closed = false;
    while let Ok(ev) = events.try_recv() {
        saw_closed |= matches!(
            ev,
            switchboard_media::session::MediaEvent::State {
                state: MediaState::Closed
            }
        );
    }
    assert!(!saw_closed, "the session closed during the cut");
    // The SDK hears us again ...
    sdk.until_hears(1_000.0, 0.5, 3, Duration::from_secs(20));
    let sdk_after = up_at.elapsed();
    // The session also resumed its signalling (the WebSocket may not have noticed a cut
    // this short, but the transports did): it completes, and the audio carries on after
    // the ICE restart it brings, both ways.
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while session.resumes() == 0 {
        assert!(
            std::time::Instant::now() < until,
            "the session never resumed its signalling"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let resumed_at = std::time::Instant::now();
    let after_resume = sdk.until_hears(1_000.0, 1.0, 8, Duration::from_secs(10));
    println!("the SDK after the resume (Hz per 100 ms): {}", after_resume["dominant"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    session.close().await;
    sdk.leave();
    let played = read_wav(&speaker).unwrap();
    let t0 = clock.lock().unwrap().unwrap();
    let at = |t: std::time::Instant| ((t.duration_since(t0).as_secs_f64() * 48_000.0) as usize).min(played.len());
    let first = played[at(up_at)..]
        .chunks_exact(4_800)
        .position(|b| tone_blocks(b, &[440]).len() == 1)
        .map(|i| i as f64 * 0.1);
    let since_resume = tone_blocks(&played[at(resumed_at)..], &[440]).len();
    println!(
        "after the network came back: connected in {:.2} s, the SDK heard us within {:.2} s, we heard it after {first:?} s; resumed {} time(s), after which we heard its tone in {since_resume} blocks",
        connected_after.as_secs_f64(),
        sdk_after.as_secs_f64(),
        session.resumes(),
    );
    assert!(since_resume >= 15, "we hear the other participant after the resume");
    let first = first.expect("we hear the other participant again");
    assert!(
        first <= 2.0,
        "our audio came back {first:.1} s after the network (at most 2 s)"
    );
    assert!(
        connected_after <= Duration::from_secs(2),
        "connected {connected_after:?} after the network"
    );
}
