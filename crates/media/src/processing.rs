//! Voice processing on the capture path: echo cancellation, noise suppression and the
//! high-pass filter by WebRTC's audio-processing module (PulseAudio's packaging, the
//! `libwebrtc-audio-processing` library Debian ships), then our own automatic gain
//! ([`crate::gain`], in place of the module's: see there why); or a bypass for tests and
//! for the benchmark that shows what the processing costs.
//!
//! The module works in 10 ms blocks; the engine's 20 ms frames are fed as two halves. The
//! microphone goes in at 48 kHz and comes out at the send rate, 16 kHz (see
//! [`shipped_config`] for why); the far end (what the speaker plays, at 48 kHz) goes
//! through `render` so the canceller knows what echo to expect.

pub use switchboard_apm as apm;

use crate::gain::DigitalGain;
use crate::resample::Decimator;
use crate::{FRAME_SAMPLES, MediaError, SAMPLE_RATE, SEND_FRAME, SEND_RATE};

/// What processes the microphone.
pub trait VoiceProcessor: Send {
    /// Clean a captured frame ([`FRAME_SAMPLES`] at [`SAMPLE_RATE`]) into `out`, the frame
    /// to send ([`SEND_FRAME`] at [`SEND_RATE`]).
    fn capture(&mut self, frame: &[f32], out: &mut [f32]);
    /// Tell the processor what the speaker is about to play (at [`SAMPLE_RATE`]).
    fn render(&mut self, frame: &[f32]);
    /// A short name for logs and benchmark output.
    fn name(&self) -> &'static str;
}

/// No processing: the microphone only taken to the send rate.
#[derive(Debug, Default)]
pub struct Bypass {
    decimator: Decimator,
}

impl VoiceProcessor for Bypass {
    fn capture(&mut self, frame: &[f32], out: &mut [f32]) {
        self.decimator.process(frame, out);
    }
    fn render(&mut self, _frame: &[f32]) {}
    fn name(&self) -> &'static str {
        "bypass"
    }
}

/// WebRTC AEC + NS + high-pass filter, then our gain.
#[derive(Debug)]
pub struct WebrtcProcessor {
    inner: apm::Apm,
    gain: Option<DigitalGain>,
}

/// The module's 10 ms blocks at the microphone's rate and at the send rate.
const BLOCK: usize = SAMPLE_RATE as usize / 100;
const SEND_BLOCK: usize = SEND_RATE as usize / 100;

/// The module's settings a headset or laptop softphone wants: moderate echo suppression
/// that does not need the device delay (delay-agnostic), moderate noise suppression, and
/// no gain control: [`WebrtcProcessor::new`] adds ours after the module, because the
/// module's would bring along its analog AGC manager, about 30 % of the module's time for
/// a microphone volume nothing applies.
///
/// Moderate, not high, echo suppression: high takes the agent's voice down further while
/// the caller talks too (`tests/double_talk.rs`: under the caller's phrase the agent's
/// speech kept 0.56x of its level without the phrase at high, 0.61-0.63x at moderate; and
/// 0.83x against 0.88-0.90x of its active frames). Moderate is also what calls had before
/// the module came through our shim: `webrtc-audio-processing` 0.5 casts its five
/// suppression levels (lowest .. high, 0 .. 4) into the module's three (low, moderate,
/// high, 0 .. 2), so the "high" it was given was refused and the module kept its default,
/// moderate (its "low" was the module's high). The shim maps each level by name and fails
/// on any setting the module refuses.
///
/// The microphone goes in at the devices' rate and comes out at the send rate, so the
/// module works at 16 kHz: at 48 kHz out it would split each block into three bands and
/// join them again, for audio above what the encoder keeps.
///
/// What each part costs is printed by `cargo xtask bench media cpu`.
pub fn shipped_config() -> apm::Settings {
    apm::Settings {
        echo: Some(apm::Echo {
            suppression: apm::Suppression::Moderate,
            extended_filter: true,
            delay_agnostic: true,
        }),
        noise: Some(apm::NoiseLevel::Moderate),
        high_pass: true,
        gain: None,
        capture_rate: SAMPLE_RATE,
        output_rate: SEND_RATE,
        render_rate: SAMPLE_RATE,
    }
}

impl WebrtcProcessor {
    /// The module with [`shipped_config`], then our gain.
    pub fn new() -> Result<Self, MediaError> {
        Self::with_config(shipped_config(), true)
    }

    /// The module with other settings, with or without our gain after it (the benchmark's
    /// breakdown of their cost). The rates must be the engine's ([`shipped_config`]'s).
    pub fn with_config(config: apm::Settings, own_gain: bool) -> Result<Self, MediaError> {
        debug_assert_eq!(FRAME_SAMPLES % BLOCK, 0);
        let shipped = shipped_config();
        if (config.capture_rate, config.output_rate, config.render_rate)
            != (shipped.capture_rate, shipped.output_rate, shipped.render_rate)
        {
            return Err(MediaError::Processing(format!(
                "the module must take {} Hz and give {} Hz",
                SAMPLE_RATE, SEND_RATE
            )));
        }
        let inner = apm::Apm::new(config).map_err(|e| MediaError::Processing(e.to_string()))?;
        Ok(Self {
            inner,
            gain: own_gain.then(|| DigitalGain::for_rates(SEND_RATE, SAMPLE_RATE)),
        })
    }
}

impl VoiceProcessor for WebrtcProcessor {
    fn capture(&mut self, frame: &[f32], out: &mut [f32]) {
        debug_assert_eq!(out.len(), SEND_FRAME);
        for (block, sent) in frame.chunks_exact(BLOCK).zip(out.chunks_exact_mut(SEND_BLOCK)) {
            if let Err(e) = self.inner.capture(block, sent) {
                tracing::warn!(error = %e, "echo canceller rejected a capture block");
            }
        }
        if let Some(gain) = &mut self.gain {
            gain.process(out);
        }
    }

    fn render(&mut self, frame: &[f32]) {
        for block in frame.chunks_exact(BLOCK) {
            if let Err(e) = self.inner.render(block) {
                tracing::warn!(error = %e, "echo canceller rejected a render block");
            }
        }
        if let Some(gain) = &mut self.gain {
            gain.far_end(frame);
        }
    }

    fn name(&self) -> &'static str {
        "webrtc-apm"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{rms, sine};

    #[test]
    fn echo_of_the_far_end_is_cancelled() {
        // The speaker plays a tone and the microphone picks up an attenuated, delayed copy of
        // it and nothing else: after the canceller converges the capture should be far
        // quieter than the echo.
        let mut p = WebrtcProcessor::new().expect("apm");
        let far = crate::tone::caller_phrase(6.0);
        let delay = 480; // 10 ms acoustic path
        let mut residual = Vec::new();
        let mut echo_total = Vec::new();
        for (i, chunk) in far.chunks(FRAME_SAMPLES).enumerate() {
            p.render(chunk);
            let start = (i * FRAME_SAMPLES).saturating_sub(delay);
            let mut mic: Vec<f32> = far[start..start + FRAME_SAMPLES].iter().map(|s| s * 0.5).collect();
            let mut sent = vec![0.0; SEND_FRAME];
            if i * FRAME_SAMPLES < delay {
                mic.iter_mut().for_each(|s| *s = 0.0);
            }
            if i > 150 {
                echo_total.extend_from_slice(&mic);
            }
            p.capture(&mic, &mut sent);
            if i > 150 {
                residual.extend_from_slice(&sent);
            }
        }
        let (echo, left) = (rms(&echo_total), rms(&residual));
        assert!(left < echo * 0.3, "echo rms {echo}, after AEC {left}");
    }

    #[test]
    fn a_quiet_talker_comes_out_of_the_shipped_processor_raised() {
        // Our gain is part of the shipped processor: the same quiet talker (no far end)
        // through the module alone and through the module with our gain.
        let quiet: Vec<f32> = crate::tone::caller_phrase(8.0).iter().map(|s| s * 0.06).collect();
        let through = |mut p: WebrtcProcessor| {
            let mut out = Vec::new();
            let mut sent = vec![0.0; SEND_FRAME];
            for chunk in quiet.chunks_exact(FRAME_SAMPLES) {
                p.capture(chunk, &mut sent);
                out.extend_from_slice(&sent);
            }
            rms(&out[out.len() - 3 * SEND_RATE as usize..])
        };
        let module_only = through(WebrtcProcessor::with_config(shipped_config(), false).expect("apm"));
        let shipped = through(WebrtcProcessor::new().expect("apm"));
        let added_db = 20.0 * (shipped / module_only).log10();
        assert!(
            added_db > 6.0 && added_db < crate::gain::MAX_GAIN_DB + 0.5,
            "our gain added {added_db:.1} dB (rms {module_only} -> {shipped})"
        );
    }

    #[test]
    fn bypass_only_takes_the_microphone_to_the_send_rate() {
        // A 440 Hz tone comes out at 16 kHz as the same tone at the same level: its DFT
        // bin holds all of it.
        let tone = sine(440.0, 0.5, FRAME_SAMPLES * 50);
        let mut bypass = Bypass::default();
        let mut out = Vec::new();
        let mut sent = vec![0.0; SEND_FRAME];
        for frame in tone.chunks_exact(FRAME_SAMPLES) {
            bypass.capture(frame, &mut sent);
            out.extend_from_slice(&sent);
        }
        let settled = &out[SEND_FRAME..];
        let (mut c, mut s) = (0.0_f32, 0.0_f32);
        for (i, x) in settled.iter().enumerate() {
            let w = std::f32::consts::TAU * 440.0 * i as f32 / SEND_RATE as f32;
            (c, s) = (c + x * w.cos(), s + x * w.sin());
        }
        let at_440 = 2.0 * (c * c + s * s).sqrt() / settled.len() as f32;
        assert!((at_440 - 0.5).abs() < 0.01, "440 Hz at {at_440}");
        assert!(
            (rms(settled) - 0.5 / 2.0_f32.sqrt()).abs() < 0.01,
            "rms {}",
            rms(settled)
        );
    }
}
