//! WebRTC's audio processing module (echo canceller, noise suppressor, high-pass filter,
//! and its gain control for comparison) as Debian packages it, `libwebrtc-audio-processing`
//! 0.3, through a C++ shim of ours (`src/shim.cc`).
//!
//! What this adds over binding the library at one fixed rate: the capture side's output
//! rate is the caller's. The module processes at the lowest native rate covering its input
//! and its output, so a microphone at 48 kHz processed for a 16 kHz encoder runs the
//! canceller and suppressor at 16 kHz after one resampling, and never runs the three-band
//! split a 48 kHz output needs (see `cargo xtask bench media cpu`).
//!
//! Start at [`Apm::new`]; [`Settings`] says what runs. One [`Apm`] per microphone: its
//! render side must hear what that microphone's speaker plays.

use std::ptr::NonNull;

/// The module's result codes (`AudioProcessing::Error`) that are worth naming.
const NO_ERROR: i32 = 0;

/// What the module refused, as the shim reported it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApmError {
    /// The settings or rates were refused when the module was made.
    #[error("the audio processing module could not be created (error {0})")]
    Create(i32),
    /// A block was refused (the library's error code).
    #[error("the audio processing module refused a {side} block (error {code})")]
    Block { side: &'static str, code: i32 },
    /// A block of the wrong length: every block is 10 ms at its side's rate.
    #[error("a {side} block of {got} samples, expected {expected} (10 ms)")]
    Length {
        side: &'static str,
        got: usize,
        expected: usize,
    },
}

/// The echo canceller's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    pub suppression: Suppression,
    /// A 128 ms filter instead of 48 ms, with slower, steadier delay tracking.
    pub extended_filter: bool,
    /// The canceller estimates the device's delay itself instead of being told it.
    pub delay_agnostic: bool,
}

/// How hard the echo canceller suppresses what its filter leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppression {
    Low,
    Moderate,
    High,
}

/// How hard the noise suppressor works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseLevel {
    Low,
    Moderate,
    High,
    VeryHigh,
}

/// The library's own gain control, adaptive digital. With it the library also runs its
/// "experimental" analog AGC manager (on by default in 0.3); kept for the benchmark that
/// shows what it costs against ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibraryGain {
    /// Target level, dB below full scale.
    pub target_level_dbfs: i32,
    pub compression_gain_db: i32,
    pub limiter: bool,
}

/// What runs, and at which rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub echo: Option<Echo>,
    pub noise: Option<NoiseLevel>,
    pub high_pass: bool,
    pub gain: Option<LibraryGain>,
    /// The microphone's rate.
    pub capture_rate: u32,
    /// The rate the processed microphone comes out at.
    pub output_rate: u32,
    /// The speaker's rate (the render side's blocks).
    pub render_rate: u32,
}

#[allow(unsafe_code)]
mod ffi {
    use std::os::raw::{c_float, c_int};

    #[repr(C)]
    pub struct Settings {
        pub echo: c_int,
        pub echo_suppression: c_int,
        pub extended_filter: c_int,
        pub delay_agnostic: c_int,
        pub noise: c_int,
        pub noise_level: c_int,
        pub high_pass: c_int,
        pub gain: c_int,
        pub gain_target_dbfs: c_int,
        pub gain_compression_db: c_int,
        pub gain_limiter: c_int,
    }

    /// The shim's handle; only ever behind a pointer.
    #[repr(C)]
    pub struct Apm {
        _private: [u8; 0],
    }

    unsafe extern "C" {
        pub fn sb_apm_new(settings: *const Settings, error: *mut c_int) -> *mut Apm;
        pub fn sb_apm_free(apm: *mut Apm);
        pub fn sb_apm_render(apm: *mut Apm, block: *const c_float, rate: c_int) -> c_int;
        pub fn sb_apm_capture(
            apm: *mut Apm,
            input: *const c_float,
            in_rate: c_int,
            out: *mut c_float,
            out_rate: c_int,
        ) -> c_int;
    }
}

impl Settings {
    fn to_ffi(self) -> ffi::Settings {
        let echo = self.echo;
        let gain = self.gain;
        ffi::Settings {
            echo: i32::from(echo.is_some()),
            echo_suppression: match echo.map(|e| e.suppression) {
                Some(Suppression::Low) => 0,
                Some(Suppression::Moderate) | None => 1,
                Some(Suppression::High) => 2,
            },
            extended_filter: i32::from(echo.is_some_and(|e| e.extended_filter)),
            delay_agnostic: i32::from(echo.is_some_and(|e| e.delay_agnostic)),
            noise: i32::from(self.noise.is_some()),
            noise_level: match self.noise {
                Some(NoiseLevel::Low) => 0,
                Some(NoiseLevel::Moderate) | None => 1,
                Some(NoiseLevel::High) => 2,
                Some(NoiseLevel::VeryHigh) => 3,
            },
            high_pass: i32::from(self.high_pass),
            gain: i32::from(gain.is_some()),
            gain_target_dbfs: gain.map_or(0, |g| g.target_level_dbfs),
            gain_compression_db: gain.map_or(0, |g| g.compression_gain_db),
            gain_limiter: i32::from(gain.is_some_and(|g| g.limiter)),
        }
    }
}

/// The rates the module takes: its native ones, plus 44.1 kHz which it resamples.
fn supported(rate: u32) -> bool {
    matches!(rate, 8_000 | 16_000 | 32_000 | 44_100 | 48_000)
}

/// One module instance. Not shared: each side's blocks come from one thread at a time
/// (`&mut self`), as the library requires of its stream calls.
#[derive(Debug)]
pub struct Apm {
    inner: NonNull<ffi::Apm>,
    settings: Settings,
}

// The module holds no thread-bound state; it only must not be called from two threads at
// once, which `&mut self` rules out.
#[allow(unsafe_code)]
unsafe impl Send for Apm {}

#[allow(unsafe_code)]
impl Apm {
    /// A module with `settings`. Refuses rates the module does not take (as
    /// [`ApmError::Create`] with the library's bad-rate code) and settings it refuses.
    pub fn new(settings: Settings) -> Result<Self, ApmError> {
        const BAD_SAMPLE_RATE: i32 = -7;
        if ![settings.capture_rate, settings.output_rate, settings.render_rate]
            .into_iter()
            .all(supported)
        {
            return Err(ApmError::Create(BAD_SAMPLE_RATE));
        }
        let ffi_settings = settings.to_ffi();
        let mut error = NO_ERROR;
        // SAFETY: both pointers are valid for the call; the shim copies what it needs.
        let raw = unsafe { ffi::sb_apm_new(&ffi_settings, &mut error) };
        let inner = NonNull::new(raw).ok_or(ApmError::Create(error))?;
        Ok(Self { inner, settings })
    }

    /// The settings it was made with.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Samples in a 10 ms block at `rate`.
    pub fn block(rate: u32) -> usize {
        rate as usize / 100
    }

    /// One 10 ms block of what the speaker is about to play, at the render rate: the echo
    /// the canceller will look for.
    pub fn render(&mut self, block: &[f32]) -> Result<(), ApmError> {
        let rate = self.settings.render_rate;
        check_len("render", block.len(), rate)?;
        // SAFETY: `inner` is live (freed only in Drop), and `block` holds the 10 ms the
        // shim reads.
        let code = unsafe { ffi::sb_apm_render(self.inner.as_ptr(), block.as_ptr(), rate as i32) };
        result("render", code)
    }

    /// One 10 ms block of the microphone at the capture rate, processed into `out`, 10 ms
    /// at the output rate.
    pub fn capture(&mut self, input: &[f32], out: &mut [f32]) -> Result<(), ApmError> {
        let Settings {
            capture_rate,
            output_rate,
            ..
        } = self.settings;
        check_len("capture", input.len(), capture_rate)?;
        check_len("processed capture", out.len(), output_rate)?;
        // SAFETY: `inner` is live; `input` and `out` hold 10 ms at their rates, which is
        // what the shim reads and writes.
        let code = unsafe {
            ffi::sb_apm_capture(
                self.inner.as_ptr(),
                input.as_ptr(),
                capture_rate as i32,
                out.as_mut_ptr(),
                output_rate as i32,
            )
        };
        result("capture", code)
    }
}

#[allow(unsafe_code)]
impl Drop for Apm {
    fn drop(&mut self) {
        // SAFETY: made by sb_apm_new and freed only here.
        unsafe { ffi::sb_apm_free(self.inner.as_ptr()) }
    }
}

fn check_len(side: &'static str, got: usize, rate: u32) -> Result<(), ApmError> {
    let expected = Apm::block(rate);
    if got == expected {
        Ok(())
    } else {
        Err(ApmError::Length { side, got, expected })
    }
}

fn result(side: &'static str, code: i32) -> Result<(), ApmError> {
    if code == NO_ERROR {
        Ok(())
    } else {
        Err(ApmError::Block { side, code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(output_rate: u32) -> Settings {
        Settings {
            echo: Some(Echo {
                suppression: Suppression::High,
                extended_filter: true,
                delay_agnostic: true,
            }),
            noise: Some(NoiseLevel::Moderate),
            high_pass: true,
            gain: None,
            capture_rate: 48_000,
            output_rate,
            render_rate: 48_000,
        }
    }

    fn sine(hz: f32, rate: u32, n: usize, from: usize) -> Vec<f32> {
        (from..from + n)
            .map(|i| 0.3 * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    fn rms(v: &[f32]) -> f32 {
        (v.iter().map(|s| s * s).sum::<f32>() / v.len().max(1) as f32).sqrt()
    }

    #[test]
    fn a_talker_comes_out_at_the_output_rate_with_its_tone_kept() {
        // No far end: a 1 kHz tone in at 48 kHz must come out at 16 kHz as the same tone
        // (its DFT bin at 16 kHz), at its level. The noise suppressor is off: a tone that
        // never changes is what it learns as noise (it takes 12 dB off this one).
        let mut apm = Apm::new(Settings {
            noise: None,
            ..settings(16_000)
        })
        .expect("apm");
        let mut out = Vec::new();
        let mut block = vec![0.0; 160];
        for i in 0..300 {
            apm.render(&[0.0; 480]).expect("render");
            apm.capture(&sine(1000.0, 48_000, 480, i * 480), &mut block)
                .expect("capture");
            out.extend_from_slice(&block);
        }
        let tail = &out[out.len() - 16_000..];
        let (mut c, mut s) = (0.0_f32, 0.0_f32);
        for (i, x) in tail.iter().enumerate() {
            let w = std::f32::consts::TAU * 1000.0 * i as f32 / 16_000.0;
            (c, s) = (c + x * w.cos(), s + x * w.sin());
        }
        let amplitude = 2.0 * (c * c + s * s).sqrt() / tail.len() as f32;
        assert!(
            (amplitude - 0.3).abs() < 0.03,
            "1 kHz at 16 kHz out: amplitude {amplitude}, rms {}",
            rms(tail)
        );
    }

    #[test]
    fn the_echo_of_the_far_end_is_taken_out_at_16_khz() {
        // The speaker plays a tone burst pattern; the microphone hears half of it 10 ms
        // later and nothing else. Once converged, what comes out is far below the echo.
        let mut apm = Apm::new(settings(16_000)).expect("apm");
        let (mut echo, mut left) = (Vec::new(), Vec::new());
        let mut out = vec![0.0; 160];
        let far: Vec<f32> = (0..600 * 480)
            .map(|i| {
                let on = (i / 24_000) % 2 == 0;
                let t = i as f32 / 48_000.0;
                if on {
                    0.3 * (std::f32::consts::TAU * (300.0 + 200.0 * (t * 0.7).sin()) * t).sin()
                } else {
                    0.0
                }
            })
            .collect();
        for i in 0..600 {
            let heard = &far[i * 480..(i + 1) * 480];
            apm.render(heard).expect("render");
            let mic: Vec<f32> = (0..480)
                .map(|k| (i * 480 + k).checked_sub(480).map_or(0.0, |j| 0.5 * far[j]))
                .collect();
            apm.capture(&mic, &mut out).expect("capture");
            if i >= 400 {
                echo.extend(mic.iter().step_by(3));
                left.extend_from_slice(&out);
            }
        }
        assert!(
            rms(&left) < 0.3 * rms(&echo),
            "echo rms {}, after {}",
            rms(&echo),
            rms(&left)
        );
    }

    /// The amplitude of `hz` in `v` (sampled at `rate`): one Hann-windowed DFT bin.
    fn amplitude(v: &[f32], hz: f32, rate: u32) -> f32 {
        let n = v.len() as f32;
        let (mut c, mut s, mut w_sum) = (0.0_f32, 0.0_f32, 0.0_f32);
        for (i, x) in v.iter().enumerate() {
            let w = 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n).cos();
            let phase = std::f32::consts::TAU * hz * i as f32 / rate as f32;
            (c, s, w_sum) = (c + w * x * phase.cos(), s + w * x * phase.sin(), w_sum + w);
        }
        2.0 * (c * c + s * s).sqrt() / w_sum
    }

    /// Double talk at one output rate: the far end plays notes (330, 440, 550 Hz, 0.3 s
    /// each and 0.1 s apart, like the simulated caller); the microphone hears them
    /// `echo_gain` times as loud 10 ms later and, from 4 s on, the agent's 1 kHz tone as
    /// well. Answers, as medians over the notes from 6 s on, how much of the agent's tone
    /// came out and how much of the echo (each relative to what the microphone heard).
    fn double_talk(output_rate: u32, echo_gain: f32) -> (f32, f32) {
        const NOTE: usize = 48 * 300;
        const CYCLE: usize = 48 * 400;
        const SECONDS: usize = 14;
        const NEAR_HZ: f32 = 1000.0;
        const NEAR: f32 = 0.1;
        let note_hz = |i: usize| [330.0_f32, 440.0, 550.0][(i / CYCLE) % 3];
        let far = |i: usize| -> f32 {
            if i % CYCLE < NOTE {
                0.3 * (std::f32::consts::TAU * note_hz(i) * i as f32 / 48_000.0).sin()
            } else {
                0.0
            }
        };
        let near = |i: usize| -> f32 {
            if i >= 4 * 48_000 {
                NEAR * (std::f32::consts::TAU * NEAR_HZ * i as f32 / 48_000.0).sin()
            } else {
                0.0
            }
        };
        let mut apm = Apm::new(settings(output_rate)).expect("apm");
        let mut out = Vec::new();
        let mut block = vec![0.0; Apm::block(output_rate)];
        for b in 0..SECONDS * 100 {
            let samples = b * 480..(b + 1) * 480;
            let render: Vec<f32> = samples.clone().map(far).collect();
            apm.render(&render).expect("render");
            let mic: Vec<f32> = samples
                .map(|i| i.checked_sub(480).map_or(0.0, |j| echo_gain * far(j)) + near(i))
                .collect();
            apm.capture(&mic, &mut block).expect("capture");
            out.extend_from_slice(&block);
        }
        // Each note less its first and last 50 ms (its echo starts 10 ms late).
        let step = 48_000 / output_rate as usize;
        let (mut kept, mut echo) = (Vec::new(), Vec::new());
        for start in (6 * 48_000 / CYCLE..SECONDS * 48_000 / CYCLE).map(|c| c * CYCLE) {
            let window = &out[(start + 48 * 50) / step..(start + NOTE - 48 * 50) / step];
            kept.push(amplitude(window, NEAR_HZ, output_rate) / NEAR);
            if echo_gain > 0.0 {
                echo.push(amplitude(window, note_hz(start), output_rate) / (0.3 * echo_gain));
            }
        }
        let median = |mut v: Vec<f32>| {
            v.sort_by(f32::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        (median(kept), median(echo))
    }

    #[test]
    #[allow(clippy::print_stdout)] // the figures, for a reader of the test's output
    fn double_talk_keeps_as_much_of_the_agent_at_16_khz_as_at_48() {
        // Working at 16 kHz (one band, after one resampling) must not suppress the agent's
        // voice under the far end's more than working at 48 kHz (three bands) does, nor
        // leave more echo; with an echo path and without one (a headset).
        for echo_gain in [0.5, 0.0] {
            let (kept_48, echo_48) = double_talk(48_000, echo_gain);
            let (kept_16, echo_16) = double_talk(16_000, echo_gain);
            println!(
                "echo path {echo_gain}: the agent kept {kept_48:.3} at 48 kHz, {kept_16:.3} at 16 kHz; \
                 echo left {echo_48:.4} and {echo_16:.4}"
            );
            assert!(
                kept_16 >= 0.8 * kept_48,
                "echo path {echo_gain}: 16 kHz kept {kept_16} of the agent, 48 kHz {kept_48}"
            );
            assert!(
                kept_48 > 0.05,
                "echo path {echo_gain}: the agent is all but gone at 48 kHz ({kept_48}); the comparison means nothing"
            );
            assert!(
                echo_16 <= 0.05 && echo_48 <= 0.05,
                "echo path {echo_gain}: echo left {echo_16} at 16 kHz, {echo_48} at 48 kHz"
            );
        }
    }

    #[test]
    fn wrong_lengths_and_rates_are_refused_with_what_was_expected() {
        assert!(
            matches!(Apm::new(settings(22_050)), Err(ApmError::Create(-7))),
            "22.05 kHz is no rate of the module's"
        );
        let mut apm = Apm::new(settings(16_000)).expect("apm");
        assert_eq!(
            apm.render(&[0.0; 960]),
            Err(ApmError::Length {
                side: "render",
                got: 960,
                expected: 480
            })
        );
        let mut out = [0.0; 480];
        assert_eq!(
            apm.capture(&[0.0; 480], &mut out),
            Err(ApmError::Length {
                side: "processed capture",
                got: 480,
                expected: 160
            })
        );
        // A good block still goes through after the refusals.
        assert_eq!(apm.capture(&[0.0; 480], &mut out[..160]), Ok(()));
    }
}
