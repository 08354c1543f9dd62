//! Per-registry token bucket with a pause a 429 can impose, and backoff delays.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket: `rate` requests per second, bursts up to `max(1, rate)`.
///
/// Callers *reserve* a slot and are told how long to sleep; the bucket may go
/// negative, which queues callers fairly (first come, first served) without holding
/// a lock while sleeping. A 429 sets a pause every later reservation waits out.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

impl TokenBucket {
    pub fn new(rate: f64) -> TokenBucket {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            20.0
        };
        let burst = rate.max(1.0);
        TokenBucket {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                last: Instant::now(),
                paused_until: None,
            }),
        }
    }

    /// Takes one slot; returns how long the caller must wait before sending.
    pub fn reserve(&self) -> Duration {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap();
        let elapsed = now.duration_since(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.last = now;
        s.tokens -= 1.0;
        let mut wait = if s.tokens < 0.0 {
            Duration::from_secs_f64(-s.tokens / self.rate)
        } else {
            Duration::ZERO
        };
        if let Some(p) = s.paused_until {
            if p > now {
                wait = wait.max(p - now);
            } else {
                s.paused_until = None;
            }
        }
        wait
    }

    /// Makes every reservation wait until at least `until` (a registry's 429).
    pub fn pause_until(&self, until: Instant) {
        let mut s = self.state.lock().unwrap();
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
    }
}

/// Exponential backoff with jitter: `base * 2^attempt`, capped at `max`, scaled by a
/// random factor in [0.5, 1.0] so retrying clients do not move in lockstep.
pub(crate) fn backoff(base: Duration, attempt: u32, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16)).min(max);
    exp.mul_f64(rand::random_range(0.5..=1.0))
}

/// Parses `Retry-After`: delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_queues_past_the_burst() {
        let b = TokenBucket::new(10.0);
        for _ in 0..10 {
            assert_eq!(b.reserve(), Duration::ZERO);
        }
        let w = b.reserve();
        assert!(
            w > Duration::from_millis(80) && w <= Duration::from_millis(100),
            "{w:?}"
        );
        let w2 = b.reserve();
        assert!(w2 > w, "{w2:?} after {w:?}");
    }

    #[test]
    fn pause_applies_to_everyone() {
        let b = TokenBucket::new(1000.0);
        b.pause_until(Instant::now() + Duration::from_millis(500));
        assert!(b.reserve() > Duration::from_millis(400));
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        let later = std::time::SystemTime::now() + Duration::from_secs(5);
        let d = parse_retry_after(&httpdate::fmt_http_date(later)).unwrap();
        assert!(
            d > Duration::from_secs(3) && d <= Duration::from_secs(5),
            "{d:?}"
        );
        let past = httpdate::fmt_http_date(std::time::SystemTime::UNIX_EPOCH);
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let b = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        assert!(backoff(b, 0, max) <= b);
        assert!(backoff(b, 3, max) >= Duration::from_millis(400));
        assert!(backoff(b, 30, max) <= max);
    }
}
