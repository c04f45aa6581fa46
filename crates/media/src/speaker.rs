//! When to top up the speaker ring: just before the device next pulls from it.
//!
//! A frame decoded at a free-running engine tick waits in the ring until the device's next
//! pull: up to a whole device period (20 ms) of the caller's delay, and a packet that
//! arrives after the tick but before the pull misses a pull it could have made. The
//! device side stamps the time of every pull ([`crate::device::XrunCounters`]); this
//! module predicts the next one from the last and the measured interval, and names the
//! moment [`LEAD_US`] before it. Pure: the engine feeds it the stamps and the clock.

/// How long before the predicted pull the engine tops up, µs. A timer wakes up to a
/// millisecond late and decoding a frame takes a fraction of one, but the engine shares
/// its runtime with the call's WebRTC tasks: in `bench media` (two cores, both ends in one
/// process) a 4 ms lead still left the device to find the ring empty now and then (each
/// gap grows the fill target by half a frame for seconds, and the far end's packets were
/// late); at 8 ms no gap was left after the first pull.
pub const LEAD_US: u64 = 8_000;

/// Pull intervals outside this range (µs) are not a device period: a stalled or paused
/// device, or two stamps of one callback. Once a period is known, a gap of more than three
/// is not one either.
const PERIOD_RANGE_US: std::ops::RangeInclusive<u64> = 1_000..=200_000;

/// Periods without a pull after which the device is taken as stopped: the engine falls
/// back to its tick until pulls resume.
const STALE_PERIODS: u64 = 8;

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct SpeakerClock {
    /// The last pull seen (µs on the device clock); 0 before the first.
    last_pull: u64,
    /// Smoothed interval between pulls, µs; 0 until two pulls were seen.
    interval: u64,
    /// Top-ups done since the last pull (more than one only while a pull is overdue).
    topped_up: u64,
}

impl SpeakerClock {
    /// The device's latest pull stamp (0: none yet). Stamps repeat until the next pull.
    pub fn observe(&mut self, pull_us: u64) {
        if pull_us == 0 || pull_us <= self.last_pull {
            return;
        }
        if self.last_pull != 0 {
            let d = pull_us - self.last_pull;
            // More than three periods is a hiccup, not a new period.
            let plausible = self.interval == 0 || d <= self.interval * 3;
            if PERIOD_RANGE_US.contains(&d) && plausible {
                // A new device's first interval counts whole; later ones are smoothed so
                // one callback delayed by the scheduler does not move the next top-up.
                self.interval = if self.interval == 0 {
                    d
                } else {
                    (self.interval * 7 + d) / 8
                };
            }
        }
        self.last_pull = pull_us;
        self.topped_up = 0;
    }

    /// When to top up next (µs on the device clock), or `None` while no period is known
    /// or the device stopped pulling: then the engine's tick keeps the ring filled.
    pub fn next_top_up(&self) -> Option<u64> {
        if self.interval == 0 || self.topped_up >= STALE_PERIODS {
            return None;
        }
        // While a pull is overdue, one top-up per predicted period (never a busy loop).
        let pull = self.last_pull + self.interval * (self.topped_up + 1);
        Some(
            pull.saturating_sub(
                std::env::var("SB_LEAD_US")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(LEAD_US),
            )
            .max(self.last_pull),
        )
    }

    /// The engine topped up for the predicted pull.
    pub fn topped_up(&mut self) {
        self.topped_up += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_predicted_before_a_period_is_known() {
        let mut c = SpeakerClock::default();
        assert_eq!(c.next_top_up(), None);
        c.observe(1_000_000);
        assert_eq!(c.next_top_up(), None, "one pull is no period");
        c.observe(1_020_000);
        assert_eq!(c.next_top_up(), Some(1_040_000 - LEAD_US));
    }

    #[test]
    fn the_top_up_comes_just_before_each_pull() {
        let mut c = SpeakerClock::default();
        for k in 0..50u64 {
            c.observe(5_000_000 + k * 20_000);
        }
        let last = 5_000_000 + 49 * 20_000;
        assert_eq!(c.next_top_up(), Some(last + 20_000 - LEAD_US));
        // Repeated stamps of the same pull change nothing.
        c.observe(last);
        assert_eq!(c.next_top_up(), Some(last + 20_000 - LEAD_US));
    }

    #[test]
    fn one_late_callback_barely_moves_the_prediction() {
        let mut c = SpeakerClock::default();
        for k in 0..50u64 {
            c.observe(1_000_000 + k * 10_000);
        }
        let t = 1_000_000 + 49 * 10_000;
        // Scheduled 6 ms late, then back on time.
        c.observe(t + 16_000);
        c.observe(t + 20_000);
        let next = c.next_top_up().unwrap() - (t + 20_000);
        assert!(
            (9_000..=11_000).contains(&(next + LEAD_US)),
            "next pull predicted {next} µs on"
        );
    }

    #[test]
    fn an_overdue_pull_gets_one_top_up_per_period_then_the_tick() {
        let mut c = SpeakerClock::default();
        c.observe(1_000_000);
        c.observe(1_020_000);
        let mut times = vec![];
        while let Some(t) = c.next_top_up() {
            times.push(t);
            c.topped_up();
        }
        assert_eq!(times.len() as u64, STALE_PERIODS);
        assert!(times.windows(2).all(|w| w[1] - w[0] == 20_000), "{times:?}");
        // Pulls resume: predictions too.
        c.observe(1_200_000);
        assert_eq!(c.next_top_up(), Some(1_220_000 - LEAD_US));
    }

    #[test]
    fn a_pause_is_not_a_period() {
        let mut c = SpeakerClock::default();
        c.observe(1_000_000);
        c.observe(1_020_000);
        c.observe(3_020_000); // two seconds without a pull
        assert_eq!(c.next_top_up(), Some(3_040_000 - LEAD_US));
    }
}
