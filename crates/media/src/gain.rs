//! Automatic gain for the microphone, applied after echo cancellation and noise
//! suppression: a quiet talker is brought up toward a speech level, by at most
//! [`MAX_GAIN_DB`], slowly enough not to pump, and the gain added never pushes a sample
//! past [`CEILING`].
//!
//! Why not WebRTC's own gain control: as the library's default configuration has it (and
//! the crate the engine used before `switchboard-apm` could only switch it on), it brings
//! the library's "experimental" analog AGC manager along. The manager costs about 30 % of
//! the whole module's time (its pitch-based voice detector leads a profile of it),
//! recommends a microphone volume that nothing here applies, and swaps the configured
//! compression gain for its own. A headset softphone wants digital gain only, which is
//! this: a few multiplications a sample. `cargo xtask bench media cpu` prints both costs.
//!
//! The speech level is never learnt from what may be the caller's echo: while the caller
//! talks, a microphone block counts only when it is within [`ECHO_MARGIN_DB`] of the
//! caller's recent level (the echo a converged canceller leaves is far lower), since
//! raising the gain on an echo would make the caller hear themselves. Talking over the
//! caller still counts, so an agent on a busy line is not left at no gain.
//!
//! Pure arithmetic over 10 ms blocks: no allocation, no I/O. Start at [`DigitalGain::process`].

use crate::SAMPLE_RATE;
use crate::level::dbfs as db;

/// Block length the gain is decided over at [`SAMPLE_RATE`]: 10 ms, as the processing
/// module works. Other rates: [`DigitalGain::for_rates`].
pub const BLOCK: usize = SAMPLE_RATE as usize / 100;

/// Speech level the gain aims for: RMS of speech blocks, dB relative to full scale.
pub const TARGET_DBFS: f32 = -18.0;

/// The most gain added (dB). Louder talkers are left as they are: no attenuation.
pub const MAX_GAIN_DB: f32 = 9.0;

/// No sample is made louder than this (-1 dBFS), so Opus never sees added clipping.
pub const CEILING: f32 = 0.891;

/// A block is speech when it is this far above the noise floor (dB)...
const SPEECH_ABOVE_NOISE_DB: f32 = 10.0;
/// ...and above this absolute level (dBFS), so faint residue is never taken for a talker.
const SPEECH_MIN_DBFS: f32 = -55.0;
/// The noise floor follows a quieter block at once and rises by this much a block
/// (5 dB/s), so a pause-free sentence does not lift it to the speech level.
const NOISE_RISE_DB: f32 = 0.05;
/// How much of a speech block's level enters the speech estimate (about 330 ms of speech).
const SPEECH_SMOOTHING: f32 = 0.03;
/// How fast the gain moves toward what the speech level asks for: up 5 dB/s, down 20 dB/s.
const GAIN_UP_DB: f32 = 0.05;
const GAIN_DOWN_DB: f32 = 0.2;
/// After the ceiling held the gain down, it comes back at 50 dB/s (9 dB in under 200 ms).
const RELEASE_DB: f32 = 0.5;
/// A microphone block teaches the speech level only when louder than the caller's recent
/// level less this (dB). Echo reaches the microphone at least the acoustic coupling's loss
/// below the caller (6-10 dB for a laptop's speakers, far more for a headset) and the
/// canceller takes 20 dB or more off once converged; an echo within 15 dB of the caller
/// comes only from an unconverged canceller, and then costs at most [`MAX_GAIN_DB`].
pub const ECHO_MARGIN_DB: f32 = 15.0;
/// The caller's recent level follows a louder block at once and falls by this much a
/// block (40 dB in 400 ms), so it covers the echo's way back through the device (a
/// Bluetooth headset's latency included) and the room's tail.
const FAR_DECAY_DB: f32 = 1.0;
/// The noise floor is never taken lower than this (dBFS): digital silence between words
/// (a test source, a muted microphone) would otherwise leave it so low that the hiss of
/// the next stretch counted as speech until the floor had climbed back.
const NOISE_MIN_DBFS: f32 = -75.0;

/// Tells talk from a steady background on the microphone: a noise floor that follows a
/// quieter block at once and rises slowly, and a block well above it is talk. The floor
/// starts at the top, so nothing counts as talk before a quieter block has shown it.
#[derive(Debug, Clone)]
struct Talk {
    /// Noise floor estimate (dBFS).
    noise_db: f32,
}

impl Talk {
    fn new() -> Self {
        Self { noise_db: 0.0 }
    }

    /// Learn from a block of `level` dBFS (finite, at least [`NOISE_MIN_DBFS`]); answers
    /// whether it is talk.
    fn is_talk(&mut self, level: f32) -> bool {
        self.noise_db = (self.noise_db + NOISE_RISE_DB).min(level);
        level > self.noise_db + SPEECH_ABOVE_NOISE_DB && level > SPEECH_MIN_DBFS
    }
}

/// A block's RMS level in dBFS, silence and NaN taken as [`NOISE_MIN_DBFS`]; `None` for a
/// block that overflows (nothing to learn from it), with the block's peak.
fn level_and_peak(block: &[f32]) -> (Option<f32>, f32) {
    let (mut sum, mut peak) = (0.0_f32, 0.0_f32);
    for s in block {
        sum += s * s;
        peak = peak.max(s.abs());
    }
    let level = db((sum / block.len().max(1) as f32).sqrt()).max(NOISE_MIN_DBFS);
    (level.is_finite().then_some(level), peak)
}

/// The gain stage's state; one per microphone.
#[derive(Debug, Clone)]
pub struct DigitalGain {
    /// The microphone's talk, after the processing module.
    near: Talk,
    /// The caller's recent level as the speaker is about to play it (dBFS).
    far_recent_db: f32,
    /// Speech level estimate (dBFS): starts at the target, so nothing is added before
    /// speech has been heard.
    speech_db: f32,
    /// The gain the speech level asks for, moved at the rates above (dB).
    aim_db: f32,
    /// The gain applied at the end of the last block, after the ceiling (dB).
    applied_db: f32,
    /// 10 ms at the microphone's rate and at the speaker's.
    near_block: usize,
    far_block: usize,
}

impl Default for DigitalGain {
    fn default() -> Self {
        Self::new()
    }
}

impl DigitalGain {
    /// Microphone and speaker both at [`SAMPLE_RATE`].
    pub fn new() -> Self {
        Self::for_rates(SAMPLE_RATE, SAMPLE_RATE)
    }

    /// The microphone's blocks at `near_hz`, the speaker's at `far_hz` (the engine sends
    /// at 16 kHz and plays at 48 kHz).
    pub fn for_rates(near_hz: u32, far_hz: u32) -> Self {
        Self {
            near_block: near_hz as usize / 100,
            far_block: far_hz as usize / 100,
            near: Talk::new(),
            far_recent_db: NOISE_MIN_DBFS,
            speech_db: TARGET_DBFS,
            aim_db: 0.0,
            applied_db: 0.0,
        }
    }

    /// The gain applied at the end of the last block (dB).
    pub fn gain_db(&self) -> f32 {
        self.applied_db
    }

    /// What the speaker is about to play: the microphone's blocks are judged against it
    /// (see [`ECHO_MARGIN_DB`]).
    pub fn far_end(&mut self, samples: &[f32]) {
        for block in samples.chunks(self.far_block) {
            // An overflowing block counts as the loudest there is.
            let level = level_and_peak(block).0.unwrap_or(0.0);
            self.far_recent_db = level.max(self.far_recent_db - FAR_DECAY_DB);
        }
    }

    /// Apply the gain to `samples` in place, 10 ms at a time (a shorter tail is its own
    /// block).
    pub fn process(&mut self, samples: &mut [f32]) {
        for block in samples.chunks_mut(self.near_block) {
            self.block(block);
        }
    }

    fn block(&mut self, block: &mut [f32]) {
        let (level, peak) = level_and_peak(block);
        if let Some(level) = level {
            let talk = self.near.is_talk(level);
            if talk && level > self.far_recent_db - ECHO_MARGIN_DB {
                self.speech_db += (level - self.speech_db) * SPEECH_SMOOTHING;
            }
        }
        let wanted = (TARGET_DBFS - self.speech_db).clamp(0.0, MAX_GAIN_DB);
        self.aim_db = if wanted > self.aim_db {
            (self.aim_db + GAIN_UP_DB).min(wanted)
        } else {
            (self.aim_db - GAIN_DOWN_DB).max(wanted)
        };
        // The ceiling bounds only the gain we add: a block already past it stays as it was.
        let room_db = if peak > 0.0 && peak.is_finite() {
            db(CEILING / peak).max(0.0)
        } else {
            MAX_GAIN_DB
        };
        let allowed = self.aim_db.min(room_db);
        let before = self.applied_db;
        self.applied_db = allowed.min(before + RELEASE_DB);
        apply(block, before, self.applied_db);
    }
}

/// Multiply `block` by a gain going from `from_db` to `to_db`: a linear ramp when it rises
/// (no step to hear), the lower gain throughout when it falls (no sample above what the
/// ceiling allowed for this block).
fn apply(block: &mut [f32], from_db: f32, to_db: f32) {
    if from_db == 0.0 && to_db == 0.0 {
        return;
    }
    let to = linear(to_db);
    if to_db <= from_db {
        block.iter_mut().for_each(|s| *s *= to);
        return;
    }
    let from = linear(from_db);
    let step = (to - from) / block.len() as f32;
    for (i, s) in block.iter_mut().enumerate() {
        *s *= from + step * (i + 1) as f32;
    }
}

fn linear(db: f32) -> f32 {
    10.0_f32.powf(db / 20.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{caller_phrase, rms, sine};

    /// `phrase` scaled so its speech (tone) blocks have an RMS of `dbfs`.
    fn phrase_at(dbfs: f32, seconds: f32) -> Vec<f32> {
        // The phrase's tones peak at 0.3: RMS 0.3/sqrt(2).
        let scale = linear(dbfs) / (0.3 / 2.0_f32.sqrt());
        caller_phrase(seconds).iter().map(|s| s * scale).collect()
    }

    /// RMS (dBFS) of the blocks of `v` that carry sound, from `from` seconds on.
    fn speech_dbfs(v: &[f32], from: f32) -> f32 {
        let skip = (from * SAMPLE_RATE as f32) as usize;
        let loud: Vec<f32> = v[skip..]
            .chunks(BLOCK)
            .filter(|b| rms(b) > 1e-4)
            .flatten()
            .copied()
            .collect();
        db(rms(&loud))
    }

    #[test]
    fn a_quiet_talker_is_raised_by_at_most_the_maximum() {
        let mut agc = DigitalGain::new();
        let mut v = phrase_at(-33.0, 8.0);
        agc.process(&mut v);
        // 15 dB short of the target: the full 9 dB is added once it has settled.
        assert!((agc.gain_db() - MAX_GAIN_DB).abs() < 0.01, "gain {}", agc.gain_db());
        let out = speech_dbfs(&v, 5.0);
        assert!((out - (-33.0 + MAX_GAIN_DB)).abs() < 0.5, "speech now at {out} dBFS");
    }

    #[test]
    fn a_talker_a_little_quiet_is_brought_to_the_target() {
        let mut agc = DigitalGain::new();
        let mut v = phrase_at(-22.0, 10.0);
        agc.process(&mut v);
        let out = speech_dbfs(&v, 7.0);
        assert!(
            (out - TARGET_DBFS).abs() < 1.0,
            "speech at {out} dBFS, target {TARGET_DBFS}"
        );
    }

    #[test]
    fn a_loud_talker_is_left_alone_sample_for_sample() {
        let mut agc = DigitalGain::new();
        let before = phrase_at(-12.0, 4.0);
        let mut v = before.clone();
        agc.process(&mut v);
        assert_eq!(v, before);
        assert_eq!(agc.gain_db(), 0.0);
    }

    #[test]
    fn noise_alone_is_not_raised() {
        // Steady hiss (a tone standing in for it: the level is what matters) is the floor,
        // never speech, so no gain builds up however long it lasts.
        let mut agc = DigitalGain::new();
        let mut v = sine(3000.0, 0.01, SAMPLE_RATE as usize * 5);
        agc.process(&mut v);
        assert_eq!(agc.gain_db(), 0.0);
    }

    #[test]
    fn silence_stays_silent_and_keeps_the_gain() {
        let mut agc = DigitalGain::new();
        let mut v = phrase_at(-33.0, 6.0);
        agc.process(&mut v);
        let settled = agc.gain_db();
        let mut zeros = vec![0.0; SAMPLE_RATE as usize * 3];
        agc.process(&mut zeros);
        assert!(zeros.iter().all(|s| *s == 0.0));
        assert_eq!(agc.gain_db(), settled, "a muted stretch must not change the gain");
    }

    #[test]
    fn the_gain_never_pushes_a_sample_past_the_ceiling() {
        // Settle at full gain on a quiet talker, then the talker shouts: every sample stays
        // under the ceiling, and samples already past it are not made louder.
        let mut agc = DigitalGain::new();
        let mut quiet = phrase_at(-33.0, 6.0);
        agc.process(&mut quiet);
        assert!(agc.gain_db() > 8.0);
        let shout = sine(440.0, 0.8, SAMPLE_RATE as usize);
        let mut v = shout.clone();
        agc.process(&mut v);
        for (after, before) in v.iter().zip(&shout) {
            assert!(
                after.abs() <= CEILING.max(before.abs()) + 1e-6,
                "{before} became {after}"
            );
        }
        let over = sine(440.0, 0.99, BLOCK * 10);
        let mut v = over.clone();
        agc.process(&mut v);
        for (after, before) in v.iter().zip(&over) {
            assert!(after.abs() <= before.abs() + 1e-6, "{before} became {after}");
        }
    }

    #[test]
    fn the_gain_moves_in_small_steps() {
        // From silence to a quiet talker: no block's gain jumps by more than the rise rate,
        // so the listener hears no step.
        let mut agc = DigitalGain::new();
        let v = phrase_at(-33.0, 4.0);
        let mut last = agc.gain_db();
        for block in v.chunks(BLOCK) {
            agc.process(&mut block.to_vec());
            assert!(agc.gain_db() - last <= GAIN_UP_DB + 1e-6, "{last} -> {}", agc.gain_db());
            last = agc.gain_db();
        }
    }

    /// `near` through a gain stage while the speaker plays `far` frame by frame, as the
    /// engine does; the gain reached.
    fn with_far_end(near: &[f32], far: &[f32]) -> f32 {
        let mut agc = DigitalGain::new();
        for (mic, speaker) in near.chunks(BLOCK).zip(far.chunks(BLOCK)) {
            agc.far_end(speaker);
            agc.process(&mut mic.to_vec());
        }
        agc.gain_db()
    }

    #[test]
    fn the_callers_echo_does_not_raise_the_gain() {
        // The caller talks; the microphone hears only their echo, 30 dB down and 100 ms
        // late: a quiet "talker" the gain must not learn from.
        let far = phrase_at(-12.0, 8.0);
        let mut echo = vec![0.0; SAMPLE_RATE as usize / 10];
        echo.extend(far.iter().map(|s| s * linear(-30.0)));
        assert_eq!(with_far_end(&echo, &far), 0.0);
        // The same microphone signal with a silent speaker is a quiet talker, and raised.
        assert!(with_far_end(&echo, &vec![0.0; far.len()]) > 8.0);
    }

    #[test]
    fn an_agent_talking_over_the_caller_is_still_raised() {
        // Double talk all along: the agent at -30 dBFS, the caller never pausing at -20.
        // The agent is far above any echo of the caller, so their level is learnt.
        let caller = sine(300.0, linear(-20.0) * 2.0_f32.sqrt(), SAMPLE_RATE as usize * 8);
        let gain = with_far_end(&phrase_at(-30.0, 8.0), &caller);
        assert!((gain - 9.0).abs() < 0.5, "gain {gain}");
    }

    #[test]
    fn a_noisy_line_does_not_stop_the_gain() {
        // A steady hiss from the carrier at -29 dBFS: the agent's quiet voice is still
        // raised.
        let hiss = sine(3000.0, 0.05, SAMPLE_RATE as usize * 8);
        assert!(with_far_end(&phrase_at(-33.0, 8.0), &hiss) > 8.0);
    }

    #[test]
    fn bad_samples_do_not_poison_the_state() {
        let mut agc = DigitalGain::new();
        let mut v = vec![f32::NAN; BLOCK];
        v.extend(vec![f32::INFINITY; BLOCK]);
        agc.process(&mut v);
        let mut quiet = phrase_at(-33.0, 6.0);
        agc.process(&mut quiet);
        assert!(
            agc.gain_db().is_finite() && agc.gain_db() > 8.0,
            "gain {}",
            agc.gain_db()
        );
        assert!(quiet.iter().all(|s| s.is_finite()));
    }
}
