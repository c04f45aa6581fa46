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
/// blocks holding none of them (silence, noise, other sounds) are left out. Where the
/// time between blocks matters (is a run of blocks one stretch of sound?), read
/// [`tone_timeline`] instead.
pub fn tone_blocks(samples: &[f32], tones: &[u32]) -> Vec<u32> {
    tone_timeline(samples, tones).into_iter().flatten().collect()
}

/// Which of `tones` (Hz, within 15 Hz) each 100 ms block of `samples` holds, one entry a
/// block: `None` where it holds none of them (silence, noise, other sounds).
///
/// A block counts only when the tone found carries a fair part of its sound. Sound that
/// starts a few milliseconds before a block's end lies under the window's tail, where the
/// spectrum's peak is leakage and can fall on any frequency, a listed one included: such a
/// block measures near 0 here, a block the tone fills about 1.
pub fn tone_timeline(samples: &[f32], tones: &[u32]) -> Vec<Option<u32>> {
    samples
        .chunks_exact(SAMPLE_RATE as usize / 10)
        .map(|block| {
            let f = dominant_frequency(block)?;
            let tone = tones.iter().copied().find(|t| (f - *t as f32).abs() < 15.0)?;
            let share = tone_level(block, tone as f32) / (rms(block) * std::f32::consts::SQRT_2);
            (share >= 0.1).then_some(tone)
        })
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

/// How loud `hz` is over a stretch of a call, whatever happened to its timing: the root
/// mean square of [`tone_level`] over 100 ms blocks. One Goertzel sum over seconds adds
/// the notes of an intermittent tone coherently, so a jitter buffer that stretched or a
/// speaker gap that shifted a later note by half a period cancels an earlier one, and a
/// tone plainly heard measures a fraction of its level. Blocks keep each note whole. A
/// sine of peak `a` heard throughout gives about `a`; heard a quarter of the time, `a / 2`.
pub fn tone_presence(samples: &[f32], hz: f32) -> f32 {
    let blocks: Vec<f32> = samples
        .chunks_exact(SAMPLE_RATE as usize / 10)
        .map(|b| tone_level(b, hz))
        .collect();
    if blocks.is_empty() {
        return tone_level(samples, hz);
    }
    (blocks.iter().map(|l| l * l).sum::<f32>() / blocks.len() as f32).sqrt()
}

/// Timing marks for delay measurements: every [`MARK_PERIOD`] seconds, 0.3 s of silence
/// then 0.2 s of a 1 kHz tone (peak 0.5). Loop it as a microphone; find the onsets at the
/// far end with [`mark_delays`].
pub fn marks() -> Vec<f32> {
    let rate = SAMPLE_RATE as usize;
    let mut v = vec![0.0; rate * 3 / 10];
    v.extend(sine(1000.0, 0.5, rate / 5));
    v
}

/// The period of [`marks`], in seconds.
pub const MARK_PERIOD: f64 = 0.5;

/// Delays (ms, sorted) of the [`marks`] heard in `heard`, a recording that started
/// `heard_after` seconds after the marks' source did. Each onset is attributed to the
/// latest mark sent before it, so delays are taken modulo the period (fine below 500 ms).
/// The first four marks (call setup) are left out.
pub fn mark_delays(heard: &[f32], heard_after: f64) -> Vec<f64> {
    let rate = SAMPLE_RATE as usize;
    let mut delays = Vec::new();
    let mut from = 0;
    while let Some(i) = onset(&heard[from..], 0.05) {
        let o = from + i;
        let since = heard_after + o as f64 / rate as f64 - 0.3;
        let sent = (since / MARK_PERIOD).floor() * MARK_PERIOD;
        delays.push((since - sent) * 1000.0);
        from = o + rate * 2 / 5;
        if from >= heard.len() {
            break;
        }
    }
    delays.drain(..delays.len().min(4));
    delays.sort_by(f64::total_cmp);
    delays
}

/// `samples` through a two-pole band-pass filter centred on `hz` with quality `q` (RBJ
/// biquad, 0 dB at the centre): isolates one tone of a mix before [`onset`], e.g. the
/// 1 kHz [`marks`] from a participant's 440 Hz tone.
pub fn band_pass(samples: &[f32], hz: f32, q: f32) -> Vec<f32> {
    let w = std::f64::consts::TAU * f64::from(hz) / f64::from(SAMPLE_RATE);
    let alpha = w.sin() / (2.0 * f64::from(q));
    let a0 = 1.0 + alpha;
    let (b0, b2) = (alpha / a0, -alpha / a0);
    let (a1, a2) = (-2.0 * w.cos() / a0, (1.0 - alpha) / a0);
    let (mut x1, mut x2, mut y1, mut y2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    samples
        .iter()
        .map(|&x| {
            let x = f64::from(x);
            let y = b0 * x + b2 * x2 - a1 * y1 - a2 * y2;
            (x2, x1, y2, y1) = (x1, x, y1, y);
            y as f32
        })
        .collect()
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
    fn tone_presence_is_not_fooled_by_a_shifted_note() {
        // The caller's phrase, with 1.136 ms (half a 440 Hz period) of silence before
        // its third 440 Hz note, as a stretching jitter buffer or a speaker gap would
        // leave it: the two halves cancel in one long Goertzel sum, not block by block.
        let rate = SAMPLE_RATE as usize;
        let phrase = caller_phrase(4.8);
        let mut shifted = Vec::new();
        for (k, note) in phrase.chunks(rate * 4 / 10).enumerate() {
            if k == 7 {
                shifted.extend(std::iter::repeat_n(0.0, rate / 880));
            }
            shifted.extend(note);
        }
        let whole = tone_level(&phrase, 440.0);
        let steady = tone_presence(&phrase, 440.0);
        let moved = tone_presence(&shifted, 440.0);
        assert!(
            tone_level(&shifted, 440.0) < whole / 4.0,
            "{} vs {whole}",
            tone_level(&shifted, 440.0)
        );
        assert!((moved - steady).abs() < 0.01, "{moved} vs {steady}");
        // 300 ms of every 1.2 s at peak 0.3: a quarter of the time, half the amplitude.
        assert!((steady - 0.15).abs() < 0.02, "{steady}");
        // Its neighbours in the phrase do not leak into it, nor does silence.
        assert!(tone_presence(&caller_phrase(4.8), 1_000.0) < 0.005);
        assert_eq!(tone_presence(&[0.0; 48_000], 440.0), 0.0);
        assert!((tone_presence(&sine(700.0, 0.2, rate), 700.0) - 0.2).abs() < 0.01);
    }

    #[test]
    fn tone_blocks_follow_the_tones_and_skip_the_rest() {
        let mut v = sine(600.0, 0.5, 9600);
        v.extend(vec![0.0; 4800]);
        v.extend(sine(1000.0, 0.5, 4800));
        v.extend(sine(440.0, 0.5, 4800));
        assert_eq!(tone_blocks(&v, &[600, 440]), [600, 600, 440]);
        assert_eq!(
            tone_timeline(&v, &[600, 440]),
            [Some(600), Some(600), None, None, Some(440)],
            "the silence and the 1 kHz block keep their places"
        );
    }

    #[test]
    fn a_tone_starting_at_a_blocks_edge_is_not_read_in_that_block() {
        // A call's audio starting 9 ms before a block boundary, as a far end recorded it
        // in a failed run. That block's peak is leakage: there it fell at 440 Hz, a tone
        // never played; this clean sine puts it on 600. Either way the block says nothing.
        let mut v = vec![0.0; 4800 - 442];
        v.extend(sine(600.0, 0.2, 442 + 4800));
        assert_eq!(tone_blocks(&v, &[600, 440]), [600]);
        // A tone holding a fair part of a block, at its edge too, still counts.
        let mut v = vec![0.0; 4800 - 1600];
        v.extend(sine(600.0, 0.2, 1600));
        assert_eq!(tone_blocks(&v, &[600, 440]), [600]);
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

    #[test]
    fn mark_delays_reads_a_delayed_copy_of_the_marks() {
        // Ten periods of marks, heard 73 ms late by a recording started 1.2 s after them.
        let sent: Vec<f32> = marks().repeat(10);
        let rate = SAMPLE_RATE as usize;
        let late = rate * 73 / 1000;
        let heard_from = rate * 12 / 10;
        let mut heard = vec![0.0; late];
        heard.extend(&sent);
        let d = mark_delays(&heard[heard_from..], 1.2);
        assert_eq!(d.len(), 4, "{d:?}"); // 10 marks, 2 before the recording, 4 dropped
        assert!(d.iter().all(|ms| (ms - 73.0).abs() <= 5.0), "{d:?}");
        assert!(mark_delays(&[0.0; 48_000], 0.0).is_empty());
    }

    #[test]
    fn band_pass_keeps_its_tone_and_drops_another() {
        let n = SAMPLE_RATE as usize / 2;
        let tail = |v: Vec<f32>| rms(&v[n / 2..]);
        let kept = tail(band_pass(&sine(1_000.0, 0.5, n), 1_000.0, 10.0));
        let dropped = tail(band_pass(&sine(440.0, 0.5, n), 1_000.0, 10.0));
        assert!((kept - 0.5 / 2f32.sqrt()).abs() < 0.01, "{kept}");
        assert!(dropped < 0.03, "{dropped}");
    }
}
