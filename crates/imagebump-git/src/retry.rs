//! How often and how patiently to retry a push that lost a race. The policy lives here;
//! the loop (sync → edit → commit → push, again on [`PushError::Moved`](crate::PushError))
//! lives in the caller, which alone knows how to rebuild its edit on the new base.

use std::time::Duration;

/// Bounds of a caller's sync/edit/commit/push loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total push attempts (treat 0 as 1).
    pub max_attempts: u32,
    /// Backoff after the first failed attempt; doubles after each further one, with jitter.
    pub base_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 40 attempts, 50 ms doubling backoff, at most 1 s (jittered into [half, full]): a
    /// write keeps trying for roughly half a minute of constant contention (someone
    /// pushing several times a second) before it is reported as failed. The backoff stays
    /// short because losing a race depends on how long one attempt (sync → push) takes,
    /// not on how long we waited; the jitter keeps two imagebump writers apart.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 40,
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// How long to wait after failed attempt number `attempt` (1-based):
    /// `base_backoff * 2^(attempt-1)`, capped at `max_backoff`, then jittered into
    /// `[capped/2, capped]` so that two writers that collided do not collide again.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_backoff);
        let half = capped / 2;
        let jitter_ms = half.as_millis() as u64;
        let extra = if jitter_ms > 0 {
            rand::random_range(0..=jitter_ms)
        } else {
            0
        };
        half + Duration::from_millis(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_jittered_and_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        };
        for _ in 0..200 {
            let b1 = p.backoff(1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = p.backoff(3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            let big = p.backoff(40);
            assert!(big >= Duration::from_secs(1) && big <= Duration::from_secs(2));
        }
        // Attempt 0 behaves like attempt 1; a zero base never sleeps.
        assert!(p.backoff(0) <= Duration::from_millis(100));
        let zero = RetryPolicy {
            base_backoff: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
        // The jitter actually varies.
        let samples: std::collections::BTreeSet<_> = (0..50).map(|_| p.backoff(5)).collect();
        assert!(samples.len() > 1);
    }
}
