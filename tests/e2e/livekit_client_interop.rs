//! Our LiveKit room session against LiveKit's own browser SDK: npm `livekit-client` (the
//! UMD bundle from `tests/node`, loaded into a page) running in Debian's headless Chromium,
//! both in one room of the real `livekit-server` on loopback. Chromium's microphone is a
//! 440 Hz tone (its fake capture device); ours plays 1 kHz timing marks.
//!
//! - Chromium hears our marks: a WebAudio analyser on the track livekit-client subscribed
//!   to reports the loudest frequency every 100 ms.
//! - We hear Chromium's tone on our speaker.
//! - A second room session of ours joins listen-only and records the room: the delay from
//!   our capture to our playout through the SFU is read from its recording and printed
//!   (the 1 kHz marks are isolated from Chromium's 440 Hz by a band-pass filter first).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_e2e::chromium::{Chromium, serve};
use switchboard_e2e::livekit::LiveKitStack;
use switchboard_media::device::{WavDevice, WavSource, read_wav, write_wav};
use switchboard_media::peer::PeerConfig;
use switchboard_media::pipeline::PipelineConfig;
use switchboard_media::room::RoomSession;
use switchboard_media::session::{MediaSession, MediaState};
use switchboard_media::tone::{band_pass, mark_delays, marks, sine, tone_blocks};

/// Join the room with livekit-client: subscribe to every audio track (kept per
/// participant in `window.remote`), publish the microphone without browser processing.
const JOIN_JS: &str = r#"
const [url, token] = arguments;
const done = arguments[arguments.length - 1];
(async () => {
  // livekit-client's own log, for a failing test to print.
  window.logs = [];
  LivekitClient.setLogLevel('debug');
  LivekitClient.setLogExtension((level, msg, ctx) => window.logs.push(level + ' ' + msg + ' ' + JSON.stringify(ctx || {})));
  const late = setTimeout(() => done('error: not joined within 25 s: ' + window.logs.filter(l => !l.startsWith('1 ')).map(l => l.slice(0, 300)).join('\n')), 25000);
  try {
    const { Room, RoomEvent } = LivekitClient;
    const room = new Room();
    window.room = room;
    window.remote = {};
    room.on(RoomEvent.TrackSubscribed, (track, _publication, who) => {
      if (track.kind === 'audio') window.remote[who.identity] = new MediaStream([track.mediaStreamTrack]);
    });
    await room.connect(url, token);
    await room.localParticipant.setMicrophoneEnabled(true, { echoCancellation: false, noiseSuppression: false, autoGainControl: false });
    clearTimeout(late);
    done(JSON.stringify({
      identity: room.localParticipant.identity,
      state: room.state,
      remote: [...room.remoteParticipants.values()].map(p => p.identity),
    }));
  } catch (e) { clearTimeout(late); done('error: ' + e + '\n' + window.logs.slice(-30).join('\n')); }
})();
"#;

/// Listen to `identity`'s track for `seconds`: the loudest frequency (Hz) and its level
/// (dBFS) every 100 ms, with no smoothing between readings.
const LISTEN_JS: &str = r#"
const [identity, seconds] = arguments;
const done = arguments[arguments.length - 1];
(async () => {
  const until = Date.now() + 15000;
  while (!window.remote[identity] && Date.now() < until) await new Promise(r => setTimeout(r, 50));
  const stream = window.remote[identity];
  if (!stream) return done('error: no track from ' + identity + ' (subscribed: ' + Object.keys(window.remote) + ')');
  // Chrome only feeds remote WebRTC audio to WebAudio while a media element plays it.
  const el = new Audio(); el.srcObject = stream; el.muted = true; await el.play().catch(() => {});
  const ctx = new AudioContext();
  await ctx.resume();
  const an = ctx.createAnalyser(); an.fftSize = 4096; an.smoothingTimeConstant = 0;
  ctx.createMediaStreamSource(stream).connect(an);
  const bins = new Float32Array(an.frequencyBinCount);
  const blocks = [];
  for (let n = 0; n < seconds * 10; n++) {
    await new Promise(r => setTimeout(r, 100));
    an.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    blocks.push([Math.round(best * ctx.sampleRate / an.fftSize), Math.round(bins[best])]);
  }
  done(JSON.stringify({ blocks, state: window.room.state }));
})();
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_room_session_and_livekit_client_in_chromium_hear_each_other() {
    tokio::time::timeout(Duration::from_secs(150), hear_each_other())
        .await
        .expect("finished within 150 s");
}

/// A recording device playing `mic` (looped) and writing what it plays to `speaker`, with
/// the instant its clock started.
fn device(mic: Vec<f32>, speaker: &std::path::Path) -> (WavDevice, Arc<std::sync::Mutex<Option<Instant>>>) {
    let dev = WavDevice::new(WavSource::Samples(Arc::new(mic)), true).recording_to(speaker);
    let clock = dev.clock();
    (dev, clock)
}

async fn connected(session: &RoomSession, who: &str) {
    let mut events = session.subscribe();
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while session.state() != MediaState::Connected {
        tokio::select! {
            _ = events.recv() => {}
            _ = tokio::time::sleep_until(until) => panic!("{who}'s session did not connect within 20 s"),
        }
    }
}

async fn hear_each_other() {
    let lk = LiveKitStack::start(false, &[]);
    let room = "browser-room";
    let dir = tempfile::tempdir().unwrap();
    // The path is measured, so no voice processing (the bench's room path does the same).
    let config = PeerConfig {
        loopback_only: true,
        pipeline: PipelineConfig {
            voice_processing: false,
            ..PipelineConfig::default()
        },
        ..PeerConfig::default()
    };

    let ours_heard = dir.path().join("ours-heard.wav");
    let (dev, agent_clock) = device(marks(), &ours_heard);
    let agent = RoomSession::join(
        &lk.url,
        &lk.room_token("agent-ours", room, true),
        Box::new(dev),
        config.clone(),
    )
    .await
    .expect("our session joined");
    connected(&agent, "our agent").await;

    let chrome_mic = dir.path().join("chrome-mic.wav");
    write_wav(&chrome_mic, &sine(440.0, 0.2, 48_000 * 30)).unwrap();
    let chromium = Chromium::start(&chrome_mic).await;
    let bundle = switchboard_e2e::node_dir().join("node_modules/livekit-client/dist/livekit-client.umd.js");
    let bundle = std::fs::read(&bundle).unwrap_or_else(|e| panic!("{}: {e} (cargo xtask setup)", bundle.display()));
    let page = b"<!doctype html><title>livekit-client</title><script src=\"/livekit-client.umd.js\"></script>".to_vec();
    let site = serve(vec![
        ("/", "text/html", page),
        ("/livekit-client.umd.js", "text/javascript", bundle),
    ])
    .await;
    chromium.browser.goto(&site).await.unwrap();
    let joined = chromium
        .run(
            JOIN_JS,
            vec![json!(lk.url), json!(lk.room_token("browser", room, true))],
        )
        .await;
    println!("livekit-client joined: {joined}");
    let joined: serde_json::Value = serde_json::from_str(&joined).unwrap();
    assert_eq!(joined["state"], "connected", "{joined}");
    assert!(
        joined["remote"].as_array().unwrap().iter().any(|r| r == "agent-ours"),
        "livekit-client sees our session in the room: {joined}"
    );

    let listener_heard = dir.path().join("listener-heard.wav");
    let (dev, listener_clock) = device(vec![0.0; 4_800], &listener_heard);
    let listener = RoomSession::join(
        &lk.url,
        &lk.room_token("listener-ours", room, false),
        Box::new(dev),
        config,
    )
    .await
    .expect("our listen-only session joined");
    assert!(
        !listener.publishes(),
        "a token without publish rights gives a listen-only session"
    );
    connected(&listener, "our listener").await;

    // Chromium listens to us for 8 s while we all keep playing.
    let report = chromium.run(LISTEN_JS, vec![json!("agent-ours"), json!(8)]).await;
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let blocks = report["blocks"].as_array().unwrap();
    let ours_in_chromium = blocks
        .iter()
        .filter(|b| (b[0].as_f64().unwrap() - 1_000.0).abs() < 15.0 && b[1].as_f64().unwrap() > -60.0)
        .count();
    println!("Chromium's analyser (Hz, dBFS per 100 ms): {}", report["blocks"]);
    println!(
        "Chromium heard our 1 kHz marks in {ours_in_chromium} of {} readings",
        blocks.len()
    );
    // The marks sound 40% of the time; a reading straddles a mark's edge now and then.
    assert!(
        ours_in_chromium >= blocks.len() / 4,
        "Chromium hears our marks: {report}"
    );
    assert_eq!(report["state"], "connected", "{report}");

    agent.close().await;
    listener.close().await;
    chromium.close().await;

    let played = read_wav(&ours_heard).unwrap();
    let chrome_blocks = tone_blocks(&played, &[440]).len();
    println!(
        "our speaker played Chromium's 440 Hz in {chrome_blocks} of {} blocks of 100 ms",
        played.len() / 4_800
    );
    assert!(chrome_blocks >= 40, "we hear livekit-client's tone");

    let t_agent = agent_clock.lock().unwrap().expect("agent device started");
    let t_listener = listener_clock.lock().unwrap().expect("listener device started");
    let recorded = read_wav(&listener_heard).unwrap();
    let tones = tone_blocks(&recorded, &[440, 1_000]);
    let count = |hz| tones.iter().filter(|t| **t == hz).count();
    println!(
        "our listener played 1 kHz in {} and 440 Hz in {} of {} blocks of 100 ms",
        count(1_000),
        count(440),
        recorded.len() / 4_800
    );
    // Listen-only, it hears both participants (each sender is decoded on its own).
    assert!(count(1_000) >= 15 && count(440) >= 15, "our listener hears both of us");
    let heard = band_pass(&recorded, 1_000.0, 10.0);
    let delays = mark_delays(&heard, t_listener.duration_since(t_agent).as_secs_f64());
    assert!(
        delays.len() >= 8,
        "our listener heard our marks through the SFU: {} marks ({delays:?})",
        delays.len()
    );
    let at = |p: f64| delays[((delays.len() - 1) as f64 * p).round() as usize];
    println!(
        "capture → SFU → playout, our sessions in the browser's room: p50 {:.1} ms, p99 {:.1} ms ({} marks)",
        at(0.5),
        at(0.99),
        delays.len()
    );
}
