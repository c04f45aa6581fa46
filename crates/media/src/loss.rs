//! How much loss the encoder should plan for, from the far end's RTCP reception reports
//! (RFC 3550 section 6.4.1: each report's `fraction lost` since the one before, in
//! 256ths). The answer sets the Opus encoder's expected loss, which turns its in-band FEC
//! on and sizes it ([`crate::codec::OpusEncoder::expect_loss`]).
//!
//! Loss is believed at once and forgotten slowly: a report with more loss than the
//! estimate replaces it, since a lost frame nobody can rebuild is heard; a report with
//! less moves the estimate halfway towards it, so one clean second between bursts does
//! not switch FEC off. Reports come about once a second, so a clean network has FEC off
//! again within about six seconds of its last loss.

/// The most loss planned for: libopus lowers the bitrate left for the frames themselves
/// as the expected loss grows, and past this a call is lost to loss anyway.
const MAX_PERCENT: f64 = 30.0;

/// Below this estimate (percent), no loss is expected and FEC stays off; one packet in 256
/// (the smallest loss a report can carry, 0.39 %) is above it.
const NEGLIGIBLE: f64 = 0.25;

/// See the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct LossEstimate {
    percent: f64,
}

impl LossEstimate {
    /// A reception report's `fraction_lost` arrived; returns the loss (whole percent) the
    /// encoder should now expect.
    pub fn report(&mut self, fraction_lost: u8) -> u8 {
        let now = f64::from(fraction_lost) * 100.0 / 256.0;
        self.percent = if now >= self.percent {
            now
        } else {
            (self.percent + now) / 2.0
        };
        self.expected()
    }

    /// The loss (whole percent) the encoder should expect now.
    pub fn expected(&self) -> u8 {
        if self.percent < NEGLIGIBLE {
            0
        } else {
            self.percent.min(MAX_PERCENT).ceil() as u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fraction_lost` for a share of packets (RFC 3550: the fraction times 256, floored).
    fn lost(share: f64) -> u8 {
        (share * 256.0) as u8
    }

    #[test]
    fn a_clean_network_expects_no_loss() {
        let mut e = LossEstimate::default();
        assert_eq!(e.expected(), 0);
        for _ in 0..10 {
            assert_eq!(e.report(0), 0);
        }
    }

    #[test]
    fn loss_is_expected_at_once_and_forgotten_over_seconds() {
        let mut e = LossEstimate::default();
        // 10 % lost (25/256 = 9.8 %): planned for from the first report.
        assert_eq!(e.report(lost(0.1)), 10);
        // One clean report between bursts keeps FEC on, at half the loss.
        assert_eq!(e.report(0), 5);
        assert_eq!(e.report(lost(0.1)), 10);
        // Clean from here: it halves each report, then stops.
        let after: Vec<u8> = (0..6).map(|_| e.report(0)).collect();
        assert_eq!(after, [5, 3, 2, 1, 1, 0]);
        assert!(after.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn heavy_loss_is_capped_and_any_report_is_accepted() {
        let mut e = LossEstimate::default();
        assert_eq!(e.report(255), 30);
        let mut e = LossEstimate::default();
        // One packet in 256: still worth protecting.
        assert_eq!(e.report(1), 1);
    }
}
