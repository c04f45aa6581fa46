// The C face of webrtc::AudioProcessing (libwebrtc-audio-processing 0.3) that lib.rs binds.
//
// Why our own shim and not a crate's: the capture side's output rate. The module processes
// at the lowest native rate that covers both its input and its output; given 48 kHz out it
// splits every block into three bands and back, work a wideband call never hears. Asked
// for 16 kHz out, it resamples once on the way in and skips the split.

#include <webrtc/common.h>
#include <webrtc/modules/audio_processing/include/audio_processing.h>

using webrtc::AudioProcessing;
using webrtc::StreamConfig;

extern "C" {

// Mirrors `Settings` in lib.rs field for field.
struct sb_apm_settings {
  int echo;                // 1: echo canceller on
  int echo_suppression;    // 0 low, 1 moderate, 2 high
  int extended_filter;     // 1: 128 ms filter
  int delay_agnostic;      // 1: estimate the device delay itself
  int noise;               // 1: noise suppression on
  int noise_level;         // 0 low .. 3 very high
  int high_pass;           // 1: high-pass filter on
  int gain;                // 1: the library's gain control on (adaptive digital)
  int gain_target_dbfs;    // its target, dB below full scale
  int gain_compression_db; // its fixed compression gain
  int gain_limiter;        // 1: its limiter on
};

struct sb_apm {
  AudioProcessing* inner;
  bool echo;
};

// Every setter's result is checked: a setting the library refuses fails the creation
// rather than running a module other than the one asked for.
static int configure(AudioProcessing* apm, const sb_apm_settings* s) {
  int err = AudioProcessing::kNoError;
  auto keep = [&err](int result) {
    if (err == AudioProcessing::kNoError) err = result;
  };
  static const webrtc::EchoCancellation::SuppressionLevel suppression[] = {
      webrtc::EchoCancellation::kLowSuppression,
      webrtc::EchoCancellation::kModerateSuppression,
      webrtc::EchoCancellation::kHighSuppression};
  static const webrtc::NoiseSuppression::Level noise[] = {
      webrtc::NoiseSuppression::kLow, webrtc::NoiseSuppression::kModerate,
      webrtc::NoiseSuppression::kHigh, webrtc::NoiseSuppression::kVeryHigh};
  if (s->echo) {
    if (s->echo_suppression < 0 || s->echo_suppression > 2) return AudioProcessing::kBadParameterError;
    keep(apm->echo_cancellation()->set_suppression_level(suppression[s->echo_suppression]));
  }
  keep(apm->echo_cancellation()->Enable(s->echo != 0));
  if (s->noise) {
    if (s->noise_level < 0 || s->noise_level > 3) return AudioProcessing::kBadParameterError;
    keep(apm->noise_suppression()->set_level(noise[s->noise_level]));
  }
  keep(apm->noise_suppression()->Enable(s->noise != 0));
  keep(apm->high_pass_filter()->Enable(s->high_pass != 0));
  if (s->gain) {
    keep(apm->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital));
    keep(apm->gain_control()->set_target_level_dbfs(s->gain_target_dbfs));
    keep(apm->gain_control()->set_compression_gain_db(s->gain_compression_db));
    keep(apm->gain_control()->enable_limiter(s->gain_limiter != 0));
  }
  keep(apm->gain_control()->Enable(s->gain != 0));
  return err;
}

sb_apm* sb_apm_new(const sb_apm_settings* s, int* error) {
  webrtc::Config config;
  config.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(s->extended_filter != 0));
  config.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(s->delay_agnostic != 0));
  AudioProcessing* apm = AudioProcessing::Create(config);
  if (apm == nullptr) {
    *error = AudioProcessing::kCreationFailedError;
    return nullptr;
  }
  *error = configure(apm, s);
  if (*error != AudioProcessing::kNoError) {
    delete apm;
    return nullptr;
  }
  return new sb_apm{apm, s->echo != 0};
}

void sb_apm_free(sb_apm* apm) {
  if (apm == nullptr) return;
  delete apm->inner;
  delete apm;
}

// One 10 ms block of what the speaker plays, mono at `rate`.
int sb_apm_render(sb_apm* apm, const float* block, int rate) {
  const float* channels[1] = {block};
  return apm->inner->AnalyzeReverseStream(channels, static_cast<size_t>(rate / 100), rate,
                                          AudioProcessing::kMono);
}

// One 10 ms block of the microphone, mono at `in_rate`, processed into `out` at `out_rate`.
int sb_apm_capture(sb_apm* apm, const float* in, int in_rate, float* out, int out_rate) {
  if (apm->echo) {
    // The canceller refuses a block without a delay; with delay-agnostic on it finds the
    // delay itself and this value is only its starting point.
    apm->inner->set_stream_delay_ms(0);
  }
  const float* src[1] = {in};
  float* dest[1] = {out};
  return apm->inner->ProcessStream(src, StreamConfig(in_rate, 1), StreamConfig(out_rate, 1), dest);
}

}  // extern "C"
