//! Interop with an independent WebRTC stack: Debian's Chromium (headless, driven through
//! chromedriver) with its fake audio capture playing a 440 Hz WAV. Chromium offers, our
//! `PeerSession` answers; our microphone is a 1 kHz tone. Chromium's tone must arrive in our
//! speaker recording, and ours in Chromium, where a WebAudio analyser on the remote track
//! reports the dominant frequency back to the test.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard_e2e::chromium::{Chromium, serve};
use switchboard_media::device::{WavDevice, WavSource, read_wav, write_wav};
use switchboard_media::peer::{PeerConfig, PeerSession};
use switchboard_media::session::{MediaSession, MediaState};
use switchboard_media::tone::{dominant_frequency, sine};

const OFFER_JS: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  try {
    const pc = new RTCPeerConnection();
    window.pc = pc;
    const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    mic.getTracks().forEach(t => pc.addTrack(t, mic));
    pc.ontrack = e => { window.remote = e.streams[0] || new MediaStream([e.track]); };
    await pc.setLocalDescription(await pc.createOffer());
    if (pc.iceGatheringState !== 'complete') {
      await new Promise(r => pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r()));
    }
    done(pc.localDescription.sdp);
  } catch (e) { done('error: ' + e); }
})();
"#;

const ANSWER_JS: &str = r#"
const done = arguments[arguments.length - 1];
window.pc.setRemoteDescription({ type: 'answer', sdp: arguments[0] }).then(() => done('ok'), e => done('error: ' + e));
"#;

/// Listen to the remote track for a while and report the loudest frequency bin.
const ANALYSE_JS: &str = r#"
const done = arguments[arguments.length - 1];
(async () => {
  const until = Date.now() + 10000;
  while (!window.remote && Date.now() < until) await new Promise(r => setTimeout(r, 50));
  if (!window.remote) return done('error: no remote track');
  // Chrome only pulls remote WebRTC audio through WebAudio when a media element plays it.
  const el = new Audio(); el.srcObject = window.remote; el.muted = true; await el.play().catch(() => {});
  const ctx = new AudioContext();
  await ctx.resume();
  const an = ctx.createAnalyser(); an.fftSize = 8192;
  ctx.createMediaStreamSource(window.remote).connect(an);
  await new Promise(r => setTimeout(r, 3000));
  const bins = new Float32Array(an.frequencyBinCount);
  an.getFloatFrequencyData(bins);
  let best = 1;
  for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  done(JSON.stringify({ hz: best * ctx.sampleRate / an.fftSize, db: bins[best], state: window.pc.connectionState }));
})();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_our_session_hear_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let chrome_mic = dir.path().join("chrome-mic.wav");
    write_wav(&chrome_mic, &sine(440.0, 0.5, 48_000 * 20)).unwrap();
    let our_speaker = dir.path().join("our-speaker.wav");

    let chromium = Chromium::start(&chrome_mic).await;
    let page = b"<!doctype html><title>interop</title><p>switchboard interop</p>".to_vec();
    chromium
        .browser
        .goto(&serve(vec![("/", "text/html", page)]).await)
        .await
        .unwrap();

    let offer = chromium.run(OFFER_JS, vec![]).await;

    let device =
        WavDevice::new(WavSource::Samples(Arc::new(sine(1000.0, 0.5, 48_000))), true).recording_to(&our_speaker);
    let ours = PeerSession::new(Box::new(device), PeerConfig::default()).await.unwrap();
    let answer = ours.answer(&offer).await.unwrap();
    let applied = chromium.run(ANSWER_JS, vec![json!(answer)]).await;
    assert_eq!(applied, "ok");
    let mut events = ours.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ours.state() != MediaState::Connected {
        tokio::select! {
            _ = events.recv() => {}
            _ = tokio::time::sleep_until(deadline) => panic!("Chromium and our session did not connect"),
        }
    }

    let report = chromium.run(ANALYSE_JS, vec![]).await;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap_or(json!({}));
    println!("Chromium hears: {report}");
    ours.close().await;
    chromium.close().await;

    let heard = report["hz"].as_f64().unwrap_or(0.0);
    assert!((heard - 1000.0).abs() < 15.0, "Chromium's analyser: {report}");
    let ours_heard = read_wav(&our_speaker).unwrap();
    let tail = &ours_heard[ours_heard.len().saturating_sub(48_000)..];
    let f = dominant_frequency(tail).expect("audio from Chromium");
    assert!((f - 440.0).abs() < 15.0, "our speaker got {f} Hz from Chromium");
}
