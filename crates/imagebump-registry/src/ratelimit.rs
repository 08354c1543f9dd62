//! Per-registry token bucket with a pause a 429 can impose, the budget a registry
//! states in `RateLimit-*` headers, and backoff delays.
//!
//! The bucket's burst lets a fleet's start-up (hundreds of listings) go out at once; its
//! rate is what the client sustains after that. A registry's stated budget
//! ([`crate::quota::Quota`]) is obeyed per kind of request (Docker Hub counts manifest
//! pulls, not tag lists): while plenty remains it costs nothing; once at most a tenth of
//! the limit remains the rest is spread evenly until the reset; at zero every request
//! of that kind waits for the reset. Requests already in flight are counted against the
//! remainder, so the client never sends more than the registry said it would accept.
//!
//! Every duration here comes from a registry or a config and is clamped before any
//! arithmetic: `Retry-After` to [`RETRY_AFTER_CEILING`], rates to at least
//! [`MIN_RATE`], and instants are only ever formed with `checked_add`. Nothing a
//! registry sends can overflow a `Duration` or an `Instant` (which would panic).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::RequestKind;
use crate::quota::Quota;

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

/// The largest configurable burst; larger values are lowered to it.
pub(crate) const MAX_BURST: f64 = 100_000.0;

/// A stated budget counts as low once at most `1/LOW_FRACTION` of its limit remains
/// (or, with no limit stated, at most [`LOW_ABSOLUTE`] requests): from then on the
/// remainder is spread until the reset instead of spent at once.
const LOW_FRACTION: u64 = 10;
const LOW_ABSOLUTE: u64 = 10;

/// How long a stated remainder is trusted when the registry gives neither a reset nor
/// a window: the next response usually restates it anyway.
const QUOTA_DEFAULT_RESET: Duration = Duration::from_secs(60);

/// What a stated budget allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Send after this pacing wait (zero unless the budget is low); it is counted.
    Go(Duration),
    /// Nothing left: ask again after this long.
    Spent(Duration),
}

/// A token bucket: `rate` requests per second, bursts up to `burst`.
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
    /// The registry's stated budget, per [`RequestKind`] (indexed by [`slot`]).
    stated: [Option<Stated>; 3],
}

/// A stated budget as the bucket spends it.
#[derive(Debug, Clone, Copy)]
struct Stated {
    /// Requests the client may still send before `until`.
    remaining: u64,
    /// When the registry renews the budget: then it is `renew`ed, or else forgotten.
    until: Instant,
    /// The limit and its window, when both were stated: at `until` the budget is
    /// `limit` again for another window (not unlimited: a crowd of waiting requests
    /// must not all go at once).
    renew: Option<(u64, Duration)>,
    /// Once the budget is low: the gap kept between requests, and the next free instant.
    spacing: Option<Duration>,
    next: Instant,
}

fn slot(kind: RequestKind) -> usize {
    match kind {
        RequestKind::Tags => 0,
        RequestKind::Manifest => 1,
        RequestKind::Token => 2,
    }
}

impl TokenBucket {
    /// A bucket of `rate` requests/s (at least [`MIN_RATE`]; invalid: the default)
    /// holding at most `burst` (1 ..= [`MAX_BURST`]; invalid: `max(1, rate)`).
    pub fn new(rate: f64, burst: f64) -> TokenBucket {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate.max(MIN_RATE)
        } else {
            crate::DEFAULT_RATE_LIMIT
        };
        let burst = if burst.is_finite() && burst >= 1.0 {
            burst.min(MAX_BURST)
        } else {
            rate.clamp(1.0, MAX_BURST)
        };
        TokenBucket {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                last: Instant::now(),
                paused_until: None,
                stated: [None; 3],
            }),
        }
    }

    /// Takes one slot; returns how long the caller must wait before sending.
    pub fn reserve(&self) -> Duration {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
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

    /// Asks the registry's stated budget for one request of `kind`: [`Budget::Go`]
    /// counts it (with the pacing wait once the budget is low), [`Budget::Spent`] says
    /// how long until it renews — the caller sleeps and asks again, since a later answer
    /// may restate the budget meanwhile.
    pub fn budget(&self, kind: RequestKind) -> Budget {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let stated = &mut s.stated[slot(kind)];
        let Some(q) = stated else {
            return Budget::Go(Duration::ZERO);
        };
        if q.until <= now {
            match q.renew {
                Some((limit, window)) => {
                    q.remaining = limit;
                    q.until = later(window);
                    q.spacing = None;
                }
                None => {
                    *stated = None;
                    return Budget::Go(Duration::ZERO);
                }
            }
        }
        if q.remaining == 0 {
            return Budget::Spent(q.until - now);
        }
        q.remaining -= 1;
        let Some(gap) = q.spacing else {
            return Budget::Go(Duration::ZERO);
        };
        let at = q.next.max(now);
        q.next = at.checked_add(gap).unwrap_or(q.until);
        Budget::Go(at - now)
    }

    /// Gives back a slot taken by [`reserve`](Self::reserve) (and the budget counted by
    /// [`budget`](Self::budget)) that was not used (the caller refused to wait that
    /// long), so refused callers do not push the queue on.
    pub fn release(&self, kind: RequestKind) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.tokens = (s.tokens + 1.0).min(self.burst);
        if let Some(q) = &mut s.stated[slot(kind)] {
            if q.spacing.is_none() {
                q.remaining = q.remaining.saturating_add(1);
            }
        }
    }

    /// Takes in the budget a registry stated on an answer to a request of `kind`;
    /// `in_flight` other requests were sent before it and may not be counted yet.
    pub fn observe(&self, kind: RequestKind, q: Quota, in_flight: u64) {
        let reset = q
            .reset
            .unwrap_or(QUOTA_DEFAULT_RESET)
            .min(RETRY_AFTER_CEILING);
        let remaining = q.remaining.saturating_sub(in_flight);
        let low = match q.limit {
            Some(limit) => remaining.saturating_mul(LOW_FRACTION) <= limit,
            None => remaining <= LOW_ABSOLUTE,
        };
        let spacing = (low && remaining > 0).then(|| {
            // Spread what is left over the time left (u32 division: clamp the count).
            reset / u32::try_from(remaining).unwrap_or(u32::MAX)
        });
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let next = match &s.stated[slot(kind)] {
            Some(old) if old.spacing.is_some() => old.next,
            _ => now,
        };
        s.stated[slot(kind)] = Some(Stated {
            remaining,
            until: later(reset),
            renew: q.limit.zip(q.window),
            spacing,
            next,
        });
    }

    /// Makes every reservation wait until at least `until` (a registry's 429).
    pub fn pause_until(&self, until: Instant) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
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

    const T: RequestKind = RequestKind::Tags;
    const M: RequestKind = RequestKind::Manifest;

    #[test]
    fn bucket_queues_past_the_burst() {
        let b = TokenBucket::new(10.0, 10.0);
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
    fn burst_covers_a_start_up_then_the_rate_holds() {
        let b = TokenBucket::new(20.0, 300.0);
        for i in 0..300 {
            assert_eq!(b.reserve(), Duration::ZERO, "request {i}");
        }
        // Past the burst: the 20th next request waits about a second.
        let waits: Vec<Duration> = (0..20).map(|_| b.reserve()).collect();
        assert!(waits[0] > Duration::from_millis(40), "{:?}", waits[0]);
        assert!(
            waits[19] > Duration::from_millis(950) && waits[19] <= Duration::from_secs(1),
            "{:?}",
            waits[19]
        );
    }

    #[test]
    fn bad_bursts_are_clamped() {
        for burst in [f64::NAN, -1.0, 0.0, f64::INFINITY] {
            let b = TokenBucket::new(5.0, burst);
            assert_eq!(b.burst, 5.0, "{burst}");
        }
        assert_eq!(TokenBucket::new(5.0, 1e12).burst, MAX_BURST);
        assert_eq!(
            TokenBucket::new(f64::NAN, f64::NAN).rate,
            crate::DEFAULT_RATE_LIMIT
        );
    }

    #[test]
    fn pause_applies_to_everyone() {
        let b = TokenBucket::new(1000.0, 1000.0);
        b.pause_until(Instant::now() + Duration::from_millis(500));
        assert!(b.reserve() > Duration::from_millis(400));
    }

    fn quota(limit: Option<u64>, remaining: u64, reset_s: u64) -> Quota {
        Quota {
            limit,
            remaining,
            reset: Some(Duration::from_secs(reset_s)),
            window: None,
        }
    }

    fn spent(b: Budget) -> Duration {
        match b {
            Budget::Spent(d) => d,
            Budget::Go(d) => panic!("expected spent, got go after {d:?}"),
        }
    }

    const GO: Budget = Budget::Go(Duration::ZERO);

    #[test]
    fn plenty_remaining_costs_nothing() {
        let b = TokenBucket::new(1000.0, 1000.0);
        b.observe(M, quota(Some(100), 76, 21600), 0);
        for _ in 0..60 {
            assert_eq!(b.budget(M), GO);
        }
    }

    #[test]
    fn a_spent_budget_waits_for_the_reset_and_only_for_its_kind() {
        let b = TokenBucket::new(1000.0, 1000.0);
        // 3 left, 2 others in flight: one more may go.
        b.observe(M, quota(None, 3, 30), 2);
        assert_eq!(b.budget(M), GO);
        let w = spent(b.budget(M));
        assert!(
            w > Duration::from_secs(29) && w <= Duration::from_secs(30),
            "{w:?}"
        );
        // Tag lists were not counted by the registry: untouched.
        assert_eq!(b.budget(T), GO);
        // A renewed budget lifts the wait.
        b.observe(M, quota(Some(100), 100, 30), 0);
        assert_eq!(b.budget(M), GO);
    }

    #[test]
    fn a_low_budget_is_spread_until_the_reset() {
        let b = TokenBucket::new(1000.0, 1000.0);
        b.observe(M, quota(Some(100), 10, 10), 0);
        // 10 left over 10 s: one a second.
        assert_eq!(b.budget(M), GO);
        let Budget::Go(w) = b.budget(M) else { panic!() };
        assert!(
            w > Duration::from_millis(990) && w <= Duration::from_secs(1),
            "{w:?}"
        );
        let Budget::Go(w) = b.budget(M) else { panic!() };
        assert!(
            w > Duration::from_millis(1990) && w <= Duration::from_secs(2),
            "{w:?}"
        );
    }

    #[test]
    fn a_stated_budget_is_never_exceeded_and_renews_to_its_limit() {
        let b = TokenBucket::new(1e6, 1e6);
        b.observe(T, quota(None, 5, 3600), 0);
        let went = (0..50)
            .filter(|_| matches!(b.budget(T), Budget::Go(_)))
            .count();
        assert_eq!(went, 5);
        // Limit and window stated: at the reset the budget is the limit again, not
        // unlimited.
        let q = Quota {
            limit: Some(3),
            remaining: 0,
            reset: Some(Duration::ZERO),
            window: Some(Duration::from_secs(60)),
        };
        b.observe(T, q, 0);
        let went = (0..50).filter(|_| b.budget(T) == GO).count();
        assert_eq!(went, 3);
        assert!(spent(b.budget(T)) > Duration::from_secs(59));
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
        let b = TokenBucket::new(1e-300, 1.0);
        assert_eq!(b.reserve(), Duration::ZERO);
        let w = b.reserve();
        assert!(w <= Duration::from_secs(101), "{w:?}");
        b.release(T);
        b.observe(T, quota(Some(u64::MAX), u64::MAX, u64::MAX), u64::MAX);
        b.observe(T, quota(Some(0), 1, u64::MAX), 0);
        assert_eq!(b.budget(T), GO);
        assert!(spent(b.budget(T)) <= RETRY_AFTER_CEILING);
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
