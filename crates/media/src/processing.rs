//! Voice processing on the capture path: echo cancellation, noise suppression and the
//! high-pass filter by WebRTC's audio-processing module (PulseAudio's packaging, the
//! `libwebrtc-audio-processing` library Debian ships), then our own automatic gain
//! ([`crate::gain`], in place of the module's: see there why); or a bypass for tests and
//! for the benchmark that shows what the processing costs.
//!
//! The module works in 10 ms blocks; the engine's 20 ms frames are fed as two halves.
//! The far end (what the speaker plays) goes through `render` so the canceller knows what
//! echo to expect.

pub use webrtc_audio_processing as apm;

use crate::gain::DigitalGain;
use crate::{FRAME_SAMPLES, MediaError};

/// What processes the microphone.
pub trait VoiceProcessor: Send {
    /// Clean a captured frame in place.
    fn capture(&mut self, frame: &mut [f32]);
    /// Tell the processor what the speaker is about to play.
    fn render(&mut self, frame: &mut [f32]);
    /// A short name for logs and benchmark output.
    fn name(&self) -> &'static str;
}

/// No processing at all.
#[derive(Debug, Default)]
pub struct Bypass;

impl VoiceProcessor for Bypass {
    fn capture(&mut self, _frame: &mut [f32]) {}
    fn render(&mut self, _frame: &mut [f32]) {}
    fn name(&self) -> &'static str {
        "bypass"
    }
}

/// WebRTC AEC + NS + high-pass filter, then our gain.
pub struct WebrtcProcessor {
    inner: apm::Processor,
    gain: Option<DigitalGain>,
}

impl std::fmt::Debug for WebrtcProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebrtcProcessor").finish_non_exhaustive()
    }
}

const BLOCK: usize = apm::NUM_SAMPLES_PER_FRAME as usize;

/// The module's settings a headset or laptop softphone wants: strong echo suppression
/// that does not need the device delay (delay-agnostic), moderate noise suppression, and
/// no gain control: [`WebrtcProcessor::new`] adds ours after the module, because the
/// module's would bring along its analog AGC manager, about 30 % of the module's time for
/// a microphone volume nothing applies.
///
/// What each part costs is printed by `cargo xtask bench media cpu`.
pub fn shipped_config() -> apm::Config {
    apm::Config {
        echo_cancellation: Some(apm::EchoCancellation {
            suppression_level: apm::EchoCancellationSuppressionLevel::High,
            enable_extended_filter: true,
            enable_delay_agnostic: true,
            stream_delay_ms: None,
        }),
        noise_suppression: Some(apm::NoiseSuppression {
            suppression_level: apm::NoiseSuppressionLevel::Moderate,
        }),
        gain_control: None,
        enable_high_pass_filter: true,
        ..Default::default()
    }
}

impl WebrtcProcessor {
    /// The module with [`shipped_config`], then our gain.
    pub fn new() -> Result<Self, MediaError> {
        Self::with_config(shipped_config(), true)
    }

    /// The module with other settings, with or without our gain after it (the benchmark's
    /// breakdown of their cost).
    pub fn with_config(config: apm::Config, own_gain: bool) -> Result<Self, MediaError> {
        debug_assert_eq!(FRAME_SAMPLES % BLOCK, 0);
        let mut inner = apm::Processor::new(&apm::InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            ..Default::default()
        })
        .map_err(|e| MediaError::Processing(e.to_string()))?;
        inner.set_config(config);
        Ok(Self {
            inner,
            gain: own_gain.then(DigitalGain::new),
        })
    }
}

impl VoiceProcessor for WebrtcProcessor {
    fn capture(&mut self, frame: &mut [f32]) {
        for block in frame.chunks_exact_mut(BLOCK) {
            if let Err(e) = self.inner.process_capture_frame(block) {
                tracing::warn!(error = %e, "echo canceller rejected a capture block");
            }
        }
        if let Some(gain) = &mut self.gain {
            gain.process(frame);
        }
    }

    fn render(&mut self, frame: &mut [f32]) {
        for block in frame.chunks_exact_mut(BLOCK) {
            if let Err(e) = self.inner.process_render_frame(block) {
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
            let mut render = chunk.to_vec();
            p.render(&mut render);
            let start = (i * FRAME_SAMPLES).saturating_sub(delay);
            let mut mic: Vec<f32> = far[start..start + FRAME_SAMPLES].iter().map(|s| s * 0.5).collect();
            if i * FRAME_SAMPLES < delay {
                mic.iter_mut().for_each(|s| *s = 0.0);
            }
            if i > 150 {
                echo_total.extend_from_slice(&mic);
            }
            p.capture(&mut mic);
            if i > 150 {
                residual.extend_from_slice(&mic);
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
            for chunk in quiet.chunks_exact(FRAME_SAMPLES) {
                let mut frame = chunk.to_vec();
                p.capture(&mut frame);
                out.extend_from_slice(&frame);
            }
            rms(&out[out.len() - 3 * crate::SAMPLE_RATE as usize..])
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
    fn bypass_leaves_audio_alone() {
        let mut frame = sine(440.0, 0.5, FRAME_SAMPLES);
        let before = frame.clone();
        Bypass.capture(&mut frame);
        assert_eq!(frame, before);
    }
}
