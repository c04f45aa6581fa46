//! The simulator's script, as pure functions of a seed: when inbound calls arrive and from
//! whom, what callers say, how outbound calls end. Same seed, same story.

use switchboard_core::TranscriptRole;

/// SplitMix64: tiny, fast and stable across versions, which is what "deterministic under a
/// seed" needs (a general-purpose RNG crate may change its stream between releases).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for one stream of the scenario: `(seed, stream, index)` always gives the
    /// same numbers.
    pub fn new(seed: u64, stream: u64, index: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.0 ^= r.next_u64().wrapping_add(index);
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

const STREAM_INBOUND: u64 = 1;
const STREAM_OUTBOUND: u64 = 2;

/// The n-th inbound call of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundPlan {
    /// Wait this long after the previous call (exponential gaps: a Poisson arrival process).
    pub gap_ms: u64,
    /// Index into the callers list.
    pub caller: usize,
    /// Index into the service numbers.
    pub number: usize,
    /// Index into [`SCRIPTS`].
    pub script: usize,
}

/// Plan the n-th inbound call for `per_minute` calls a minute on average.
pub fn inbound_plan(seed: u64, n: u64, per_minute: f64, callers: usize, numbers: usize) -> InboundPlan {
    let mut r = Rng::new(seed, STREAM_INBOUND, n);
    let mean_ms = 60_000.0 / per_minute.max(0.001);
    // Inverse-CDF sampling; 1 - u is in (0, 1], so ln never sees 0.
    let gap = -mean_ms * (1.0 - r.next_f64()).ln();
    InboundPlan {
        gap_ms: gap.min(mean_ms * 20.0) as u64,
        caller: r.below(callers),
        number: r.below(numbers),
        script: r.below(SCRIPTS.len()),
    }
}

/// How the n-th outbound call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundOutcome {
    /// The far end picks up.
    Answered,
    /// Busy signal.
    Busy,
    /// Rings out.
    NoAnswer,
    /// The network fails the call.
    Failed,
}

/// Decide the n-th outbound call's fate from the configured rates.
pub fn outbound_outcome(seed: u64, n: u64, busy: f64, no_answer: f64, failed: f64) -> OutboundOutcome {
    let u = Rng::new(seed, STREAM_OUTBOUND, n).next_f64();
    if u < busy {
        OutboundOutcome::Busy
    } else if u < busy + no_answer {
        OutboundOutcome::NoAnswer
    } else if u < busy + no_answer + failed {
        OutboundOutcome::Failed
    } else {
        OutboundOutcome::Answered
    }
}

/// Conversations the simulated callers have, turn by turn.
pub const SCRIPTS: &[&[(TranscriptRole, &str)]] = &[
    &[
        (
            TranscriptRole::Caller,
            "Hi, I'm calling about the quote you sent last week.",
        ),
        (
            TranscriptRole::Agent,
            "Of course, let me pull that up. Can you confirm your name?",
        ),
        (TranscriptRole::Caller, "Sure, it's the one under my company account."),
        (
            TranscriptRole::Agent,
            "Got it. The quote covers twenty seats on the annual plan.",
        ),
        (
            TranscriptRole::Caller,
            "Could we start with ten and add more in the spring?",
        ),
        (
            TranscriptRole::Agent,
            "Yes, I can revise it to ten seats with an option to expand.",
        ),
        (TranscriptRole::Caller, "Great, please send the new version by email."),
    ],
    &[
        (
            TranscriptRole::Caller,
            "Hello, my last invoice looks higher than usual.",
        ),
        (
            TranscriptRole::Agent,
            "I'm sorry about that. Let me check the line items.",
        ),
        (
            TranscriptRole::Caller,
            "There's a charge for international minutes I didn't expect.",
        ),
        (
            TranscriptRole::Agent,
            "I see calls to a UK number on the fourth and the ninth.",
        ),
        (
            TranscriptRole::Caller,
            "Ah, that was our new contractor. That makes sense.",
        ),
        (
            TranscriptRole::Agent,
            "I can add an international bundle so it costs less next month.",
        ),
    ],
    &[
        (TranscriptRole::Caller, "Hi, the app keeps logging me out on my phone."),
        (
            TranscriptRole::Agent,
            "Thanks for calling. Which version of the app do you have?",
        ),
        (TranscriptRole::Caller, "I think it updated yesterday."),
        (
            TranscriptRole::Agent,
            "There is a known issue with that build; a fix ships today.",
        ),
        (TranscriptRole::Caller, "Okay, should I reinstall it in the meantime?"),
        (TranscriptRole::Agent, "No need, the update will keep your settings."),
    ],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_story_other_seed_other_story() {
        let a: Vec<_> = (0..20).map(|n| inbound_plan(7, n, 6.0, 50, 3)).collect();
        let b: Vec<_> = (0..20).map(|n| inbound_plan(7, n, 6.0, 50, 3)).collect();
        let c: Vec<_> = (0..20).map(|n| inbound_plan(8, n, 6.0, 50, 3)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(
            a.iter()
                .all(|p| p.caller < 50 && p.number < 3 && p.script < SCRIPTS.len())
        );
    }

    #[test]
    fn gaps_average_to_the_rate() {
        let n = 4000;
        let total: u64 = (0..n).map(|i| inbound_plan(1, i, 6.0, 1, 1).gap_ms).sum();
        let mean = total as f64 / n as f64;
        assert!((9_000.0..11_000.0).contains(&mean), "mean gap {mean} ms for 6/min");
    }

    #[test]
    fn outbound_rates_hold() {
        let n = 10_000;
        let busy = (0..n)
            .filter(|&i| outbound_outcome(3, i, 0.2, 0.1, 0.05) == OutboundOutcome::Busy)
            .count();
        let answered = (0..n)
            .filter(|&i| outbound_outcome(3, i, 0.2, 0.1, 0.05) == OutboundOutcome::Answered)
            .count();
        assert!((1_800..2_200).contains(&busy), "busy {busy}");
        assert!((6_200..6_800).contains(&answered), "answered {answered}");
        assert_eq!(outbound_outcome(3, 5, 0.0, 0.0, 0.0), OutboundOutcome::Answered);
    }
}
