//! Interop with an independent WebRTC stack: Debian's Chromium (headless, driven through
//! chromedriver) with its fake audio capture playing a 440 Hz WAV. Chromium offers, our
//! `PeerSession` answers; our microphone is a 1 kHz tone. Chromium's tone must arrive in our
//! speaker recording, and ours in Chromium, where a WebAudio analyser on the remote track
//! reports the dominant frequency back to the test.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use fantoccini::ClientBuilder;
use serde_json::json;
use switchboard_e2e::free_port;
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

/// An empty page on a loopback HTTP server (one fixed response to every request).
async fn page_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let body = "<!doctype html><title>interop</title><p>switchboard interop</p>";
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_our_session_hear_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let chrome_mic = dir.path().join("chrome-mic.wav");
    write_wav(&chrome_mic, &sine(440.0, 0.5, 48_000 * 20)).unwrap();
    let our_speaker = dir.path().join("our-speaker.wav");

    let port = free_port();
    let mut driver = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver (Debian chromium-driver; cargo xtask setup installs it)");
    let caps = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu",
                "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                format!("--use-file-for-fake-audio-capture={}", chrome_mic.display()),
                "--autoplay-policy=no-user-gesture-required",
                // Plain host candidates: our stack does not resolve Chrome's mDNS names.
                "--disable-features=WebRtcHideLocalIpsWithMdns",
            ]
        }
    });
    let caps = match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    };
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let browser = loop {
        match ClientBuilder::native().capabilities(caps.clone()).connect(&url).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "chromedriver did not start: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // getUserMedia needs a secure context: a page from http://127.0.0.1 is one.
    browser.goto(&page_server().await).await.unwrap();

    let offer = browser.execute_async(OFFER_JS, vec![]).await.unwrap();
    let offer = offer.as_str().unwrap().to_owned();
    assert!(!offer.starts_with("error"), "{offer}");

    let device =
        WavDevice::new(WavSource::Samples(Arc::new(sine(1000.0, 0.5, 48_000))), true).recording_to(&our_speaker);
    let ours = PeerSession::new(Box::new(device), PeerConfig::default()).await.unwrap();
    let answer = ours.answer(&offer).await.unwrap();
    let applied = browser.execute_async(ANSWER_JS, vec![json!(answer)]).await.unwrap();
    assert_eq!(applied.as_str(), Some("ok"), "{applied}");
    let mut events = ours.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ours.state() != MediaState::Connected {
        tokio::select! {
            _ = events.recv() => {}
            _ = tokio::time::sleep_until(deadline) => panic!("Chromium and our session did not connect"),
        }
    }

    let report = browser.execute_async(ANALYSE_JS, vec![]).await.unwrap();
    let report: serde_json::Value = serde_json::from_str(report.as_str().unwrap_or("{}")).unwrap_or(json!({}));
    println!("Chromium hears: {report}");
    ours.close().await;
    browser.close().await.ok();
    let _ = driver.start_kill();

    let heard = report["hz"].as_f64().unwrap_or(0.0);
    assert!((heard - 1000.0).abs() < 15.0, "Chromium's analyser: {report}");
    let ours_heard = read_wav(&our_speaker).unwrap();
    let tail = &ours_heard[ours_heard.len().saturating_sub(48_000)..];
    let f = dominant_frequency(tail).expect("audio from Chromium");
    assert!((f - 440.0).abs() < 15.0, "our speaker got {f} Hz from Chromium");
}
