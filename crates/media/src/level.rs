//! Input and output levels: RMS and peak in dBFS, over 50 ms windows (20 updates a second),
//! published through atomics so the UI side reads them without touching the audio path.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::SAMPLE_RATE;

/// The floor reported for silence, so meters have a fixed scale.
pub const SILENCE_DBFS: f32 = -100.0;

/// Samples per metering window: 50 ms, i.e. 20 readings per second.
pub const WINDOW_SAMPLES: usize = (SAMPLE_RATE / 20) as usize;

/// One reading of a meter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Root mean square of the window, dB relative to full scale.
    pub rms_dbfs: f32,
    /// Largest absolute sample of the window, dB relative to full scale.
    pub peak_dbfs: f32,
}

impl Level {
    /// The reading of digital silence.
    pub const SILENT: Level = Level {
        rms_dbfs: SILENCE_DBFS,
        peak_dbfs: SILENCE_DBFS,
    };
}

/// Both meters of a call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    /// What the microphone sends (after processing and mute).
    pub input: Level,
    /// What the speaker plays.
    pub output: Level,
}

/// Amplitude (0..=1) to dBFS, floored at [`SILENCE_DBFS`].
pub fn dbfs(amplitude: f32) -> f32 {
    if amplitude <= 0.0 {
        return SILENCE_DBFS;
    }
    (20.0 * amplitude.log10()).max(SILENCE_DBFS)
}

/// Accumulates samples and yields a [`Level`] at the end of every window.
#[derive(Debug, Clone)]
pub struct LevelMeter {
    sum_squares: f64,
    peak: f32,
    count: usize,
    /// Samples in a window at the meter's rate.
    window: usize,
}

impl Default for LevelMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl LevelMeter {
    /// An empty meter for audio at [`SAMPLE_RATE`].
    pub fn new() -> Self {
        Self::at_rate(SAMPLE_RATE)
    }

    /// An empty meter for audio at `hz` (what is sent goes at [`crate::SEND_RATE`]).
    pub fn at_rate(hz: u32) -> Self {
        Self {
            sum_squares: 0.0,
            peak: 0.0,
            count: 0,
            window: (hz / 20) as usize,
        }
    }

    /// Feed samples; returns the last window completed by them, if any.
    pub fn feed(&mut self, samples: &[f32]) -> Option<Level> {
        let mut done = None;
        for &s in samples {
            self.sum_squares += f64::from(s) * f64::from(s);
            self.peak = self.peak.max(s.abs());
            self.count += 1;
            if self.count == self.window {
                let rms = (self.sum_squares / self.count as f64).sqrt() as f32;
                done = Some(Level {
                    rms_dbfs: dbfs(rms),
                    peak_dbfs: dbfs(self.peak),
                });
                (self.sum_squares, self.peak, self.count) = (0.0, 0.0, 0);
            }
        }
        done
    }
}

/// A [`Level`] shared between the engine (writer) and whoever shows it (readers).
#[derive(Debug)]
pub struct SharedLevel {
    rms: AtomicU32,
    peak: AtomicU32,
    /// When the reading was stored, in ms since `epoch` (0: never).
    at_ms: AtomicU64,
    epoch: Instant,
}

/// A reading older than this is no reading: the device stopped delivering, and a meter
/// frozen at its last value would say the microphone is live when nothing flows.
pub const STALE_AFTER: Duration = Duration::from_millis(250);

impl Default for SharedLevel {
    fn default() -> Self {
        let silent = SILENCE_DBFS.to_bits();
        Self {
            rms: AtomicU32::new(silent),
            peak: AtomicU32::new(silent),
            at_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl SharedLevel {
    /// Publish a reading.
    pub fn store(&self, level: Level) {
        self.rms.store(level.rms_dbfs.to_bits(), Ordering::Relaxed);
        self.peak.store(level.peak_dbfs.to_bits(), Ordering::Relaxed);
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// The latest reading, or silence when there has been none for [`STALE_AFTER`].
    pub fn load(&self) -> Level {
        self.load_at(Instant::now())
    }

    /// [`SharedLevel::load`] as seen at `now`.
    pub fn load_at(&self, now: Instant) -> Level {
        let at = Duration::from_millis(self.at_ms.load(Ordering::Relaxed));
        let age = now.saturating_duration_since(self.epoch).saturating_sub(at);
        if at.is_zero() || age > STALE_AFTER {
            return Level::SILENT;
        }
        Level {
            rms_dbfs: f32::from_bits(self.rms.load(Ordering::Relaxed)),
            peak_dbfs: f32::from_bits(self.peak.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::sine;

    #[test]
    fn a_reading_goes_stale_when_no_audio_follows() {
        let shared = SharedLevel::default();
        assert_eq!(shared.load(), Level::SILENT, "no reading yet");
        let mut meter = LevelMeter::new();
        let level = meter.feed(&sine(1000.0, 0.5, WINDOW_SAMPLES)).expect("one full window");
        shared.store(level);
        let stored = Instant::now();
        assert_eq!(shared.load_at(stored), level);
        assert_eq!(shared.load_at(stored + STALE_AFTER * 2), Level::SILENT);
    }

    #[test]
    fn full_scale_sine_reads_minus_three_db_rms_and_zero_peak() {
        let mut meter = LevelMeter::new();
        let level = meter.feed(&sine(1000.0, 1.0, WINDOW_SAMPLES)).expect("one full window");
        assert!((level.rms_dbfs - -3.01).abs() < 0.05, "{level:?}");
        assert!(level.peak_dbfs.abs() < 0.01, "{level:?}");
    }

    #[test]
    fn a_reading_every_fifty_milliseconds() {
        let mut meter = LevelMeter::new();
        let frame = sine(440.0, 0.1, crate::FRAME_SAMPLES);
        let readings = (0..50).filter_map(|_| meter.feed(&frame)).count();
        // 50 frames of 20 ms = 1 s = 20 windows.
        assert_eq!(readings, 20);
    }

    #[test]
    fn silence_is_the_floor() {
        let mut meter = LevelMeter::new();
        assert_eq!(meter.feed(&vec![0.0; WINDOW_SAMPLES]), Some(Level::SILENT));
        let shared = SharedLevel::default();
        assert_eq!(shared.load(), Level::SILENT);
        shared.store(Level {
            rms_dbfs: -20.0,
            peak_dbfs: -6.0,
        });
        assert_eq!(
            shared.load(),
            Level {
                rms_dbfs: -20.0,
                peak_dbfs: -6.0
            }
        );
    }
}
