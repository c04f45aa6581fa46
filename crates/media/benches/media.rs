//! `cargo xtask bench media`: figures for the call audio engine, printed, never asserted.
//!
//! 1. Capture-to-playout delay through two WebRTC sessions over loopback (real ICE,
//!    DTLS-SRTP, Opus, jitter buffer, WAV devices paced in real time): timing marks (tone
//!    bursts) are found in the far end's recording; p50 and p99 over four calls whose far
//!    ends start 0, 5, 10 and 15 ms after the agent's (the phase of two unrelated clocks).
//! 2. CPU per active call with 20 concurrent calls: the agent ends in this process and the
//!    far ends in a child process (this binary run with `far-ends`), each from its own
//!    user+system time over the same window, so the agent's end (the desktop's cost of a
//!    call) is seen apart; bypassed, with processing, and with processing but the calls on
//!    the caller's runtime instead of media threads (`PeerConfig::own_thread`), taking
//!    turns, three rounds each, medians. Beside it, as its anchor, the codec alone: one
//!    stream encoded and decoded on one thread (one end's codec work), and the voice
//!    processing module alone on one thread, with each of its parts taken away in turn, so
//!    a reader sees what each part costs, and twenty modules taking frames in turn (as
//!    twenty calls' do, competing for the caches).
//!
//! Each is measured with WebRTC voice processing (AEC/NS/AGC) on the agent side and
//! without it, so its cost is visible. Between them, the delay by stage: what each stage
//! holds by design, how far the processing module moves the marks' onsets (offline), and
//! the jitter buffer's floor at two frames against one, measured in the same run.
//!
//! 3. The LiveKit path, next to the direct peer in the same run: two room sessions in one
//!    room of a real `livekit-server` on loopback (built by `cargo xtask setup`), the
//!    agent's marks going capture → SFU → playout; p50 and p99. Then CPU per call with 10
//!    concurrent rooms (20 room sessions in this process), ours and the SFU's.

#![allow(clippy::print_stdout)] // figures are reported, not asserted

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_media::FRAME_SAMPLES;
use switchboard_media::codec::{OpusDecoder, OpusEncoder};
use switchboard_media::device::{WavDevice, WavSource, read_wav};
use switchboard_media::jitter::JitterStats;
use switchboard_media::peer::{PeerConfig, PeerSession};
use switchboard_media::pipeline::PipelineConfig;
use switchboard_media::processing::{VoiceProcessor, WebrtcProcessor, apm, shipped_config};
use switchboard_media::room::RoomSession;
use switchboard_media::session::{MediaSession, MediaState};
use switchboard_media::tone::{self, marks};

// Not beside this file: cargo would take a file there for a benchmark of its own.
#[path = "media/threads.rs"]
mod threads;

type Clock = Arc<std::sync::Mutex<Option<Instant>>>;

/// The far end's device: a caller's phrase, recorded to `record` when given.
fn far_end(record: Option<&std::path::Path>) -> (WavDevice, Clock) {
    let mut dev = WavDevice::new(
        WavSource::Samples(Arc::new(switchboard_media::tone::caller_phrase(10.0))),
        true,
    );
    if let Some(r) = record {
        dev = dev.recording_to(r);
    }
    let clock = dev.clock();
    (dev, clock)
}

/// The agent's pipeline as shipped, with or without voice processing.
fn agent_pipeline(processing: bool) -> PipelineConfig {
    PipelineConfig {
        voice_processing: processing,
        ..PipelineConfig::default()
    }
}

/// The far end's pipeline as shipped: no processing (it only records what it hears).
fn far_pipeline() -> PipelineConfig {
    PipelineConfig {
        voice_processing: false,
        ..PipelineConfig::default()
    }
}

/// A direct peer's settings with `pipeline`, its candidates on loopback only.
fn on_loopback(pipeline: PipelineConfig) -> PeerConfig {
    PeerConfig {
        loopback_only: true,
        pipeline,
        ..PeerConfig::default()
    }
}

/// A call over loopback with both ends in this process, the far end's device and engine
/// started `far_after` later than the agent's.
async fn call_with(
    agent_pipeline: PipelineConfig,
    far_pipeline: PipelineConfig,
    agent_mic: WavSource,
    record: Option<&std::path::Path>,
    far_after: Duration,
) -> (PeerSession, PeerSession, Clock, Clock) {
    let agent_dev = WavDevice::new(agent_mic, true);
    let agent_clock = agent_dev.clock();
    let (far_dev, far_clock) = far_end(record);
    let (agent_cfg, far_cfg) = (on_loopback(agent_pipeline), on_loopback(far_pipeline));
    let agent = PeerSession::new(Box::new(agent_dev), agent_cfg)
        .await
        .expect("agent session");
    tokio::time::sleep(far_after).await;
    let far = PeerSession::new(Box::new(far_dev), far_cfg).await.expect("far session");
    let answer = far
        .answer(&agent.offer(false).await.expect("offer"))
        .await
        .expect("answer");
    agent.accept_answer(&answer).await.expect("accept");
    connected(&agent).await;
    connected(&far).await;
    (agent, far, agent_clock, far_clock)
}

/// Wait until `s` is connected (20 s at most).
async fn connected(s: &dyn MediaSession) {
    let mut rx = s.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while s.state() != MediaState::Connected {
        tokio::select! {
            _ = rx.recv() => {}
            _ = tokio::time::sleep_until(deadline) => panic!("room session did not connect"),
        }
    }
}

/// An agent and a far end in room `room`, as two room sessions through the SFU.
async fn room_call(
    lk: &switchboard_e2e::livekit::LiveKitStack,
    room: &str,
    agent_mic: WavSource,
    record: Option<&std::path::Path>,
) -> (RoomSession, RoomSession, Clock, Clock) {
    let cfg = PeerConfig {
        loopback_only: true,
        pipeline: PipelineConfig {
            voice_processing: false,
            ..PipelineConfig::default()
        },
        ..PeerConfig::default()
    };
    let agent_dev = WavDevice::new(agent_mic, true);
    let agent_clock = agent_dev.clock();
    let (far_dev, far_clock) = far_end(record);
    let join = |who: &str, dev: WavDevice| {
        let t = lk.room_token(who, room, true);
        let (url, cfg) = (lk.url.clone(), cfg.clone());
        async move { RoomSession::join(&url, &t, Box::new(dev), cfg).await.expect("joined") }
    };
    let agent = join("agent", agent_dev).await;
    let far = join("far", far_dev).await;
    connected(&agent).await;
    connected(&far).await;
    (agent, far, agent_clock, far_clock)
}

/// Delays (ms) of the marks found in `rec`, sent from `t_agent`, heard from `t_far`.
fn mark_delays(rec: &std::path::Path, t_agent: Instant, t_far: Instant) -> Vec<f64> {
    let heard = read_wav(rec).expect("recording");
    // Signed: the far end's device may have started first.
    let after =
        t_far.saturating_duration_since(t_agent).as_secs_f64() - t_agent.saturating_duration_since(t_far).as_secs_f64();
    tone::mark_delays(&heard, after)
}

async fn room_delay(lk: &switchboard_e2e::livekit::LiveKitStack) -> (Vec<f64>, Heard) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("far.wav");
    let (agent, far, agent_clock, far_clock) =
        room_call(lk, "bench-delay", WavSource::Samples(Arc::new(marks())), Some(&rec)).await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let stats = far.peer().stats();
    let heard = Heard(stats.jitter, stats.playback_underruns, far.peer().playout_target());
    agent.close().await;
    far.close().await;
    let t_agent = agent_clock.lock().expect("c").expect("started");
    let t_far = far_clock.lock().expect("c").expect("started");
    (mark_delays(&rec, t_agent, t_far), heard)
}

/// CPU seconds (user + system) of process `pid` (or `self`).
fn cpu_seconds_of(pid: &str) -> f64 {
    // utime + stime (fields 14 and 15) in clock ticks of 1/100 s on Linux.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// The SFU's process id (the `livekit-server` this run started).
fn sfu_pid() -> Option<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-n", "-x", "livekit-server"])
        .output()
        .ok()?;
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!pid.is_empty()).then_some(pid)
}

/// CPU per call (% of a core): ours and the SFU's, with `calls` rooms of two sessions.
async fn room_cpu_per_call(lk: &switchboard_e2e::livekit::LiveKitStack, calls: usize) -> (f64, f64) {
    let mut live = Vec::new();
    for n in 0..calls {
        let mic = WavSource::Samples(Arc::new(switchboard_media::tone::caller_phrase(10.0)));
        live.push(room_call(lk, &format!("bench-cpu-{n}"), mic, None).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sfu = sfu_pid().unwrap_or_default();
    let (c0, s0, t0) = (cpu_seconds(), cpu_seconds_of(&sfu), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (c1, s1, t1) = (cpu_seconds(), cpu_seconds_of(&sfu), Instant::now());
    for (a, f, _, _) in live {
        a.close().await;
        f.close().await;
    }
    let per = |d: f64| d / (t1 - t0).as_secs_f64() / calls as f64 * 100.0;
    (per(c1 - c0), per(s1 - s0))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

async fn delay(processing: bool) -> (Vec<f64>, Heard) {
    delay_with(agent_pipeline(processing), far_pipeline()).await
}

/// Where the far end's 20 ms device period and 10 ms engine tick fall against the agent's
/// (ms). Two machines' clocks have unrelated phases, and a frame waits for the next device
/// period or tick by an amount that depends on them; a call in one process would otherwise
/// start both ends in step and measure a single, arbitrary phase.
const FAR_PHASES_MS: [u64; 4] = [0, 5, 10, 15];

/// Delays (ms, sorted) of the marks over one call per far-end phase, and what the far
/// end's jitter buffer and speaker did meanwhile.
async fn delay_with(agent: PipelineConfig, far: PipelineConfig) -> (Vec<f64>, Heard) {
    let mut all = Vec::new();
    let mut heard = Heard::default();
    for phase in FAR_PHASES_MS {
        let dir = tempfile::tempdir().expect("tempdir");
        let rec = dir.path().join("far.wav");
        let mic = WavSource::Samples(Arc::new(marks()));
        let (a, f, agent_clock, far_clock) = call_with(agent, far, mic, Some(&rec), Duration::from_millis(phase)).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let stats = f.stats();
        heard.0 += stats.jitter;
        heard.1 += stats.playback_underruns;
        heard.2 = heard.2.max(f.playout_target());
        a.close().await;
        f.close().await;
        let (t_agent, t_far) = (
            agent_clock.lock().expect("c").expect("started"),
            far_clock.lock().expect("c").expect("started"),
        );
        all.extend(mark_delays(&rec, t_agent, t_far));
    }
    all.sort_by(f64::total_cmp);
    (all, heard)
}

/// The far ends' jitter counters and speaker gaps (samples), summed over a run's calls:
/// what explains a delay that stepped up mid-call.
#[derive(Default)]
struct Heard(JitterStats, u64, usize);

impl std::fmt::Display for Heard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let j = &self.0;
        write!(
            f,
            "far ends heard {} packets: {} late, {} concealed, {} stretched, {} shrunk; speaker gaps {} samples, fill at the end up to {:.0} ms",
            j.received,
            j.late,
            j.concealed,
            j.stretched,
            j.shrunk,
            self.1,
            self.2 as f64 / 48.0
        )
    }
}

fn cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

/// This thread's CPU time in seconds, to the nanosecond (`/proc/thread-self/schedstat`'s
/// first field), where `/proc/.../stat` counts 10 ms ticks.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1e9
}

/// % of a core per stream played in real time that `pass` costs, on a thread of its own
/// and timed by that thread's own CPU time (so other threads' load is not counted).
/// `pass` works through some audio frame by frame and answers how many frames it did;
/// it is repeated for at least `seconds` of CPU.
fn cpu_per_stream(seconds: f64, mut pass: impl FnMut() -> u64 + Send + 'static) -> f64 {
    std::thread::spawn(move || {
        let (mut frames, c0) = (0_u64, thread_cpu_seconds());
        while thread_cpu_seconds() - c0 < seconds {
            frames += pass();
        }
        let audio = frames as f64 * FRAME_SAMPLES as f64 / f64::from(switchboard_media::SAMPLE_RATE);
        (thread_cpu_seconds() - c0) / audio * 100.0
    })
    .join()
    .expect("measuring thread")
}

/// The codec alone, as the anchor for CPU per call: one stream of the caller's phrase
/// encoded and decoded frame by frame with the engine's encoder and decoder settings,
/// the encoder fed at `send_rate` (the engine's [`switchboard_media::SEND_RATE`], or the
/// devices' 48 kHz as the anchor has it) and the decoder giving 48 kHz. `loss`:
/// the loss (percent) the encoder expects, which makes it send FEC when above zero.
fn codec_cpu_per_stream(loss: u8, send_rate: u32) -> f64 {
    let phrase = switchboard_media::tone::caller_phrase(10.0);
    let phrase = if send_rate == switchboard_media::SAMPLE_RATE {
        phrase
    } else {
        assert_eq!(send_rate, switchboard_media::SEND_RATE, "48 kHz or the send rate");
        switchboard_media::resample::decimate_loop(&phrase)
    };
    let frame = (send_rate / 1000 * switchboard_media::FRAME_MS) as usize;
    let mut enc = OpusEncoder::at_rate(send_rate).expect("encoder");
    enc.expect_loss(loss).expect("expected loss");
    let mut dec = OpusDecoder::new().expect("decoder");
    let mut out = vec![0.0; FRAME_SAMPLES];
    cpu_per_stream(2.0, move || {
        for f in phrase.chunks_exact(frame) {
            let packet = enc.encode(f).expect("encode");
            dec.decode(packet, &mut out).expect("decode");
        }
        (phrase.len() / frame) as u64
    })
}

/// Voice processing alone, as [`codec_cpu_per_stream`] measures the codec: one stream's
/// capture (the agent's marks with the far end's echo in them) and render (the far end)
/// through the module with `config` (and our gain after it when `own_gain`), for `seconds`
/// of CPU.
fn processing_cpu_per_stream(config: apm::Settings, own_gain: bool, seconds: f64) -> f64 {
    processing_cpu_per_stream_of(1, config, own_gain, seconds)
}

/// [`processing_cpu_per_stream`] with `instances` modules taking frames in turn, as a
/// process with that many calls has them (each its own state, competing for the caches).
fn processing_cpu_per_stream_of(instances: usize, config: apm::Settings, own_gain: bool, seconds: f64) -> f64 {
    let mut apms: Vec<WebrtcProcessor> = (0..instances)
        .map(|_| WebrtcProcessor::with_config(config, own_gain).expect("webrtc-audio-processing"))
        .collect();
    let (far, near) = far_and_near();
    // One buffer for what is sent, reused each frame, so the figure holds no allocation of
    // ours.
    let mut sent = vec![0.0; switchboard_media::SEND_FRAME];
    cpu_per_stream(seconds, move || {
        for (heard, said) in far.chunks_exact(FRAME_SAMPLES).zip(near.chunks_exact(FRAME_SAMPLES)) {
            for apm in &mut apms {
                apm.render(heard);
                apm.capture(said, &mut sent);
            }
        }
        (instances * far.len() / FRAME_SAMPLES) as u64
    })
}

/// What the processing benchmarks feed a module: the far end (the caller's phrase, 10 s)
/// and the microphone (the agent's marks with that phrase's echo in them).
fn far_and_near() -> (Vec<f32>, Vec<f32>) {
    let far = tone::caller_phrase(10.0);
    let near = marks()
        .iter()
        .cycle()
        .zip(&far)
        .map(|(own, echo)| own + 0.3 * echo)
        .collect();
    (far, near)
}

/// The module with the shipped settings, its processed microphone given at 48 kHz (as the
/// engine had it before it sent at 16 kHz: the module then works in three bands) and at
/// 16 kHz, taking turns in five rounds of half a second of CPU; medians, % of a core.
fn module_by_output_rate() -> (f64, f64) {
    let (far, near) = far_and_near();
    let far = Arc::new(far);
    let near = Arc::new(near);
    let measure = |output_rate: u32| {
        let mut module = apm::Apm::new(apm::Settings {
            output_rate,
            ..shipped_config()
        })
        .expect("webrtc-audio-processing");
        let (far, near) = (far.clone(), near.clone());
        let block = switchboard_media::SAMPLE_RATE as usize / 100;
        let mut out = vec![0.0; output_rate as usize / 100];
        cpu_per_stream(0.5, move || {
            for (heard, said) in far.chunks_exact(block).zip(near.chunks_exact(block)) {
                module.render(heard).expect("render");
                module.capture(said, &mut out).expect("capture");
            }
            // In 20 ms frames, as cpu_per_stream counts.
            (far.len() / FRAME_SAMPLES) as u64
        })
    };
    let (mut wide, mut sent) = (Vec::new(), Vec::new());
    for _round in 0..5 {
        wide.push(measure(switchboard_media::SAMPLE_RATE));
        sent.push(measure(switchboard_media::SEND_RATE));
    }
    (median(wide), median(sent))
}

/// The module's gain control as shipped before ours replaced it ([`switchboard_media::gain`]):
/// adaptive digital, -6 dBFS target, 9 dB compression, limiter; with it the library also
/// runs its analog AGC manager.
fn library_gain_control() -> apm::LibraryGain {
    apm::LibraryGain {
        target_level_dbfs: 6,
        compression_gain_db: 9,
        limiter: true,
    }
}

/// Where voice processing's CPU goes: the shipped settings, then each part taken away in
/// turn, then the library's gain control in place of ours. The settings take turns in
/// five rounds of half a second of CPU each and each figure is its median, so a change in
/// the machine's speed during the run (seen here: one part's share moving sixfold between
/// two runs measured one after the other) hits every setting alike. Answers the shipped
/// settings' figure.
fn processing_breakdown() -> f64 {
    /// A part, and how to take it away: from the module's settings, or (`false`) our gain.
    type Part = (&'static str, fn(&mut apm::Settings, &mut bool));
    let parts: [Part; 7] = [
        ("", |_, _| {}),
        ("the echo canceller", |c, _| c.echo = None),
        ("its extended filter (the rest of it kept)", |c, _| {
            if let Some(ec) = c.echo.as_mut() {
                ec.extended_filter = false;
            }
        }),
        ("our gain control", |_, own| *own = false),
        ("noise suppression", |c, _| c.noise = None),
        (
            "everything but the resampling to 16 kHz and the high-pass filter",
            |c, own| {
                (c.echo, c.noise, *own) = (None, None, false);
            },
        ),
        ("the library's gain control in place of ours", |c, own| {
            (c.gain, *own) = (Some(library_gain_control()), false)
        }),
    ];
    let mut figures = vec![Vec::new(); parts.len()];
    for _round in 0..5 {
        for ((_, change), got) in parts.iter().zip(&mut figures) {
            let (mut config, mut own_gain) = (shipped_config(), true);
            change(&mut config, &mut own_gain);
            got.push(processing_cpu_per_stream(config, own_gain, 0.5));
        }
    }
    let medians: Vec<f64> = figures.into_iter().map(median).collect();
    let all = medians[0];
    println!(
        "  voice processing alone, one stream offline (capture + render, one thread, median of 5): {all:.2}% of a core"
    );
    let (wide, sent) = module_by_output_rate();
    println!(
        "    the module alone (no gain of ours) giving the microphone at 16 kHz, as shipped: {sent:.2}%; at 48 kHz, as before (three-band split): {wide:.2}%; 16 kHz costs {:.2}x",
        sent / wide.max(1e-9)
    );
    let (library, without) = medians[1..].split_last().expect("parts");
    for ((what, _), left) in parts[1..].iter().zip(without) {
        println!(
            "    without {what}: {left:.2}% ({:.2}x; that part {:.2}%)",
            left / all.max(1e-9),
            all - left
        );
    }
    println!(
        "    with the library's gain control (and its analog AGC manager) in place of ours, as shipped before: {library:.2}% ({:.2}x)",
        library / all.max(1e-9)
    );
    all
}

/// CPU per active call, % of a core: the agent ends in this process and the far ends in a
/// child process ([`far_ends`]), each process's own user+system time over the same window,
/// so the agent's end (what the desktop pays for a call) is seen apart from the caller's.
struct CallCpu {
    agent: f64,
    far: f64,
    /// The agent's end by kind of thread.
    split: threads::Split,
}

impl CallCpu {
    fn both(&self) -> f64 {
        self.agent + self.far
    }
}

async fn cpu_per_call(processing: bool, own_thread: bool, calls: usize) -> CallCpu {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("this benchmark's path"))
        .arg(FAR_ENDS)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("far ends' process");
    let child_pid = child.id().expect("far ends' pid").to_string();
    let mut to_far = child.stdin.take().expect("far ends' stdin");
    let mut from_far = tokio::io::BufReader::new(child.stdout.take().expect("far ends' stdout")).lines();
    let mut live = Vec::new();
    for _ in 0..calls {
        let mic = WavSource::Samples(Arc::new(switchboard_media::tone::caller_phrase(10.0)));
        let agent = PeerSession::new(
            Box::new(WavDevice::new(mic, true)),
            PeerConfig {
                own_thread,
                ..on_loopback(agent_pipeline(processing))
            },
        )
        .await
        .expect("agent session");
        let offer = serde_json::to_string(&agent.offer(false).await.expect("offer")).expect("offer as JSON");
        to_far
            .write_all(format!("{offer}\n").as_bytes())
            .await
            .expect("offer to the far ends");
        let line = from_far
            .next_line()
            .await
            .expect("far ends' answer")
            .expect("the far ends' process ended before answering");
        let answer: String = serde_json::from_str(&line).expect("answer as JSON");
        agent.accept_answer(&answer).await.expect("accept");
        connected(&agent).await;
        live.push(agent);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (c0, f0, s0, t0) = (
        cpu_seconds(),
        cpu_seconds_of(&child_pid),
        threads::Snapshot::take(),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (c1, f1, s1, t1) = (
        cpu_seconds(),
        cpu_seconds_of(&child_pid),
        threads::Snapshot::take(),
        Instant::now(),
    );
    // Closing its stdin ends the far ends' process once it has closed its sessions.
    drop(to_far);
    for a in live {
        a.close().await;
    }
    let status = child.wait().await.expect("far ends' exit");
    assert!(status.success(), "the far ends' process failed: {status}");
    let per = |d: f64| d / (t1 - t0).as_secs_f64() / calls as f64 * 100.0;
    CallCpu {
        agent: per(c1 - c0),
        far: per(f1 - f0),
        split: s1.per_call_since(&s0, (t1 - t0).as_secs_f64(), calls),
    }
}

/// [`cpu_per_call`] as shipped, bypassed and with processing, and with processing on the
/// caller's runtime rather than media threads (as before those): taking turns over three
/// rounds so a change in the machine's speed meanwhile hits all alike; each end's median.
async fn cpu_per_call_in_turns(calls: usize) -> [CallCpu; 3] {
    const VARIANTS: [(bool, bool); 3] = [(false, true), (true, true), (true, false)];
    let mut runs: [Vec<CallCpu>; 3] = Default::default();
    for _round in 0..3 {
        for ((processing, own_thread), got) in VARIANTS.into_iter().zip(&mut runs) {
            got.push(cpu_per_call(processing, own_thread, calls).await);
        }
    }
    runs.map(|v| {
        let of = |f: fn(&CallCpu) -> f64| median(v.iter().map(f).collect());
        CallCpu {
            agent: of(|c| c.agent),
            far: of(|c| c.far),
            split: threads::Split {
                media: of(|c| c.split.media),
                devices: of(|c| c.split.devices),
                other: of(|c| c.split.other),
                media_sleeps: of(|c| c.split.media_sleeps),
            },
        }
    })
}

/// The argument that makes this binary the far ends of [`cpu_per_call`]'s calls.
const FAR_ENDS: &str = "far-ends";

/// The far ends of [`cpu_per_call`]'s calls, run as this binary with [`FAR_ENDS`]: an
/// offer per line on stdin (a JSON string), its answer written back the same way, each
/// far end the shipped far pipeline playing the caller's phrase; held until stdin closes.
async fn far_ends() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut offers = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    let mut held = Vec::new();
    while let Some(line) = offers.next_line().await.expect("offers on stdin") {
        let offer: String = serde_json::from_str(&line).expect("offer as JSON");
        let (dev, _) = far_end(None);
        let far = PeerSession::new(Box::new(dev), on_loopback(far_pipeline()))
            .await
            .expect("far session");
        let answer = serde_json::to_string(&far.answer(&offer).await.expect("answer")).expect("answer as JSON");
        stdout
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .expect("answer to stdout");
        stdout.flush().await.expect("answer flushed");
        held.push(far);
    }
    for far in held {
        far.close().await;
    }
}

/// The processing module's part, apart from the network and devices: the marks through
/// its capture path offline, frame by frame as the engine feeds it; where each onset moved.
/// With `far_talking`, the caller's phrase goes through its render path meanwhile, as in
/// the live call (the echo canceller then sees double talk).
fn processing_shift(far_talking: bool) -> Vec<f64> {
    let mut apm = WebrtcProcessor::new().expect("webrtc-audio-processing");
    let sent = marks().repeat(40);
    let far = tone::caller_phrase(sent.len() as f32 / switchboard_media::SAMPLE_RATE as f32);
    let mut out = Vec::new();
    for (frame, heard) in sent.chunks(FRAME_SAMPLES).zip(far.chunks(FRAME_SAMPLES)) {
        if far_talking {
            apm.render(heard);
        }
        let mut f = vec![0.0; switchboard_media::SEND_FRAME];
        apm.capture(frame, &mut f);
        // Back at the marks' rate, each sample held for three: the onsets are found in 5 ms
        // blocks, far coarser than the 42 us this holds a sample for.
        out.extend(f.iter().flat_map(|&s| [s; 3]));
    }
    tone::mark_delays(&out, 0.0)
}

/// Where the delay goes on the direct path: what each stage holds by design, what the
/// processing module moves the onsets by, and the jitter buffer's floor measured both
/// ways in this run.
async fn stages() {
    let cfg = PipelineConfig::default();
    let ms = |samples: usize| samples as f64 * 1000.0 / 48_000.0;
    println!("delay by stage (direct path):");
    println!("  capture: the WAV device hands whole 20 ms frames at their start (a sound card adds its period)");
    println!("  encoding: as soon as the device hands a whole frame (the engine's 10 ms tick only paces the speaker)");
    println!("  network: loopback, below 1 ms");
    println!(
        "  jitter buffer: {} frame(s) = {:.0} ms on a clean network (its floor), more as jitter is measured",
        cfg.jitter.min_frames,
        cfg.jitter.min_frames as f64 * 20.0
    );
    println!(
        "  speaker ring: topped up to {:.0} ms {:.0} ms before the device's next pull, half a frame more per gap (up to {:.0} ms)",
        ms(cfg.playout_fill),
        switchboard_media::speaker::LEAD_US as f64 / 1000.0,
        ms(cfg.playout_max)
    );
    for (far_talking, when) in [(false, "far end silent"), (true, "far end talking")] {
        let shift = processing_shift(far_talking);
        if !shift.is_empty() {
            println!(
                "  voice processing (capture path, offline, {when}): onsets later by p50 {:.1} ms, p99 {:.1} ms ({} marks, 5 ms resolution)",
                percentile(&shift, 0.5),
                percentile(&shift, 0.99),
                shift.len()
            );
        }
    }
    // Each change measured both ways in this run, bypassed, on both ends' pipelines (the
    // agent's captures and encodes, the far end's buffers and plays).
    let before = |f: &mut PipelineConfig| f.jitter.min_frames = 2;
    compare("jitter floor 2 frames -> 1", before).await;
    let before = |f: &mut PipelineConfig| f.playout_fill = FRAME_SAMPLES * 2;
    compare("speaker ring 40 ms fixed -> adaptive from 20 ms", before).await;
    let before = |f: &mut PipelineConfig| f.encode_on_capture = false;
    compare(
        "captured frame encoded at the 10 ms tick -> as soon as captured",
        before,
    )
    .await;
    let before = |f: &mut PipelineConfig| f.top_up_before_pull = false;
    compare("speaker topped up at the 10 ms tick -> just before the pull", before).await;
}

/// The bypassed delay with both pipelines changed back by `before`, then as they are.
async fn compare(what: &str, before: impl Fn(&mut PipelineConfig)) {
    let (mut agent, mut far) = (agent_pipeline(false), far_pipeline());
    before(&mut agent);
    before(&mut far);
    let ((b, b_heard), (n, n_heard)) = (
        delay_with(agent, far).await,
        delay_with(agent_pipeline(false), far_pipeline()).await,
    );
    if b.is_empty() || n.is_empty() {
        println!("  {what}: no marks heard");
        return;
    }
    let (b50, n50) = (percentile(&b, 0.5), percentile(&n, 0.5));
    println!(
        "  {what}, same run: mean {:.1} -> {:.1} ms ({:.2}x), p50 {b50:.1} -> {n50:.1} ms, p99 {:.1} -> {:.1} ms",
        mean(&b),
        mean(&n),
        mean(&n) / mean(&b).max(1e-9),
        percentile(&b, 0.99),
        percentile(&n, 0.99),
    );
    println!("    before: {b_heard}");
    println!("    now:    {n_heard}");
}

/// Which parts to run: `cargo xtask bench media [delay] [stages] [cpu] [sfu]`, all by default.
fn wanted(part: &str) -> bool {
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| ["delay", "stages", "cpu", "sfu"].contains(&a.as_str()))
        .collect();
    parts.is_empty() || parts.iter().any(|p| p == part)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::args().nth(1).as_deref() == Some(FAR_ENDS) {
        // Its stdout carries the answers: nothing else may be printed there.
        return rt.block_on(far_ends());
    }
    rt.block_on(async {
        println!("bench media: 2 cores, loopback, WAV devices paced in real time");
        for processing in [false, true].into_iter().filter(|_| wanted("delay")) {
            let label = if processing { "with webrtc-audio-processing" } else { "without processing (bypass)" };
            let (d, heard) = delay(processing).await;
            if d.is_empty() {
                println!("delay {label}: no marks found");
                continue;
            }
            println!(
                "capture-to-playout delay {label}: mean {:.1} ms, p50 {:.1} ms, p99 {:.1} ms ({} marks)",
                mean(&d),
                percentile(&d, 0.5),
                percentile(&d, 0.99),
                d.len()
            );
            println!("  {heard}");
        }
        if wanted("stages") {
            stages().await;
        }
        if wanted("cpu") {
            let [bypass, apm, shared] = cpu_per_call_in_turns(20).await;
            println!(
                "CPU per active call, 20 concurrent calls (agent ends in this process, far ends in another; median of 3 turns each): the agent's end bypassed {:.2}% of a core, with webrtc-audio-processing {:.2}% ({:.2}x); the far end (no processing) {:.2}% and {:.2}%; both ends {:.2}% and {:.2}%",
                bypass.agent,
                apm.agent,
                apm.agent / bypass.agent.max(1e-9),
                bypass.far,
                apm.far,
                bypass.both(),
                apm.both()
            );
            for (what, c) in [("bypassed", &bypass), ("with processing", &apm)] {
                println!(
                    "  the agent's end {what}, by thread: media threads {:.2}% (asleep and woken {:.0} times a second a call), WAV device threads (the benchmark's sound card) {:.2}%, the rest {:.2}%",
                    c.split.media, c.split.media_sleeps, c.split.devices, c.split.other
                );
            }
            println!(
                "  the agent's end with processing, its calls on the caller's runtime (2 workers) rather than media threads: {:.2}%; media threads cost {:.2}x that",
                shared.agent,
                apm.agent / shared.agent.max(1e-9)
            );
            let codec = codec_cpu_per_stream(0, switchboard_media::SEND_RATE);
            let codec_48k = codec_cpu_per_stream(0, switchboard_media::SAMPLE_RATE);
            // A clean loopback reports no loss, so these calls sent no FEC; on a lossy
            // network each stream also pays for it.
            let fec = codec_cpu_per_stream(10, switchboard_media::SEND_RATE);
            let module = processing_breakdown();
            // Each end encodes one stream and decodes the other: one stream's encode+decode
            // is an end's codec work; the agent's also runs the processing module.
            println!(
                "  anchor, same run: Opus encode (fed at 16 kHz) + decode (to 48 kHz) of one mono stream (engine settings, one thread) {codec:.2}% of a core, plus the processing module alone {module:.2}% = {:.2}%: the agent's end costs {:.2}x that with processing, {:.2}x the codec alone bypassed; both ends {:.2}x a call's two streams ({:.2}%)",
                codec + module,
                apm.agent / (codec + module).max(1e-9),
                bypass.agent / codec.max(1e-9),
                apm.both() / (2.0 * codec).max(1e-9),
                2.0 * codec
            );
            println!(
                "  the issue's anchor, Opus encode+decode of one 48 kHz mono stream (the encoder fed at 48 kHz, as the engine did before it sent at 16 kHz): {codec_48k:.2}% = {:.2}x the engine's",
                codec_48k / codec.max(1e-9)
            );
            let module_of_20 = processing_cpu_per_stream_of(20, shipped_config(), true, 2.0);
            println!(
                "  the processing module alone, 20 of them taking frames in turn as 20 calls have them: {module_of_20:.2}% per stream = {:.2}x one alone",
                module_of_20 / module.max(1e-9)
            );
            println!(
                "  the same stream with FEC on (10 % loss reported): {fec:.2}% of a core = {:.2}x without",
                fec / codec.max(1e-9)
            );
        }
        if !wanted("sfu") {
            return;
        }
        // The LiveKit path, against the direct peer measured above (bypass, both).
        let lk = switchboard_e2e::livekit::LiveKitStack::start(false, &[]);
        let (direct, _) = delay(false).await;
        let (room, heard) = room_delay(&lk).await;
        if direct.is_empty() || room.is_empty() {
            println!("LiveKit delay: no marks found (direct {}, room {})", direct.len(), room.len());
        } else {
            let (d50, r50) = (percentile(&direct, 0.5), percentile(&room, 0.5));
            println!(
                "capture-to-playout delay through the SFU: p50 {r50:.1} ms, p99 {:.1} ms ({} marks); direct peer in the same run p50 {d50:.1} ms, p99 {:.1} ms; ratio p50 {:.2}x",
                percentile(&room, 0.99),
                room.len(),
                percentile(&direct, 0.99),
                r50 / d50.max(1e-9)
            );
            println!("  through the SFU, {heard}");
        }
        let direct_cpu = cpu_per_call(false, true, 10).await.both();
        let (ours, sfu) = room_cpu_per_call(&lk, 10).await;
        println!(
            "CPU per call, 10 concurrent LiveKit rooms (2 room sessions each in-process): ours {ours:.2}% of a core, the SFU's {sfu:.2}%; direct peer, 10 calls in the same run: {direct_cpu:.2}% ({:.2}x ours)",
            ours / direct_cpu.max(1e-9)
        );
    });
}
