//! Per-registry token bucket with a pause a 429 can impose, and backoff delays.
//!
//! Every duration here comes from a registry or a config and is clamped before any
//! arithmetic: `Retry-After` to [`RETRY_AFTER_CEILING`], rates to at least
//! [`MIN_RATE`], and instants are only ever formed with `checked_add`. Nothing a
//! registry sends can overflow a `Duration` or an `Instant` (which would panic).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest `Retry-After` taken at its word (1 day); longer values, huge numbers and
/// far-future dates count as this. It only bounds arithmetic and what the status shows:
/// the client never *sleeps* longer than [`crate::ClientOptions::max_retry_after`].
pub(crate) const RETRY_AFTER_CEILING: Duration = Duration::from_secs(24 * 3600);

/// The longest the client ever sleeps before one request (10 min), whatever
/// [`crate::ClientOptions::max_retry_after`] says: a longer wait fails the request.
pub(crate) const MAX_SLEEP: Duration = Duration::from_secs(600);

/// The slowest configurable rate (one request per 100 s); lower or invalid rates are
/// raised to it, so the bucket's waits stay finite.
pub(crate) const MIN_RATE: f64 = 0.01;

/// `now + d`, or `now + RETRY_AFTER_CEILING` when that overflows.
pub(crate) fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(RETRY_AFTER_CEILING))
        .unwrap_or(now)
}

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
            rate.max(MIN_RATE)
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
            Duration::try_from_secs_f64(-s.tokens / self.rate).unwrap_or(RETRY_AFTER_CEILING)
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

    /// Gives back a slot taken by [`reserve`](Self::reserve) that was not used (the
    /// caller refused to wait that long), so refused callers do not push the queue on.
    pub fn release(&self) {
        let mut s = self.state.lock().unwrap();
        s.tokens = (s.tokens + 1.0).min(self.burst);
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

/// Parses `Retry-After`: delta-seconds or an HTTP date, clamped to
/// [`RETRY_AFTER_CEILING`] (so `1e30`, `18446744073709551615` or the year 9999 are
/// one day, not a panic).
pub(crate) fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let d = if let Ok(secs) = v.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = v.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return None;
        }
        Duration::try_from_secs_f64(secs).unwrap_or(RETRY_AFTER_CEILING)
    } else {
        let when = httpdate::parse_http_date(v).ok()?;
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO)
    };
    Some(d.min(RETRY_AFTER_CEILING))
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
        for huge in [
            "1e30",
            "18446744073709551615",
            "inf",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(parse_retry_after(huge), Some(RETRY_AFTER_CEILING), "{huge}");
        }
        assert_eq!(parse_retry_after("NaN"), None);
    }

    #[test]
    fn tiny_rates_give_finite_waits() {
        let b = TokenBucket::new(1e-300);
        assert_eq!(b.reserve(), Duration::ZERO);
        let w = b.reserve();
        assert!(w <= Duration::from_secs(101), "{w:?}");
        b.release();
        assert!(later(Duration::MAX) > Instant::now());
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
