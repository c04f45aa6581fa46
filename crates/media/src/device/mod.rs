//! Where call audio comes from and goes to.
//!
//! A device moves 48 kHz mono `f32` samples through two bounded lock-free ring buffers
//! (rtrb, single producer / single consumer): the capture ring (device -> engine) and the
//! playback ring (engine -> device). The device side runs in real-time callbacks that
//! neither allocate nor lock: a full capture ring drops samples, an empty playback ring
//! plays silence, and both are counted.

mod bridge;
#[cfg(feature = "devices")]
mod system;
mod wav;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use bridge::{BridgeDevice, BridgeEnds};
#[cfg(feature = "devices")]
pub use system::{DeviceChoice, DeviceList, SystemAudio, list_devices};
pub use wav::{WavDevice, WavRecorder, WavSource, read_wav, resample, write_wav};

use crate::{MediaError, SAMPLE_RATE};

/// Ring capacity: 200 ms, far more than one device period, small enough to bound delay.
pub const RING_SAMPLES: usize = (SAMPLE_RATE / 5) as usize;

/// The engine's ends of a device's rings.
#[derive(Debug)]
pub struct EngineIo {
    /// Captured samples to take.
    pub capture: rtrb::Consumer<f32>,
    /// Samples to play.
    pub playback: rtrb::Producer<f32>,
    /// Drop-outs seen by the device side.
    pub counters: Arc<XrunCounters>,
}

/// Samples lost at the device boundary.
#[derive(Debug, Default)]
pub struct XrunCounters {
    /// Captured samples dropped because the engine did not keep up.
    pub capture_overruns: AtomicU64,
    /// Playback samples that had to be silence because the engine had nothing ready.
    pub playback_underruns: AtomicU64,
    /// Over- and underruns the sound system itself reported (it recovers from them).
    pub device_xruns: AtomicU64,
    /// Signalled by the device side when a whole frame waits in the capture ring, so the
    /// engine encodes it at once rather than at its next tick (up to 10 ms of the caller's
    /// delay otherwise). Without waiters this is one atomic operation; with one, a wake-up
    /// of the engine's task, once per frame.
    pub frame_captured: tokio::sync::Notify,
    /// When the device last took samples to play ([`device_clock_us`]; 0 before the
    /// first pull), so the engine can top the ring up just before the next one (see
    /// [`crate::speaker`]). Devices paced by a carrier's network leave it at 0.
    pub last_pull_us: AtomicU64,
    /// When the device last handed over captured samples ([`device_clock_us`]; 0 before
    /// the first): a stream that reported an error but keeps capturing still works.
    pub last_capture_us: AtomicU64,
}

/// Microseconds since this process first asked: the clock of pull stamps.
pub fn device_clock_us() -> u64 {
    u64::try_from(device_clock_epoch().elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The instant [`device_clock_us`] counts from.
pub fn device_clock_epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

impl XrunCounters {
    /// (capture overruns, playback underruns) so far.
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.capture_overruns.load(Ordering::Relaxed),
            self.playback_underruns.load(Ordering::Relaxed),
        )
    }
}

/// The device's end of the capture ring.
#[derive(Debug)]
pub(crate) struct CaptureSide {
    ring: rtrb::Producer<f32>,
    counters: Arc<XrunCounters>,
}

/// The device's end of the playback ring.
#[derive(Debug)]
pub(crate) struct PlaybackSide {
    ring: rtrb::Consumer<f32>,
    counters: Arc<XrunCounters>,
}

/// A fresh capture ring: (device end, engine end).
pub(crate) fn capture_ring(counters: &Arc<XrunCounters>) -> (CaptureSide, rtrb::Consumer<f32>) {
    // Start the capture-stamp clock here, so its one-time set-up never runs in a callback.
    device_clock_epoch();
    let (tx, rx) = rtrb::RingBuffer::new(RING_SAMPLES);
    (
        CaptureSide {
            ring: tx,
            counters: counters.clone(),
        },
        rx,
    )
}

/// A fresh playback ring: (device end, engine end).
pub(crate) fn playback_ring(counters: &Arc<XrunCounters>) -> (PlaybackSide, rtrb::Producer<f32>) {
    // Start the pull-stamp clock here, so its one-time set-up never runs in a callback.
    device_clock_epoch();
    let (tx, rx) = rtrb::RingBuffer::new(RING_SAMPLES);
    (
        PlaybackSide {
            ring: rx,
            counters: counters.clone(),
        },
        tx,
    )
}

impl CaptureSide {
    /// Real-time safe: push captured samples, counting what does not fit.
    #[inline]
    pub fn push(&mut self, samples: impl Iterator<Item = f32>) {
        let mut dropped = 0u64;
        for s in samples {
            if self.ring.push(s).is_err() {
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.counters.capture_overruns.fetch_add(dropped, Ordering::Relaxed);
        }
        if RING_SAMPLES - self.ring.slots() >= crate::FRAME_SAMPLES {
            self.counters.frame_captured.notify_one();
        }
        self.counters
            .last_capture_us
            .store(device_clock_us().max(1), Ordering::Relaxed);
    }
}

impl PlaybackSide {
    /// Real-time safe: the next sample to play, silence when none is ready.
    #[inline]
    pub fn pop(&mut self) -> f32 {
        match self.ring.pop() {
            Ok(s) => s,
            Err(_) => {
                self.counters.playback_underruns.fetch_add(1, Ordering::Relaxed);
                0.0
            }
        }
    }

    /// Real-time safe: the device finished a pull (one callback's samples); stamps it.
    #[inline]
    pub fn pulled(&self) {
        // Never 0, which means "no pull yet".
        self.counters
            .last_pull_us
            .store(device_clock_us().max(1), Ordering::Relaxed);
    }
}

/// Which way a device works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Input,
    Output,
}

impl Direction {
    /// Input for output and output for input.
    pub fn other(self) -> Self {
        match self {
            Self::Input => Self::Output,
            Self::Output => Self::Input,
        }
    }
}

/// Something the user should know about their devices.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeviceEvent {
    /// The chosen device went away (or was not there); the system default is used instead.
    FellBack {
        direction: Direction,
        lost: String,
        now: String,
    },
    /// The device in use changed because the user picked another.
    Switched { direction: Direction, now: String },
    /// The device failed and no fallback was possible.
    Failed { direction: Direction, message: String },
}

/// A source of microphone samples and a sink for speaker samples.
pub trait AudioDevice: Send {
    /// Open the device(s) and start streaming; returns the engine's ends of the rings.
    fn start(&mut self) -> Result<EngineIo, MediaError>;
    /// Stop streaming and release the device(s). Idempotent.
    fn stop(&mut self);
    /// New ring ends after the device was replaced while running (fallback to the default
    /// or the user picked another device); the engine switches to them.
    fn replacement(&mut self) -> Option<EngineIo> {
        None
    }
    /// A human-readable description (device names or file paths).
    fn describe(&self) -> String;
}
