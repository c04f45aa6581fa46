//! One call's audio path between a device and the network, without the network.
//!
//! ```text
//! device capture ring -> 20 ms frame (48 kHz) -> voice processing (AEC/NS/AGC), out at
//!   16 kHz -> mute / hold -> input meter -> Opus encode -> packet out
//! packet in -> per sender: jitter buffer -> Opus decode / FEC / PLC -> mix
//!   -> voice processing (far end) -> output meter -> device playback ring
//! ```
//!
//! A direct call has one sender; a LiveKit room has one per participant who speaks (a
//! supervisor hears the caller and the agent). Each sender (RTP SSRC) gets its own jitter
//! buffer and decoder, since two senders' sequence numbers and clocks are unrelated.
//!
//! The owner calls [`Pipeline::capture`] and [`Pipeline::playout`] every ~10 ms; the
//! device's own clock paces both (capture takes whole frames that have arrived, playout
//! keeps the speaker ring at its target fill). [`Controls`] is what other threads touch:
//! mute, hold, a replacement source (hold music), and the levels.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use crate::codec::{OpusDecoder, OpusEncoder, has_fec};
use crate::device::{EngineIo, RING_SAMPLES};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use crate::level::{LevelMeter, Levels, SharedLevel};
use crate::processing::{Bypass, VoiceProcessor, WebrtcProcessor};
use crate::{FRAME_SAMPLES, MediaError, SEND_FRAME, SEND_RATE};

/// How a pipeline is built.
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Run WebRTC echo cancellation, noise suppression and gain control (else bypass).
    pub voice_processing: bool,
    /// Jitter buffer limits.
    pub jitter: JitterConfig,
    /// The least decoded audio kept queued for the speaker, in samples (20 ms). The fill
    /// starts here, grows by half a frame each time the device found the ring empty (a
    /// late engine tick, a device that takes large periods), up to `playout_max`, and
    /// comes back down half a frame at a time after [`QUIET_MS`] without a gap.
    pub playout_fill: usize,
    /// The most kept queued for the speaker, in samples (60 ms).
    pub playout_max: usize,
    /// Encode a captured frame as soon as the device signals it, rather than at the
    /// engine's next 10 ms tick (off only to measure what it saves).
    pub encode_on_capture: bool,
    /// Top the speaker ring up just before the device's next pull (see [`crate::speaker`])
    /// rather than at the engine's 10 ms tick (off only to measure what it saves).
    pub top_up_before_pull: bool,
}

/// Time without a speaker gap (ms) before the playout fill shrinks by half a frame. In
/// time rather than playout passes: passes come every 10 ms at the tick but once per
/// device period when the device's pulls time them.
pub const QUIET_MS: f64 = 10_000.0;

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            voice_processing: true,
            jitter: JitterConfig::default(),
            playout_fill: FRAME_SAMPLES,
            playout_max: FRAME_SAMPLES * 3,
            encode_on_capture: true,
            top_up_before_pull: true,
        }
    }
}

/// A looped replacement source and where in it we are.
type LoopSource = Mutex<Option<(Arc<Vec<f32>>, usize)>>;

/// The knobs other threads turn, and the meters they read.
#[derive(Debug, Default)]
pub struct Controls {
    muted: AtomicBool,
    held: AtomicBool,
    /// The loss (percent) the far end reports, smoothed: the encoder's FEC follows it.
    expected_loss: AtomicU8,
    /// A source that replaces the microphone, looped.
    replacement: LoopSource,
    /// A source that replaces what the far end sends, looped (the hold music a caller hears).
    playout_replacement: LoopSource,
    input_level: SharedLevel,
    output_level: SharedLevel,
}

impl Controls {
    /// Mute or unmute the microphone (the far end then hears silence).
    pub fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Ordering::Relaxed);
    }

    /// Whether the microphone is muted.
    pub fn muted(&self) -> bool {
        self.muted.load(Ordering::Relaxed)
    }

    /// Hold: nothing from the microphone goes out until resumed (mute stays as it was).
    pub fn set_held(&self, held: bool) {
        self.held.store(held, Ordering::Relaxed);
    }

    /// Whether the call is held.
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Relaxed)
    }

    /// The share of our packets (percent) the far end is expected to lose, from its
    /// reception reports (see [`crate::loss::LossEstimate`]); the next frame is encoded for it.
    pub fn set_expected_loss(&self, percent: u8) {
        self.expected_loss.store(percent, Ordering::Relaxed);
    }

    /// The loss the encoder plans for.
    pub fn expected_loss(&self) -> u8 {
        self.expected_loss.load(Ordering::Relaxed)
    }

    /// Send these samples (at [`crate::SAMPLE_RATE`]) instead of the microphone, looped, or
    /// the microphone again. They are taken to the send rate here, once, on the caller's
    /// thread.
    pub fn replace_source(&self, samples: Option<Arc<Vec<f32>>>) {
        let at_send_rate = samples.map(|s| Arc::new(crate::resample::decimate_loop(&s)));
        if let Ok(mut r) = self.replacement.lock() {
            *r = at_send_rate.map(|s| (s, 0));
        }
    }

    /// Play these samples instead of what arrives (looped), or the far end again.
    pub fn replace_playout(&self, samples: Option<Arc<Vec<f32>>>) {
        if let Ok(mut r) = self.playout_replacement.lock() {
            *r = samples.map(|s| (s, 0));
        }
    }

    /// The latest input and output readings.
    pub fn levels(&self) -> Levels {
        Levels {
            input: self.input_level.load(),
            output: self.output_level.load(),
        }
    }
}

/// See the module docs.
pub struct Pipeline {
    io: EngineIo,
    encoder: OpusEncoder,
    /// The expected loss the encoder was last set to.
    encoding_for_loss: u8,
    remotes: Vec<Remote>,
    /// Counters of senders no longer heard, so [`Pipeline::jitter_stats`] never goes back.
    retired: JitterStats,
    processor: Box<dyn VoiceProcessor>,
    controls: Arc<Controls>,
    config: PipelineConfig,
    /// The microphone's frame being filled, at the devices' rate.
    frame: Vec<f32>,
    filled: usize,
    /// The frame to send, at the send rate.
    sent: Vec<f32>,
    out: Vec<f32>,
    decoded: Vec<f32>,
    in_meter: LevelMeter,
    out_meter: LevelMeter,
    epoch: Instant,
    fill: PlayoutFill,
}

/// The speaker ring's current fill target (see [`PipelineConfig::playout_fill`]).
#[derive(Debug)]
struct PlayoutFill {
    target: usize,
    /// The device's underrun count when we last looked; `None` until the ring was first
    /// filled (a device may start pulling before the engine's first tick).
    seen: Option<u64>,
    /// Since when (the pipeline's clock, ms) the device has not found the ring empty.
    quiet_since: f64,
}

impl PlayoutFill {
    fn new(config: &PipelineConfig) -> Self {
        Self {
            target: config.playout_fill,
            seen: None,
            quiet_since: 0.0,
        }
    }

    /// Once per playout pass, with the device's underrun count so far and the time.
    fn adapt(&mut self, underruns: u64, now_ms: f64, config: &PipelineConfig) {
        let Some(seen) = self.seen else { return };
        self.seen = Some(underruns);
        let step = FRAME_SAMPLES / 2;
        if underruns > seen {
            self.target = (self.target + step).min(config.playout_max.max(config.playout_fill));
            self.quiet_since = now_ms;
        } else if self.target > config.playout_fill && now_ms - self.quiet_since >= QUIET_MS {
            self.target = self.target.saturating_sub(step).max(config.playout_fill);
            self.quiet_since = now_ms;
        }
    }

    /// The ring was just filled: count gaps from here on.
    fn started(&mut self, underruns: u64, now_ms: f64) {
        if self.seen.is_none() {
            self.seen = Some(underruns);
            self.quiet_since = now_ms;
        }
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("processor", &self.processor.name())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline over a started device's rings.
    pub fn new(io: EngineIo, config: PipelineConfig) -> Result<Self, MediaError> {
        let processor: Box<dyn VoiceProcessor> = if config.voice_processing {
            Box::new(WebrtcProcessor::new()?)
        } else {
            Box::new(Bypass::default())
        };
        Ok(Self {
            io,
            encoder: OpusEncoder::at_rate(SEND_RATE)?,
            encoding_for_loss: 0,
            remotes: Vec::new(),
            retired: JitterStats::default(),
            processor,
            controls: Arc::new(Controls::default()),
            config,
            frame: vec![0.0; FRAME_SAMPLES],
            sent: vec![0.0; SEND_FRAME],
            filled: 0,
            out: vec![0.0; FRAME_SAMPLES],
            decoded: vec![0.0; FRAME_SAMPLES],
            in_meter: LevelMeter::at_rate(SEND_RATE),
            out_meter: LevelMeter::new(),
            epoch: Instant::now(),
            fill: PlayoutFill::new(&config),
        })
    }

    /// The shared controls and meters.
    pub fn controls(&self) -> Arc<Controls> {
        self.controls.clone()
    }

    /// Switch to new ring ends (the device was replaced).
    pub fn replace_io(&mut self, io: EngineIo) {
        self.io = io;
        self.filled = 0;
        // The new device's gaps before its ring was first filled are not ours.
        self.fill.seen = None;
    }

    /// How much decoded audio the speaker ring is kept filled to now, in samples.
    pub fn playout_target(&self) -> usize {
        self.fill.target
    }

    /// Jitter buffer counters, summed over every sender heard.
    pub fn jitter_stats(&self) -> JitterStats {
        self.remotes.iter().fold(self.retired, |mut sum, r| {
            sum += r.stats();
            sum
        })
    }

    /// How many senders are being played.
    pub fn senders(&self) -> usize {
        self.remotes.len()
    }

    /// The current device's shared counters, whose capture signal the engine waits on;
    /// none when captured frames wait for the tick.
    pub fn capture_signal(&self) -> Option<Arc<crate::device::XrunCounters>> {
        self.config.encode_on_capture.then(|| self.io.counters.clone())
    }

    /// The current device's shared counters, whose pull stamps time the speaker's top-ups;
    /// none when the ring is topped up at the tick.
    pub fn pull_stamps(&self) -> Option<Arc<crate::device::XrunCounters>> {
        self.config.top_up_before_pull.then(|| self.io.counters.clone())
    }

    /// (capture overruns, playback underruns) at the device boundary.
    pub fn xruns(&self) -> (u64, u64) {
        self.io.counters.snapshot()
    }

    /// Encode every whole frame captured so far; `send` gets each Opus packet.
    pub fn capture(&mut self, mut send: impl FnMut(&[u8])) -> Result<(), MediaError> {
        loop {
            while self.filled < FRAME_SAMPLES {
                match self.io.capture.pop() {
                    Ok(s) => {
                        self.frame[self.filled] = s;
                        self.filled += 1;
                    }
                    Err(_) => return Ok(()),
                }
            }
            self.filled = 0;
            self.processor.capture(&self.frame, &mut self.sent);
            loop_into(&self.controls.replacement, &mut self.sent);
            if self.controls.muted() || self.controls.held() {
                self.sent.iter_mut().for_each(|s| *s = 0.0);
            }
            if let Some(level) = self.in_meter.feed(&self.sent) {
                self.controls.input_level.store(level);
            }
            let loss = self.controls.expected_loss();
            if loss != self.encoding_for_loss {
                self.encoder.expect_loss(loss)?;
                self.encoding_for_loss = loss;
            }
            send(self.encoder.encode(&self.sent)?);
        }
    }

    /// Milliseconds since the pipeline was made, the jitter buffer's arrival clock.
    pub fn now_ms(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64() * 1000.0
    }

    /// An Opus packet from sender `ssrc` arrived.
    pub fn receive(&mut self, ssrc: u32, seq: u16, timestamp: u32, payload: Bytes) -> Result<(), MediaError> {
        let now = self.now_ms();
        let i = match self.remotes.iter().position(|r| r.ssrc == ssrc) {
            Some(i) => i,
            None => self.add_remote(ssrc, now)?,
        };
        let remote = &mut self.remotes[i];
        remote.heard_ms = now;
        // While the sender sends FEC, keep a frame of look-ahead so that a lost frame's
        // successor, which carries its copy, has arrived when the lost one is due. Quiet
        // frames go without FEC, so it stays on for a while after the last packet with it.
        if has_fec(&payload) {
            remote.fec_heard_ms = Some(now);
        }
        let protected = remote.fec_heard_ms.is_some_and(|t| now - t < FEC_LINGER_MS);
        remote.jitter.set_lookahead(usize::from(protected));
        remote.jitter.push(seq, timestamp, now, payload);
        Ok(())
    }

    /// A decoder and jitter buffer for a new sender, after retiring senders unheard for
    /// [`SENDER_IDLE_MS`] (a participant who left, an SSRC replaced after a restart) and,
    /// at [`MAX_SENDERS`], the one heard longest ago.
    fn add_remote(&mut self, ssrc: u32, now: f64) -> Result<usize, MediaError> {
        let idle: Vec<usize> = (0..self.remotes.len())
            .filter(|&i| now - self.remotes[i].heard_ms > SENDER_IDLE_MS)
            .collect();
        for i in idle.into_iter().rev() {
            self.retire(i);
        }
        if self.remotes.len() >= MAX_SENDERS {
            let oldest = (0..self.remotes.len())
                .min_by(|&a, &b| self.remotes[a].heard_ms.total_cmp(&self.remotes[b].heard_ms))
                .unwrap_or(0);
            self.retire(oldest);
        }
        self.remotes.push(Remote {
            ssrc,
            jitter: JitterBuffer::new(self.config.jitter),
            decoder: OpusDecoder::new()?,
            heard_ms: now,
            rebuilt: 0,
            fec_heard_ms: None,
        });
        Ok(self.remotes.len() - 1)
    }

    fn retire(&mut self, i: usize) {
        let gone = self.remotes.swap_remove(i);
        self.retired += gone.stats();
    }

    /// Keep the speaker ring filled to its target with every sender's decoded (or
    /// concealed) audio, mixed.
    pub fn playout(&mut self) -> Result<(), MediaError> {
        self.playout_at(self.now_ms())
    }

    /// [`Pipeline::playout`] at `now_ms` on the pipeline's clock.
    fn playout_at(&mut self, now_ms: f64) -> Result<(), MediaError> {
        let underruns = self
            .io
            .counters
            .playback_underruns
            .load(std::sync::atomic::Ordering::Relaxed);
        self.fill.adapt(underruns, now_ms, &self.config);
        while RING_SAMPLES - self.io.playback.slots() < self.fill.target {
            self.out.iter_mut().for_each(|s| *s = 0.0);
            let mixing = self.remotes.len() > 1;
            for remote in &mut self.remotes {
                let frame = if mixing { &mut self.decoded } else { &mut self.out };
                if !remote.next_frame(frame)? {
                    continue;
                }
                if mixing {
                    self.out.iter_mut().zip(&self.decoded).for_each(|(o, d)| *o += d);
                }
            }
            if mixing {
                self.out.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
            }
            loop_into(&self.controls.playout_replacement, &mut self.out);
            self.processor.render(&self.out);
            if let Some(level) = self.out_meter.feed(&self.out) {
                self.controls.output_level.store(level);
            }
            for &s in &self.out {
                // Cannot fail: the loop condition left at least a frame of room.
                let _ = self.io.playback.push(s);
            }
        }
        self.fill.started(
            self.io
                .counters
                .playback_underruns
                .load(std::sync::atomic::Ordering::Relaxed),
            now_ms,
        );
        Ok(())
    }
}

/// At most this many senders are played at once (a room's speakers, bounded so a hostile
/// peer changing SSRCs cannot grow the pipeline).
const MAX_SENDERS: usize = 8;
/// A sender unheard for this long (ms) is retired when a new one arrives.
const SENDER_IDLE_MS: f64 = 30_000.0;

/// How long (ms) after its last packet with FEC a sender's jitter buffer keeps the frame of
/// look-ahead FEC needs.
const FEC_LINGER_MS: f64 = 3_000.0;

/// One remote sender: its own jitter buffer and decoder.
struct Remote {
    ssrc: u32,
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    /// When its last packet arrived (the pipeline's clock, ms).
    heard_ms: f64,
    /// Lost frames rebuilt from FEC.
    rebuilt: u64,
    /// When its last packet carrying FEC arrived.
    fec_heard_ms: Option<f64>,
}

impl Remote {
    fn stats(&self) -> JitterStats {
        JitterStats {
            rebuilt: self.rebuilt,
            ..self.jitter.stats()
        }
    }

    /// Its next 20 ms into `frame`; false when it is silent (nothing written).
    fn next_frame(&mut self, frame: &mut [f32]) -> Result<bool, MediaError> {
        match self.jitter.pop() {
            Playout::Packet { payload, .. } => {
                let n = self.decoder.decode(&payload, frame)?;
                frame[n..].iter_mut().for_each(|s| *s = 0.0);
            }
            Playout::Conceal => {
                let fec = self.jitter.following().filter(|p| has_fec(p));
                self.rebuilt += u64::from(fec.is_some());
                self.decoder.conceal(fec.map(|p| &p[..]), frame)?;
            }
            Playout::Stretch => {
                self.decoder.conceal(None, frame)?;
            }
            Playout::Silence => return Ok(false),
        }
        Ok(true)
    }
}

/// Overwrite `frame` with the next samples of a looped replacement source, if one is set.
fn loop_into(source: &LoopSource, frame: &mut [f32]) {
    let Ok(mut guard) = source.lock() else { return };
    if let Some((samples, pos)) = guard.as_mut() {
        if samples.is_empty() {
            return;
        }
        for s in frame.iter_mut() {
            *s = samples[*pos];
            *pos = (*pos + 1) % samples.len();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::device::{PlaybackSide, XrunCounters, capture_ring, playback_ring};
    use crate::tone::{sine, tone_level};

    fn pipeline() -> (Pipeline, PlaybackSide) {
        let (p, _mic, speaker) = pipeline_with_mic();
        (p, speaker)
    }

    fn pipeline_with_mic() -> (Pipeline, crate::device::CaptureSide, PlaybackSide) {
        let counters = Arc::new(XrunCounters::default());
        let (mic, capture) = capture_ring(&counters);
        let (speaker, playback) = playback_ring(&counters);
        let io = EngineIo {
            capture,
            playback,
            counters,
        };
        let config = PipelineConfig {
            voice_processing: false,
            ..PipelineConfig::default()
        };
        (Pipeline::new(io, config).unwrap(), mic, speaker)
    }

    /// Opus packets of a `hz` tone, 20 ms each.
    fn packets(hz: f32, n: usize) -> Vec<Bytes> {
        let mut enc = OpusEncoder::new().unwrap();
        let tone = sine(hz, 0.3, FRAME_SAMPLES * n);
        tone.chunks(FRAME_SAMPLES)
            .map(|f| Bytes::copy_from_slice(enc.encode(f).unwrap()))
            .collect()
    }

    /// Feed each sender's packets in step (sequence numbers and timestamps of unrelated
    /// origins, as two participants' are), playing out as a device would; what played.
    /// The speaker ring starts two frames deep, so each sender is two packets ahead.
    fn play(p: &mut Pipeline, speaker: &mut PlaybackSide, senders: &[(u32, u16, Vec<Bytes>)]) -> Vec<f32> {
        let mut heard = Vec::new();
        let n = senders.iter().map(|s| s.2.len()).max().unwrap_or(0);
        let send = |p: &mut Pipeline, k: usize| {
            for (ssrc, seq0, pkts) in senders {
                if let Some(pkt) = pkts.get(k) {
                    let seq = seq0.wrapping_add(k as u16);
                    let ts = u32::from(*seq0).wrapping_mul(7919).wrapping_add(960 * k as u32);
                    p.receive(*ssrc, seq, ts, pkt.clone()).unwrap();
                }
            }
        };
        send(p, 0);
        for k in 0..n {
            send(p, k + 1);
            p.playout().unwrap();
            heard.extend((0..FRAME_SAMPLES).map(|_| speaker.pop()));
        }
        heard
    }

    #[test]
    fn fec_goes_out_while_the_far_end_reports_loss_and_rebuilds_lost_frames_here() {
        let (mut sender, mut mic, _) = pipeline_with_mic();
        let mut capture = |sender: &mut Pipeline, frames: usize| {
            let mut out = Vec::new();
            for k in 0..frames {
                // Pitch and level move from frame to frame as a voice's do: libopus codes
                // FEC only for frames its voice activity detector finds active, and a steady
                // tone stops counting after about 0.3 s (then only every fifth frame had FEC).
                mic.push(
                    sine(440.0 + 110.0 * (k % 3) as f32, 0.3, FRAME_SAMPLES)
                        .into_iter()
                        .map(|s| s * (1.0 + (k % 5) as f32 / 10.0)),
                );
                sender.capture(|p| out.push(Bytes::copy_from_slice(p))).unwrap();
            }
            out
        };
        let clean = capture(&mut sender, 20);
        assert_eq!(clean.len(), 20);
        assert!(!clean.iter().any(|p| has_fec(p)), "FEC with no loss reported");
        sender.controls().set_expected_loss(10);
        let lossy = capture(&mut sender, 60);
        let carry: Vec<usize> = (1..lossy.len()).filter(|&k| has_fec(&lossy[k])).collect();
        assert!(carry.len() * 2 > lossy.len(), "FEC in {carry:?}");

        // The receiving end loses two of them, the packet after each (with FEC) already here.
        let (mut p, mut speaker) = pipeline();
        let lost: Vec<usize> = carry
            .iter()
            .filter(|&&k| k > 10)
            .step_by(10)
            .take(2)
            .map(|k| k - 1)
            .collect();
        assert_eq!(lost.len(), 2);
        for (k, pkt) in lossy.iter().enumerate() {
            if !lost.contains(&k) {
                p.receive(9, k as u16, 960 * k as u32, pkt.clone()).unwrap();
            }
            if k >= 2 {
                p.playout().unwrap();
                (0..FRAME_SAMPLES).for_each(|_| {
                    speaker.pop();
                });
            }
        }
        let stats = p.jitter_stats();
        assert_eq!((stats.concealed, stats.rebuilt), (2, 2), "{stats:?}");
    }

    #[test]
    fn two_senders_are_decoded_apart_and_mixed() {
        let (mut p, mut speaker) = pipeline();
        let heard = play(
            &mut p,
            &mut speaker,
            &[(11, 60_000, packets(440.0, 50)), (22, 7, packets(1_000.0, 50))],
        );
        assert_eq!(p.senders(), 2);
        let tail = &heard[heard.len() / 2..];
        let (a, b) = (tone_level(tail, 440.0), tone_level(tail, 1_000.0));
        assert!(a > 0.2 && b > 0.2, "both tones play: 440 Hz {a}, 1 kHz {b}");
        let stats = p.jitter_stats();
        assert_eq!(stats.received, 100);
        assert_eq!(stats.concealed, 0, "{stats:?}");
    }

    #[test]
    fn one_sender_plays_as_before_and_new_senders_are_bounded() {
        let (mut p, mut speaker) = pipeline();
        let heard = play(&mut p, &mut speaker, &[(5, 100, packets(440.0, 50))]);
        let tail = &heard[heard.len() / 2..];
        assert!(tone_level(tail, 440.0) > 0.25, "{}", tone_level(tail, 440.0));
        // A peer cycling through SSRCs cannot grow the pipeline past its bound.
        let one = packets(1_000.0, 1);
        for ssrc in 100..140 {
            p.receive(ssrc, 1, 960, one[0].clone()).unwrap();
        }
        assert_eq!(p.senders(), MAX_SENDERS);
        assert_eq!(p.jitter_stats().received, 90, "retired senders' counters are kept");
    }

    /// The speaker ring holds one frame while the device never runs dry; each gap adds
    /// half a frame up to the maximum; a quiet spell takes it back down; gaps before the
    /// ring was first filled do not count.
    #[test]
    fn the_playout_fill_follows_the_devices_gaps() {
        let (mut p, mut speaker) = pipeline();
        let queued = |p: &Pipeline| RING_SAMPLES - p.io.playback.slots();
        // The test's clock: one playout pass per 10 ms.
        let mut now = 0.0;
        let mut pass = |p: &mut Pipeline| {
            now += 10.0;
            p.playout_at(now).unwrap();
        };
        // The device pulls before the engine's first tick: not a gap of ours.
        for _ in 0..100 {
            speaker.pop();
        }
        pass(&mut p);
        assert_eq!(p.playout_target(), FRAME_SAMPLES);
        assert_eq!(queued(&p), FRAME_SAMPLES);
        // A steady device: 10 ms pulled per tick, never dry, the fill stays at one frame.
        for _ in 0..50 {
            for _ in 0..FRAME_SAMPLES / 2 {
                speaker.pop();
            }
            pass(&mut p);
        }
        assert_eq!(p.playout_target(), FRAME_SAMPLES);
        // A late tick: the device drains the ring and finds it empty, twice.
        for grown in [3 * FRAME_SAMPLES / 2, 2 * FRAME_SAMPLES] {
            for _ in 0..queued(&p) + 10 {
                speaker.pop();
            }
            pass(&mut p);
            assert_eq!(p.playout_target(), grown);
            assert!(queued(&p) >= grown);
        }
        for _ in 0..10 {
            for _ in 0..queued(&p) + 10 {
                speaker.pop();
            }
            pass(&mut p);
        }
        assert_eq!(p.playout_target(), 3 * FRAME_SAMPLES, "bounded by playout_max");
        // Quiet: nothing given back before QUIET_MS.
        for _ in 0..(QUIET_MS / 10.0) as usize - 2 {
            for _ in 0..FRAME_SAMPLES / 2 {
                speaker.pop();
            }
            pass(&mut p);
        }
        assert_eq!(p.playout_target(), 3 * FRAME_SAMPLES);
        // Then half a frame back per QUIET_MS, down to the floor.
        for _ in 0..5 * (QUIET_MS / 10.0) as usize {
            for _ in 0..FRAME_SAMPLES / 2 {
                speaker.pop();
            }
            pass(&mut p);
        }
        assert_eq!(p.playout_target(), FRAME_SAMPLES);
    }
}
