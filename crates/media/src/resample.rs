//! 48 kHz to 16 kHz for what is sent: the encoder takes the send path at
//! [`crate::SEND_RATE`], since a call carries wideband audio only (see [`crate::codec`]).
//! With voice processing on, the processing module resamples on its way in; this is the
//! same step for the bypass and for a replacement source (hold music), which has no
//! module in front of it.
//!
//! A windowed-sinc low-pass (Blackman) evaluated only at every third input sample: flat
//! to about 6 kHz, below -70 dB from about 9 kHz, so what folds back under 7 kHz is
//! inaudible under the wanted band.

use std::f64::consts::PI;

/// Input samples per output sample.
pub const FACTOR: usize = (crate::SAMPLE_RATE / crate::SEND_RATE) as usize;

const TAPS: usize = 96;
/// The filter's cutoff (-6 dB), Hz.
const CUTOFF_HZ: f64 = 7_600.0;

/// The window a [`low_pass`] kernel is shaped by.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Window {
    /// Side lobes at about -31 dB, a narrow transition.
    Hann,
    /// Side lobes at about -58 dB (stop band below -70 dB), a transition half again wider.
    Blackman,
}

/// A windowed-sinc low-pass at 48 kHz: `taps` long, -6 dB at `cutoff_hz`, unity gain at
/// 0 Hz. Shared with [`crate::narrowband`].
pub(crate) fn low_pass(taps: usize, cutoff_hz: f64, window: Window) -> Vec<f32> {
    let fc = cutoff_hz / f64::from(crate::SAMPLE_RATE);
    let mid = (taps - 1) as f64 / 2.0;
    let mut h: Vec<f64> = (0..taps)
        .map(|n| {
            let x = n as f64 - mid;
            let sinc = if x == 0.0 {
                2.0 * fc
            } else {
                (2.0 * PI * fc * x).sin() / (PI * x)
            };
            let w = 2.0 * PI * n as f64 / (taps - 1) as f64;
            let shape = match window {
                Window::Hann => 0.5 - 0.5 * w.cos(),
                Window::Blackman => 0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos(),
            };
            sinc * shape
        })
        .collect();
    let sum: f64 = h.iter().sum();
    h.iter_mut().for_each(|t| *t /= sum);
    h.into_iter().map(|t| t as f32).collect()
}

/// A streaming 3:1 decimator; keeps the input's last samples between calls.
#[derive(Debug, Clone)]
pub struct Decimator {
    /// Reversed, so an output is a dot product with a forward slice of `buf`.
    taps: Vec<f32>,
    /// The previous call's last `TAPS - 1` inputs, then this call's input.
    buf: Vec<f32>,
}

impl Default for Decimator {
    fn default() -> Self {
        Self::new()
    }
}

impl Decimator {
    pub fn new() -> Self {
        let mut taps = low_pass(TAPS, CUTOFF_HZ, Window::Blackman);
        taps.reverse();
        Self {
            taps,
            buf: vec![0.0; TAPS - 1],
        }
    }

    /// Decimate `input` (a multiple of [`FACTOR`] samples) into `out` (a third as many).
    pub fn process(&mut self, input: &[f32], out: &mut [f32]) {
        debug_assert_eq!(input.len(), out.len() * FACTOR);
        self.buf.truncate(TAPS - 1);
        self.buf.extend_from_slice(input);
        for (k, o) in out.iter_mut().enumerate() {
            let window = &self.buf[k * FACTOR + FACTOR - 1..][..TAPS];
            *o = window.iter().zip(&self.taps).map(|(x, t)| x * t).sum();
        }
        let keep = self.buf.len() - (TAPS - 1);
        self.buf.drain(..keep);
    }
}

/// A looped source at the engine's rate, at the send rate: the filter starts from the
/// source's own end, so the loop point sounds as it does at 48 kHz. A length that is not a
/// multiple of [`FACTOR`] loses its last one or two samples.
pub fn decimate_loop(samples: &[f32]) -> Vec<f32> {
    let whole = samples.len() / FACTOR * FACTOR;
    let mut d = Decimator::new();
    if whole >= TAPS {
        d.buf.copy_from_slice(&samples[whole - (TAPS - 1)..whole]);
    }
    let mut out = vec![0.0; whole / FACTOR];
    d.process(&samples[..whole], &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::sine;

    /// Amplitude of `hz` in `v` at the send rate (a single-bin DFT).
    fn amplitude(v: &[f32], hz: f32) -> f32 {
        let (mut c, mut s) = (0.0_f64, 0.0_f64);
        for (i, x) in v.iter().enumerate() {
            let w = std::f64::consts::TAU * f64::from(hz) * i as f64 / f64::from(crate::SEND_RATE);
            c += f64::from(*x) * w.cos();
            s += f64::from(*x) * w.sin();
        }
        (2.0 * (c * c + s * s).sqrt() / v.len() as f64) as f32
    }

    fn through(input: &[f32]) -> Vec<f32> {
        let mut d = Decimator::new();
        let mut out = Vec::new();
        let mut frame = vec![0.0; crate::SEND_FRAME];
        for chunk in input.chunks_exact(crate::FRAME_SAMPLES) {
            d.process(chunk, &mut frame);
            out.extend_from_slice(&frame);
        }
        out
    }

    #[test]
    fn voice_band_passes_and_what_would_fold_back_is_stopped() {
        for hz in [300.0, 1000.0, 3400.0, 5500.0] {
            let out = through(&sine(hz, 0.5, 48_000));
            let a = amplitude(&out[1600..], hz);
            assert!((a - 0.5).abs() < 0.03, "{hz} Hz came out at {a}");
        }
        // 12 kHz would land on 4 kHz, 9.5 kHz on 6.5 kHz.
        for (hz, alias) in [(12_000.0, 4_000.0), (9_500.0, 6_500.0)] {
            let out = through(&sine(hz, 0.5, 48_000));
            let a = amplitude(&out[1600..], alias);
            assert!(a < 0.5e-3, "{hz} Hz folded to {alias} Hz at {a}");
        }
    }

    #[test]
    fn frames_in_a_row_make_one_continuous_signal() {
        // The same tone decimated in one call and in 20 ms frames gives the same samples.
        let tone = sine(440.0, 0.3, crate::FRAME_SAMPLES * 10);
        let mut whole = vec![0.0; tone.len() / FACTOR];
        Decimator::new().process(&tone, &mut whole);
        let framed = through(&tone);
        let worst = whole
            .iter()
            .zip(&framed)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-6, "differs by {worst}");
    }

    #[test]
    fn a_looped_source_stays_continuous_across_its_loop_point() {
        // A whole number of cycles: looped, the decimated source is one clean tone, so the
        // samples right after the loop point continue the ones before it.
        let source = sine(500.0, 0.3, 48_000 / 500 * 30);
        let out = decimate_loop(&source);
        assert_eq!(out.len(), source.len() / FACTOR);
        let expected = |i: usize| 0.3 * (std::f32::consts::TAU * 500.0 * i as f32 / 16_000.0).sin();
        let worst = (0..out.len()).map(|i| (out[i] - expected(i)).abs()).fold(0.0, f32::max);
        // Output k is the filter's window ending at input 3k+2, centred (TAPS-1)/2 before
        // that: the tone comes out that much later, in output samples.
        let delay = ((TAPS - 1) as f32 / 2.0 - (FACTOR - 1) as f32) / FACTOR as f32;
        let shifted = |i: usize| 0.3 * (std::f32::consts::TAU * 500.0 * (i as f32 - delay) / 16_000.0).sin();
        let worst_shifted = (0..out.len()).map(|i| (out[i] - shifted(i)).abs()).fold(0.0, f32::max);
        assert!(
            worst_shifted < 0.01,
            "worst error against the delayed tone {worst_shifted} (undelayed {worst})"
        );
    }
}
