//! Voice processing on the capture path: echo cancellation, noise suppression and automatic
//! gain control by WebRTC's audio-processing module (PulseAudio's packaging, the
//! `libwebrtc-audio-processing` library Debian ships), or a bypass for tests and for the
//! benchmark that shows what the processing costs.
//!
//! The module works in 10 ms blocks; the engine's 20 ms frames are fed as two halves.
//! The far end (what the speaker plays) goes through `render` so the canceller knows what
//! echo to expect.

pub use webrtc_audio_processing as apm;

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

/// WebRTC AEC + NS + AGC + high-pass filter.
pub struct WebrtcProcessor {
    inner: apm::Processor,
}

impl std::fmt::Debug for WebrtcProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebrtcProcessor").finish_non_exhaustive()
    }
}

const BLOCK: usize = apm::NUM_SAMPLES_PER_FRAME as usize;

/// The settings a headset or laptop softphone wants: strong echo suppression that does not
/// need the device delay (delay-agnostic), moderate noise suppression, adaptive digital
/// gain with a limiter.
///
/// What each part costs is printed by `cargo xtask bench media cpu`. One cost cannot be
/// switched off from here: with gain control on, the library also runs its "experimental"
/// analog AGC manager (the `webrtc-audio-processing` crate can only turn it on, and the
/// library's default is on), which recommends a microphone volume that nothing applies.
/// Gain control costs about 30 % of the module's time, and the manager's
/// pitch-based voice detector and resampler lead a profile of that part.
pub fn shipped_config() -> apm::Config {
    apm::Config {
        echo_cancellation: Some(apm::EchoCancellation {
            suppression_level: apm::EchoCancellationSuppressionLevel::High,
            enable_extended_filter: true,
            enable_delay_agnostic: true,
            stream_delay_ms: None,
        }),
        gain_control: Some(apm::GainControl {
            mode: apm::GainControlMode::AdaptiveDigital,
            target_level_dbfs: 6,
            compression_gain_db: 9,
            enable_limiter: true,
        }),
        noise_suppression: Some(apm::NoiseSuppression {
            suppression_level: apm::NoiseSuppressionLevel::Moderate,
        }),
        enable_high_pass_filter: true,
        ..Default::default()
    }
}

impl WebrtcProcessor {
    /// The module with [`shipped_config`].
    pub fn new() -> Result<Self, MediaError> {
        Self::with_config(shipped_config())
    }

    /// The module with other settings (the benchmark's breakdown of its cost).
    pub fn with_config(config: apm::Config) -> Result<Self, MediaError> {
        debug_assert_eq!(FRAME_SAMPLES % BLOCK, 0);
        let mut inner = apm::Processor::new(&apm::InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            ..Default::default()
        })
        .map_err(|e| MediaError::Processing(e.to_string()))?;
        inner.set_config(config);
        Ok(Self { inner })
    }
}

impl VoiceProcessor for WebrtcProcessor {
    fn capture(&mut self, frame: &mut [f32]) {
        for block in frame.chunks_exact_mut(BLOCK) {
            if let Err(e) = self.inner.process_capture_frame(block) {
                tracing::warn!(error = %e, "echo canceller rejected a capture block");
            }
        }
    }

    fn render(&mut self, frame: &mut [f32]) {
        for block in frame.chunks_exact_mut(BLOCK) {
            if let Err(e) = self.inner.process_render_frame(block) {
                tracing::warn!(error = %e, "echo canceller rejected a render block");
            }
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
    fn bypass_leaves_audio_alone() {
        let mut frame = sine(440.0, 0.5, FRAME_SAMPLES);
        let before = frame.clone();
        Bypass.capture(&mut frame);
        assert_eq!(frame, before);
    }
}
