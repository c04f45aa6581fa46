//! Test signals and their analysis: sine tones, the simulator's caller "voice" (a tone
//! sequence generated here, so no audio file ships with the project), the dominant
//! frequency of a block (FFT) and where a sound starts.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

use crate::SAMPLE_RATE;

/// `n` samples of a sine at `freq` Hz with peak `amplitude`.
pub fn sine(freq: f32, amplitude: f32, n: usize) -> Vec<f32> {
    let step = std::f32::consts::TAU * freq / SAMPLE_RATE as f32;
    (0..n).map(|i| amplitude * (step * i as f32).sin()).collect()
}

/// The simulator's caller audio: a repeating phrase of tones (330, 440, 550 Hz, 300 ms
/// each, 100 ms pauses), quiet enough to sound like a voice on the line.
pub fn caller_phrase(seconds: f32) -> Vec<f32> {
    let total = (seconds * SAMPLE_RATE as f32) as usize;
    let mut out = Vec::with_capacity(total);
    let notes = [330.0, 440.0, 550.0];
    let mut k = 0;
    while out.len() < total {
        let note = notes[k % notes.len()];
        out.extend(sine(note, 0.3, (0.3 * SAMPLE_RATE as f32) as usize));
        out.extend(std::iter::repeat_n(0.0, (0.1 * SAMPLE_RATE as f32) as usize));
        k += 1;
    }
    out.truncate(total);
    out
}

/// The hold music played to a caller on hold: a soft two-note chime, distinct from the
/// agent's audio so a test can tell them apart.
pub fn hold_music(n: usize) -> Vec<f32> {
    let a = sine(660.0, 0.15, n);
    let b = sine(880.0, 0.10, n);
    a.iter().zip(&b).map(|(x, y)| x + y).collect()
}

/// The frequency (Hz) with the most energy in `samples`, by FFT with a Hann window.
/// Returns `None` for silence.
pub fn dominant_frequency(samples: &[f32]) -> Option<f32> {
    let n = samples.len();
    if n < 64 || samples.iter().all(|s| s.abs() < 1e-4) {
        return None;
    }
    let mut buf: Vec<Complex<f32>> = samples
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let w = 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / (n - 1) as f32).cos();
            Complex::new(s * w, 0.0)
        })
        .collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let (bin, _) = buf[1..n / 2]
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.norm_sqr().total_cmp(&b.1.norm_sqr()))?;
    Some((bin + 1) as f32 * SAMPLE_RATE as f32 / n as f32)
}

/// Which of `tones` (Hz, within 15 Hz) each 100 ms block of `samples` holds, in order;
/// blocks holding none of them (silence, noise, other sounds) are left out.
pub fn tone_blocks(samples: &[f32], tones: &[u32]) -> Vec<u32> {
    samples
        .chunks_exact(SAMPLE_RATE as usize / 10)
        .filter_map(dominant_frequency)
        .filter_map(|f| tones.iter().copied().find(|t| (f - *t as f32).abs() < 15.0))
        .collect()
}

/// The amplitude of the `hz` component of `samples` (a sine of peak `a` alone gives about
/// `a`), by a Hann-windowed Goertzel filter: tells which of several simultaneous tones a
/// mix holds, where [`dominant_frequency`] names only the loudest.
pub fn tone_level(samples: &[f32], hz: f32) -> f32 {
    let n = samples.len();
    if n < 2 {
        return 0.0;
    }
    let w = std::f64::consts::TAU * f64::from(hz) / f64::from(SAMPLE_RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for (i, &x) in samples.iter().enumerate() {
        let hann = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (n - 1) as f64).cos();
        let s0 = f64::from(x) * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // The Hann window halves a sine's coherent sum.
    (4.0 * power.max(0.0).sqrt() / n as f64) as f32
}

/// Index of the first 5 ms block whose RMS exceeds `threshold` (linear amplitude).
pub fn onset(samples: &[f32], threshold: f32) -> Option<usize> {
    const BLOCK: usize = (SAMPLE_RATE / 200) as usize;
    samples
        .chunks(BLOCK)
        .position(|b| rms(b) > threshold)
        .map(|i| i * BLOCK)
}

/// Root mean square of a block.
pub fn rms(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_level_picks_each_tone_out_of_a_mix() {
        let n = SAMPLE_RATE as usize / 2;
        let mix: Vec<f32> = sine(440.0, 0.3, n)
            .iter()
            .zip(sine(700.0, 0.1, n))
            .map(|(a, b)| a + b)
            .collect();
        assert!(
            (tone_level(&mix, 440.0) - 0.3).abs() < 0.02,
            "{}",
            tone_level(&mix, 440.0)
        );
        assert!(
            (tone_level(&mix, 700.0) - 0.1).abs() < 0.01,
            "{}",
            tone_level(&mix, 700.0)
        );
        assert!(tone_level(&mix, 1_000.0) < 0.001, "{}", tone_level(&mix, 1_000.0));
        assert_eq!(tone_level(&[0.0; 4_800], 440.0), 0.0);
    }

    #[test]
    fn tone_blocks_follow_the_tones_and_skip_the_rest() {
        let mut v = sine(600.0, 0.5, 9600);
        v.extend(vec![0.0; 4800]);
        v.extend(sine(1000.0, 0.5, 4800));
        v.extend(sine(440.0, 0.5, 4800));
        assert_eq!(tone_blocks(&v, &[600, 440]), [600, 600, 440]);
    }

    #[test]
    fn finds_the_frequency_of_a_tone() {
        let f = dominant_frequency(&sine(1000.0, 0.5, 4800)).expect("a tone");
        assert!((f - 1000.0).abs() <= 10.0, "{f}");
        assert_eq!(dominant_frequency(&[0.0; 4800]), None);
    }

    #[test]
    fn finds_where_a_sound_starts() {
        let mut s = vec![0.0; 4800];
        s.extend(sine(440.0, 0.5, 4800));
        assert_eq!(onset(&s, 0.05), Some(4800));
        assert_eq!(onset(&[0.0; 100], 0.05), None);
    }
}
