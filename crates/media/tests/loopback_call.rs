//! Two WebRTC sessions in one process over loopback (real ICE, DTLS-SRTP, Opus, jitter
//! buffer): tones cross in both directions and are found by FFT at the far end; the
//! one-way delay from capture to playout is measured; hold, mute and DTMF act on the stream.

#![allow(clippy::print_stdout)] // figures are reported, not asserted

#[path = "support/connected.rs"]
mod connected;
use connected::wait_connected;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_media::SAMPLE_RATE;
use switchboard_media::device::{WavDevice, WavSource, read_wav};
use switchboard_media::peer::{PeerConfig, PeerSession};
use switchboard_media::session::{MediaEvent, MediaSession, MediaState};
use switchboard_media::tone::{dominant_frequency, hold_music, onset, rms, sine};

const RATE: usize = SAMPLE_RATE as usize;

/// 1 s of silence then 0.5 s of tone, looped: each burst onset is a timing mark.
fn bursts(freq: f32) -> Vec<f32> {
    let mut v = vec![0.0; RATE];
    v.extend(sine(freq, 0.5, RATE / 2));
    v
}

type Clock = Arc<std::sync::Mutex<Option<Instant>>>;

async fn session(mic: WavSource, record: &Path) -> (PeerSession, Clock) {
    let dev = WavDevice::new(mic, true).recording_to(record);
    let clock = dev.clock();
    let config = PeerConfig {
        loopback_only: true,
        ..PeerConfig::default()
    };
    let s = PeerSession::new(Box::new(dev), config).await.expect("session");
    (s, clock)
}

/// A plays `a_mic` and B stays silent, each recording what it hears into `dir`; the call
/// between them connected.
async fn silent_b_hears(a_mic: Vec<f32>, dir: &Path) -> (PeerSession, PeerSession, Clock) {
    let (a, _) = session(WavSource::Samples(Arc::new(a_mic)), &dir.join("a.wav")).await;
    let (b, b_clock) = session(WavSource::Silence, &dir.join("b.wav")).await;
    let answer = b.answer(&a.offer(false).await.expect("offer")).await.expect("answer");
    a.accept_answer(&answer).await.expect("accept");
    wait_connected(&a).await;
    wait_connected(&b).await;
    (a, b, b_clock)
}

fn started(c: &Clock) -> Instant {
    c.lock().expect("clock").expect("device started")
}

/// Onsets (sample index) of every tone burst in a recording.
fn burst_onsets(samples: &[f32]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut from = 0;
    while from < samples.len() {
        match onset(&samples[from..], 0.05) {
            Some(i) => {
                out.push(from + i);
                from += i + RATE; // skip this burst and the silence after it
            }
            None => break,
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tones_cross_both_ways_with_measured_delay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a_rec, b_rec) = (dir.path().join("a-speaker.wav"), dir.path().join("b-speaker.wav"));
    let (a, a_clock) = session(WavSource::Samples(Arc::new(bursts(1000.0))), &a_rec).await;
    let (b, b_clock) = session(WavSource::Samples(Arc::new(bursts(440.0))), &b_rec).await;

    let offer = a.offer(false).await.expect("offer");
    assert!(
        offer.contains("opus/48000") && offer.contains("telephone-event/48000"),
        "{offer}"
    );
    let answer = b.answer(&offer).await.expect("answer");
    a.accept_answer(&answer).await.expect("accept");
    wait_connected(&a).await;
    wait_connected(&b).await;

    // DTMF from A arrives at B as keys, once each.
    let mut b_events = b.subscribe();
    a.send_dtmf("12#").await.expect("dtmf");
    let mut keys = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while keys.len() < 3 {
        tokio::select! {
            ev = b_events.recv() => if let Ok(MediaEvent::Dtmf { key }) = ev { keys.push(key) },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    assert_eq!(keys, "12#");
    assert!(
        a.send_dtmf("9x").await.is_err(),
        "a bad key is refused before anything is sent"
    );

    // Six seconds of two-way audio: four timing marks each way. Meanwhile read the meters
    // as the UI would (20 times a second) and keep the loudest readings.
    let (mut b_out, mut b_in) = (-100.0f32, -100.0f32);
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let l = b.levels();
        b_out = b_out.max(l.output.rms_dbfs);
        b_in = b_in.max(l.input.rms_dbfs);
    }
    // A 0.5-peak sine is -9 dBFS RMS; allow for codec and the edges of the bursts.
    assert!(b_out > -20.0, "B's speaker meter never showed the tone: {b_out} dBFS");
    assert!(b_in > -20.0, "B's microphone meter never showed its tone: {b_in} dBFS");
    a.close().await;
    b.close().await;

    let (a_heard, b_heard) = (read_wav(&a_rec).expect("a wav"), read_wav(&b_rec).expect("b wav"));
    let mut delays = Vec::new();
    for (heard, clock_tx, clock_rx, freq) in [
        (&b_heard, &a_clock, &b_clock, 1000.0),
        (&a_heard, &b_clock, &a_clock, 440.0),
    ] {
        let onsets = burst_onsets(heard);
        assert!(
            onsets.len() >= 3,
            "expected bursts at {freq} Hz, found {}",
            onsets.len()
        );
        for &o in &onsets[1..] {
            let burst = &heard[o + RATE / 20..o + RATE / 4];
            let f = dominant_frequency(burst).expect("tone");
            assert!((f - freq).abs() < 15.0, "heard {f} Hz, sent {freq} Hz");
            // Time the burst was played at the receiver minus when the sender captured the
            // latest burst onset before it (bursts start every 1.5 s of the sender's clock).
            let heard_at = started(clock_rx) + Duration::from_secs_f64(o as f64 / RATE as f64);
            let since_tx_start = heard_at.duration_since(started(clock_tx)).as_secs_f64();
            let period = 1.5;
            let sent_at = (since_tx_start - 1.0) / period;
            let delay = since_tx_start - (sent_at.floor() * period + 1.0);
            delays.push(delay * 1000.0);
        }
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "capture-to-playout delay over loopback: min {:.0} ms, median {:.0} ms, max {:.0} ms ({} marks)",
        delays[0],
        delays[delays.len() / 2],
        delays[delays.len() - 1],
        delays.len()
    );
    assert!(delays[0] > 0.0 && delays[delays.len() - 1] < 1000.0, "{delays:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_mute_silence_the_microphone_and_a_source_can_replace_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, b_clock) = silent_b_hears(sine(1000.0, 0.5, RATE), dir.path()).await;

    // Each phase lasts 2 s; the checks skip the first 0.5 s of each for network and
    // jitter-buffer delay.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t_hold = Instant::now();
    a.set_hold(true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t_music = Instant::now();
    a.set_hold(false).await;
    a.controls().replace_source(Some(Arc::new(hold_music(RATE))));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t_mute = Instant::now();
    a.controls().replace_source(None);
    a.set_muted(true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    a.close().await;
    b.close().await;

    let heard = read_wav(&dir.path().join("b.wav")).expect("wav");
    let at = |t: Instant| ((t - started(&b_clock)).as_secs_f64() * RATE as f64) as usize;
    let window = |t: Instant| &heard[at(t) + RATE / 2..at(t) + RATE * 3 / 2];
    let f = dominant_frequency(window(t_hold - Duration::from_millis(1500))).expect("microphone tone");
    assert!((f - 1000.0).abs() < 15.0, "before hold: {f} Hz");
    let held = rms(window(t_hold));
    assert!(held < 0.01, "on hold the microphone still goes out: rms {held}");
    let f = dominant_frequency(window(t_music)).expect("replacement source");
    assert!(
        (f - 660.0).abs() < 15.0,
        "a replacement source is sent instead of the microphone, got {f} Hz"
    );
    let muted = rms(window(t_mute));
    assert!(muted < 0.01, "muted microphone still audible: rms {muted}");
}

/// Calls run on media threads that outlive whoever made them (see `threads`): a session
/// dropped without `close` must still end its call, or its connection would keep
/// answering the far end's connectivity checks, in silence, for the life of the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_dropped_without_closing_ends_its_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, _) = silent_b_hears(sine(1000.0, 0.5, RATE), dir.path()).await;

    let mut events = b.subscribe();
    drop(a);
    // The far end's connection notices within its disconnect time (2 s) at the latest.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.state() == MediaState::Connected {
        tokio::select! {
            _ = events.recv() => {}
            _ = tokio::time::sleep_until(deadline) => {
                panic!("the far end still counts the call as connected 10 s after ours was dropped")
            }
        }
    }
    assert!(
        matches!(b.state(), MediaState::Reconnecting | MediaState::Closed),
        "far end: {:?}",
        b.state()
    );
    b.close().await;
}
