//! A call over a network that loses packets: two WebRTC sessions over loopback inside a
//! network namespace of the test's own, where nftables drops one UDP datagram in ten
//! once the call is up (the kernel here has no netem). Each end's RTCP reception reports
//! say so, the encoder starts sending FEC, and the receiving end rebuilds lost frames
//! from it; when the loss stops, FEC goes off again. Needs root (`ip netns`, `nft`).
//!
//! The test runs itself again inside the namespace: `ip netns exec` is the only way to put
//! a process there without unsafe code, and the sessions bind their sockets in it.

#![allow(clippy::print_stdout)] // figures are reported, not asserted

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use switchboard_media::SAMPLE_RATE;
use switchboard_media::device::{WavDevice, WavSource, read_wav};
use switchboard_media::peer::{PeerConfig, PeerSession};
use switchboard_media::session::{MediaSession, MediaState};
use switchboard_media::tone::{caller_phrase, sine, tone_presence};

/// Set in the copy of the test that runs inside the namespace.
const INSIDE: &str = "SWITCHBOARD_LOSSY_NETNS";

fn nft(args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("nft (cargo xtask setup installs nftables): {e}"));
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "nft {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fec_follows_the_loss_the_far_end_reports_and_rebuilds_lost_frames() {
    if std::env::var_os(INSIDE).is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(lossy_call());
        return;
    }
    // The e2e crate's namespace (its link to ours goes unused: the call stays on loopback).
    let ns = switchboard_e2e::Netns::new();
    let status = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "fec_follows_the_loss_the_far_end_reports_and_rebuilds_lost_frames",
            "--nocapture",
        ])
        .env(INSIDE, &ns.name)
        .status()
        .expect("ip netns exec");
    assert!(status.success(), "the call inside the namespace failed: {status}");
}

/// Drop one outgoing UDP datagram in ten on every interface of this namespace (loopback
/// is all there is), or stop.
fn lossy(on: bool) {
    if on {
        nft(
            &["-f", "-"],
            Some(
                "table inet lossy {\n  chain out {\n    type filter hook output priority 0;\n    \
                 meta l4proto udp numgen random mod 10 0 drop\n  }\n}\n",
            ),
        );
    } else {
        nft(&["delete", "table", "inet", "lossy"], None);
    }
}

async fn session(mic: WavSource, record: &Path) -> PeerSession {
    let dev = WavDevice::new(mic, true).recording_to(record);
    let config = PeerConfig {
        loopback_only: true,
        ..PeerConfig::default()
    };
    PeerSession::new(Box::new(dev), config).await.expect("session")
}

/// Polls `check` every 100 ms until it gives a value, for at most `secs`.
async fn until<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn lossy_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rate = SAMPLE_RATE as usize;
    let (a_rec, b_rec) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    // The caller's phrase, not a steady tone: libopus sends FEC only for frames its voice
    // activity detector calls active, and it learns a steady tone as background noise.
    let a = session(WavSource::Samples(Arc::new(caller_phrase(10.0))), &a_rec).await;
    let b = session(WavSource::Samples(Arc::new(sine(500.0, 0.4, rate))), &b_rec).await;
    let answer = b.answer(&a.offer(false).await.expect("offer")).await.expect("answer");
    a.accept_answer(&answer).await.expect("accept");
    until(15, "both ends connected", || {
        (a.state() == MediaState::Connected && b.state() == MediaState::Connected).then_some(())
    })
    .await;
    // A clean network: audio flows and nothing is lost, so no FEC is sent.
    until(10, "b hears a", || (b.stats().jitter.played > 100).then_some(())).await;
    assert_eq!(a.controls().expected_loss(), 0);
    assert_eq!(b.stats().jitter.concealed, 0, "{:?}", b.stats().jitter);

    lossy(true);
    // Reception reports come about once a second; each end learns of the loss from the other.
    let expected = until(10, "a expecting loss", || {
        Some(a.controls().expected_loss()).filter(|&l| l > 0)
    })
    .await;
    until(10, "b expecting loss", || {
        (b.controls().expected_loss() > 0).then_some(())
    })
    .await;
    assert!((1..=30).contains(&expected), "a expects {expected} % loss");
    // Lost frames whose next packet came in time are rebuilt from its FEC.
    let stats = until(20, "b rebuilding 20 frames from FEC", || {
        Some(b.stats().jitter).filter(|s| s.rebuilt >= 20)
    })
    .await;
    println!("with 10 % of datagrams dropped: a expects {expected} % loss; b's counters {stats:?}");
    assert!(stats.rebuilt <= stats.concealed, "{stats:?}");

    lossy(false);
    // The loss is forgotten over a few reports, and FEC goes off again.
    until(20, "a expecting no loss again", || {
        (a.controls().expected_loss() == 0).then_some(())
    })
    .await;
    a.close().await;
    b.close().await;

    // Through it all, b heard a's phrase: its notes (330, 440 and 550 Hz, each 300 ms of
    // every 1.2 s at peak 0.3) measure about 0.15 each by presence, a note never heard
    // about 0. Presence, not one Goertzel sum over seconds: frames concealed or rebuilt
    // shift later notes' phase against earlier ones, and a coherent sum then cancels part
    // of a note plainly heard (a full-suite run once read 0.014 for the 330 Hz note so).
    let heard = read_wav(&b_rec).expect("wav");
    let tail = &heard[heard.len() / 2..];
    let levels: Vec<f32> = [330.0, 440.0, 550.0]
        .iter()
        .map(|&hz| tone_presence(tail, hz))
        .collect();
    let absent = tone_presence(tail, 1_000.0);
    println!("b heard the phrase's notes at {levels:?}, and 1 kHz (not in it) at {absent}");
    assert!(
        levels.iter().all(|&l| l > 0.06),
        "b heard the phrase's notes at {levels:?}"
    );
    assert!(absent < 0.02, "b heard 1 kHz, which a never sent, at {absent}");
}
