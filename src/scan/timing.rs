//! How long to wait for a connect: per host, from the round trips measured
//! so far, as TCP computes its retransmission timeout (RFC 6298) and nmap
//! its probe timeout: the smoothed round trip plus four deviations, within
//! bounds, starting from an initial guess until a first answer comes.

use std::time::Duration;

/// A retry waits past the kernel's own SYN retransmission (its initial
/// retransmission timeout is 1 s), so that the retry also covers a second
/// SYN, and so that the answer to it counts: Linux does not end a connect
/// on an ICMPv6 unreachable for the first SYN, only for the retransmitted
/// one (seen on this machine's kernel: a reject answered in 1.02 s).
pub const RETRY_FLOOR: Duration = Duration::from_millis(1300);

/// The bounds and the starting point of the adaptive timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutBounds {
    pub initial: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Default for TimeoutBounds {
    /// nmap's defaults: 1 s before a first answer, then between 100 ms and
    /// 10 s.
    fn default() -> Self {
        TimeoutBounds {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

/// One host's round-trip estimate.
#[derive(Clone, Copy, Debug)]
pub struct RttEstimate {
    bounds: TimeoutBounds,
    smoothed: Option<(f64, f64)>,
    smallest: Option<Duration>,
}

impl RttEstimate {
    pub fn new(bounds: TimeoutBounds) -> Self {
        RttEstimate { bounds, smoothed: None, smallest: None }
    }

    /// Takes in one measured round trip (a connect that was answered).
    pub fn observe(&mut self, rtt: Duration) {
        let sample = rtt.as_secs_f64();
        self.smoothed = Some(match self.smoothed {
            None => (sample, sample / 2.0),
            Some((srtt, rttvar)) => {
                let rttvar = 0.75 * rttvar + 0.25 * (srtt - sample).abs();
                (0.875 * srtt + 0.125 * sample, rttvar)
            }
        });
        self.smallest = Some(self.smallest.map_or(rtt, |s| s.min(rtt)));
    }

    /// How long the next connect may wait for an answer.
    pub fn timeout(&self) -> Duration {
        match self.smoothed {
            None => self.bounds.initial,
            Some((srtt, rttvar)) => Duration::from_secs_f64((srtt + 4.0 * rttvar).max(0.0))
                .clamp(self.bounds.min, self.bounds.max),
        }
    }

    /// The timeout for a retry of a port whose connect timed out: twice
    /// the current one (a dropped SYN is not a slow host), and at least
    /// [`RETRY_FLOOR`], within bounds.
    pub fn retry_timeout(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(8));
        let doubled = self.timeout().saturating_mul(factor).max(RETRY_FLOOR);
        doubled.clamp(self.bounds.min, self.bounds.max)
    }

    /// The smallest round trip seen, reported as the host's latency.
    pub fn latency(&self) -> Option<Duration> {
        self.smallest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_follows_the_round_trips_within_bounds() {
        let bounds = TimeoutBounds::default();
        let mut estimate = RttEstimate::new(bounds);
        assert_eq!(estimate.timeout(), Duration::from_secs(1));
        estimate.observe(Duration::from_micros(50));
        assert_eq!(estimate.timeout(), bounds.min, "loopback: the floor");
        for _ in 0..20 {
            estimate.observe(Duration::from_millis(200));
        }
        let timeout = estimate.timeout();
        assert!(timeout > Duration::from_millis(200) && timeout < Duration::from_millis(400));
        assert!(
            estimate.retry_timeout(1) >= timeout * 2 || estimate.retry_timeout(1) == bounds.max
        );
        estimate.observe(Duration::from_secs(60));
        assert_eq!(estimate.timeout(), bounds.max, "the ceiling");
        assert_eq!(estimate.latency(), Some(Duration::from_micros(50)));
    }
}
