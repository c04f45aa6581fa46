//! One call's audio path between a device and the network, without the network.
//!
//! ```text
//! device capture ring -> 20 ms frame -> voice processing (AEC/NS/AGC) -> mute / hold
//!   -> input meter -> Opus encode -> packet out
//! packet in -> jitter buffer -> Opus decode / FEC / PLC -> voice processing (far end)
//!   -> output meter -> device playback ring
//! ```
//!
//! The owner calls [`Pipeline::capture`] and [`Pipeline::playout`] every ~10 ms; the
//! device's own clock paces both (capture takes whole frames that have arrived, playout
//! keeps the speaker ring at its target fill). [`Controls`] is what other threads touch:
//! mute, hold, a replacement source (hold music), and the levels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use crate::codec::{OpusDecoder, OpusEncoder};
use crate::device::{EngineIo, RING_SAMPLES};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout};
use crate::level::{LevelMeter, Levels, SharedLevel};
use crate::processing::{Bypass, VoiceProcessor, WebrtcProcessor};
use crate::{FRAME_SAMPLES, MediaError};

/// How a pipeline is built.
#[derive(Debug, Clone, Copy)]
pub struct PipelineConfig {
    /// Run WebRTC echo cancellation, noise suppression and gain control (else bypass).
    pub voice_processing: bool,
    /// Jitter buffer limits.
    pub jitter: JitterConfig,
    /// How much decoded audio to keep queued for the speaker, in samples (40 ms).
    pub playout_fill: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            voice_processing: true,
            jitter: JitterConfig::default(),
            playout_fill: FRAME_SAMPLES * 2,
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

    /// Send these samples instead of the microphone (looped), or the microphone again.
    pub fn replace_source(&self, samples: Option<Arc<Vec<f32>>>) {
        if let Ok(mut r) = self.replacement.lock() {
            *r = samples.map(|s| (s, 0));
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
    decoder: OpusDecoder,
    jitter: JitterBuffer,
    processor: Box<dyn VoiceProcessor>,
    controls: Arc<Controls>,
    config: PipelineConfig,
    frame: Vec<f32>,
    filled: usize,
    out: Vec<f32>,
    in_meter: LevelMeter,
    out_meter: LevelMeter,
    epoch: Instant,
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
            Box::new(Bypass)
        };
        Ok(Self {
            io,
            encoder: OpusEncoder::new()?,
            decoder: OpusDecoder::new()?,
            jitter: JitterBuffer::new(config.jitter),
            processor,
            controls: Arc::new(Controls::default()),
            config,
            frame: vec![0.0; FRAME_SAMPLES],
            filled: 0,
            out: vec![0.0; FRAME_SAMPLES],
            in_meter: LevelMeter::new(),
            out_meter: LevelMeter::new(),
            epoch: Instant::now(),
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
    }

    /// Jitter buffer counters.
    pub fn jitter_stats(&self) -> JitterStats {
        self.jitter.stats()
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
            self.processor.capture(&mut self.frame);
            loop_into(&self.controls.replacement, &mut self.frame);
            if self.controls.muted() || self.controls.held() {
                self.frame.iter_mut().for_each(|s| *s = 0.0);
            }
            if let Some(level) = self.in_meter.feed(&self.frame) {
                self.controls.input_level.store(level);
            }
            send(self.encoder.encode(&self.frame)?);
        }
    }

    /// Milliseconds since the pipeline was made, the jitter buffer's arrival clock.
    pub fn now_ms(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64() * 1000.0
    }

    /// An Opus packet arrived.
    pub fn receive(&mut self, seq: u16, timestamp: u32, payload: Bytes) {
        let now = self.now_ms();
        self.jitter.push(seq, timestamp, now, payload);
    }

    /// Keep the speaker ring filled to its target with decoded (or concealed) audio.
    pub fn playout(&mut self) -> Result<(), MediaError> {
        while RING_SAMPLES - self.io.playback.slots() < self.config.playout_fill {
            match self.jitter.pop() {
                Playout::Packet { payload, .. } => {
                    let n = self.decoder.decode(&payload, &mut self.out)?;
                    self.out[n..].iter_mut().for_each(|s| *s = 0.0);
                }
                Playout::Conceal | Playout::Stretch => {
                    self.decoder.conceal(None, &mut self.out)?;
                }
                Playout::Silence => self.out.iter_mut().for_each(|s| *s = 0.0),
            }
            loop_into(&self.controls.playout_replacement, &mut self.out);
            self.processor.render(&mut self.out);
            if let Some(level) = self.out_meter.feed(&self.out) {
                self.controls.output_level.store(level);
            }
            for &s in &self.out {
                // Cannot fail: the loop condition left at least a frame of room.
                let _ = self.io.playback.push(s);
            }
        }
        Ok(())
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
