//! Telephone-band audio (8 kHz, what G.711 carriers send) to and from the engine's 48 kHz.
//! Both directions run one windowed-sinc low-pass (cut at 3.6 kHz, inside the 4 kHz
//! Nyquist limit of the narrow side) as a polyphase filter, keeping their history across
//! frames so 20 ms chunks join without clicks: upsampling must not leave images of the
//! voice above 4 kHz, and downsampling must not fold the wideband Opus audio back into
//! the band.

use std::collections::VecDeque;

/// 48 kHz / 8 kHz.
pub const FACTOR: usize = 6;
/// Filter length: 16 taps per phase.
const TAPS: usize = 16 * FACTOR;
/// Pass band edge, Hz.
const CUTOFF_HZ: f64 = 3_600.0;

fn lowpass() -> Vec<f32> {
    crate::resample::low_pass(TAPS, CUTOFF_HZ, crate::resample::Window::Hann)
}

/// 8 kHz in, 48 kHz out.
#[derive(Debug, Clone)]
pub struct Upsampler {
    h: Vec<f32>,
    history: VecDeque<f32>,
}

impl Default for Upsampler {
    fn default() -> Self {
        Self {
            h: lowpass(),
            history: std::iter::repeat_n(0.0, TAPS / FACTOR).collect(),
        }
    }
}

impl Upsampler {
    /// Six output samples per input sample, appended to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let per_phase = TAPS / FACTOR;
        for &x in input {
            self.history.pop_back();
            self.history.push_front(x);
            for phase in 0..FACTOR {
                let mut acc = 0.0f32;
                for j in 0..per_phase {
                    acc += self.h[j * FACTOR + phase] * self.history[j];
                }
                // Zero-stuffing keeps one sample in six: the filter's gain makes it up.
                out.push(acc * FACTOR as f32);
            }
        }
    }
}

/// 48 kHz in, 8 kHz out.
#[derive(Debug, Clone)]
pub struct Downsampler {
    h: Vec<f32>,
    history: VecDeque<f32>,
    /// Input samples since the last output one.
    phase: usize,
}

impl Default for Downsampler {
    fn default() -> Self {
        Self {
            h: lowpass(),
            history: std::iter::repeat_n(0.0, TAPS).collect(),
            phase: 0,
        }
    }
}

impl Downsampler {
    /// One output sample per six input samples, appended to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        for &x in input {
            self.history.pop_back();
            self.history.push_front(x);
            self.phase += 1;
            if self.phase == FACTOR {
                self.phase = 0;
                out.push(self.h.iter().zip(&self.history).map(|(h, x)| h * x).sum());
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tone::{dominant_frequency, rms, sine};

    fn tone(freq: f32, rate: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.5 * (std::f32::consts::TAU * freq * i as f32 / rate).sin())
            .collect()
    }

    #[test]
    fn a_voice_band_tone_survives_both_ways_at_its_pitch_and_level() {
        let narrow = tone(1_000.0, 8_000.0, 8_000);
        let mut up = Upsampler::default();
        let mut wide = vec![];
        // In 20 ms chunks, as a stream delivers it.
        for chunk in narrow.chunks(160) {
            up.process(chunk, &mut wide);
        }
        assert_eq!(wide.len(), 48_000);
        let settled = &wide[4_800..];
        let f = dominant_frequency(settled).unwrap();
        assert!((f - 1_000.0).abs() < 10.0, "up: {f} Hz");
        assert!((rms(settled) - rms(&narrow)).abs() < 0.02, "up: level {}", rms(settled));

        let mut down = Downsampler::default();
        let mut back = vec![];
        for chunk in wide.chunks(960) {
            down.process(chunk, &mut back);
        }
        assert_eq!(back.len(), 8_000);
        let settled = &back[800..];
        // dominant_frequency assumes 48 kHz: an 8 kHz signal reads six times higher.
        let f = dominant_frequency(settled).unwrap() / FACTOR as f32;
        assert!((f - 1_000.0).abs() < 10.0, "down: {f} Hz");
        assert!(
            (rms(settled) - rms(&narrow)).abs() < 0.02,
            "down: level {}",
            rms(settled)
        );
    }

    #[test]
    fn wideband_audio_above_the_band_does_not_fold_into_it() {
        // 7 kHz would alias to 1 kHz at 8 kHz without the filter.
        let wide = sine(7_000.0, 0.5, 48_000);
        let mut down = Downsampler::default();
        let mut out = vec![];
        down.process(&wide, &mut out);
        let level = rms(&out[800..]);
        assert!(level < 0.005, "7 kHz came through at rms {level}");
    }
}
