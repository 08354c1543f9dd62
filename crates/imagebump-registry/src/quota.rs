//! What a registry says about its own budget: the `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` headers (IETF httpapi draft, the form
//! Docker Hub sends: `ratelimit-limit: 100;w=21600`, `ratelimit-remaining: 76;w=21600`)
//! and the later draft's single `RateLimit: "default";r=76;t=30` field.
//!
//! Parsing never fails loudly: a header that does not parse is ignored (the client then
//! relies on its own bucket and on 429s), and every number is clamped, so no value a
//! registry sends can overflow later arithmetic.

use std::time::Duration;

use reqwest::header::HeaderMap;

use super::ratelimit::RETRY_AFTER_CEILING;

/// A registry's statement of its remaining budget, read from one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    /// Requests in the window (`RateLimit-Limit`), if said.
    pub limit: Option<u64>,
    /// Requests left before the registry refuses (`RateLimit-Remaining`).
    pub remaining: u64,
    /// When the budget renews (`RateLimit-Reset`, or the window `w=` when only that is
    /// said: the most conservative reading of a sliding window), clamped to a day.
    pub reset: Option<Duration>,
    /// The window the limit applies to (`w=`), clamped to a day.
    pub window: Option<Duration>,
}

/// Reads the quota from `headers`; `None` when the registry states none (or nothing
/// that parses: `remaining` is the one field without which there is nothing to obey).
pub(crate) fn parse(headers: &HeaderMap) -> Option<Quota> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(remaining) = get("ratelimit-remaining").and_then(first_item) {
        let limit = get("ratelimit-limit").and_then(first_item);
        let window = get("ratelimit-remaining")
            .and_then(|v| param(v, "w"))
            .or_else(|| get("ratelimit-limit").and_then(|v| param(v, "w")));
        let reset = get("ratelimit-reset")
            .and_then(first_item)
            .or(window)
            .map(secs);
        return Some(Quota {
            limit: limit.map(|l| l.0),
            remaining: remaining.0,
            reset,
            window: window.map(secs),
        });
    }
    // The later draft: `RateLimit: "policy";r=<remaining>;t=<seconds to reset>`.
    let v = get("ratelimit")?;
    let remaining = param(v, "r")?;
    Some(Quota {
        limit: None,
        remaining: remaining.0,
        reset: param(v, "t").map(secs),
        window: None,
    })
}

/// A count of whole seconds or requests, as the drafts write them.
#[derive(Debug, Clone, Copy)]
struct Num(u64);

fn secs(n: Num) -> Duration {
    Duration::from_secs(n.0).min(RETRY_AFTER_CEILING)
}

/// The leading number of the first list item: `100` of `100;w=21600, 5000;w=3600`.
fn first_item(v: &str) -> Option<Num> {
    let item = v.split(',').next()?;
    number(item.split(';').next()?)
}

/// The value of parameter `key` anywhere in the field (`w` of `100;w=21600`).
fn param(v: &str, key: &str) -> Option<Num> {
    v.split([',', ';']).find_map(|p| {
        let (k, val) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key))
            .then(|| number(val))
            .flatten()
    })
}

/// A non-negative integer; a larger-than-u64 one saturates, anything else is `None`.
fn number(s: &str) -> Option<Num> {
    let s = s.trim().trim_matches('"');
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Num(s.parse::<u64>().unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn docker_hub_form() {
        let q = parse(&headers(&[
            ("ratelimit-limit", "100;w=21600"),
            ("ratelimit-remaining", "76;w=21600"),
        ]))
        .unwrap();
        assert_eq!(
            q,
            Quota {
                limit: Some(100),
                remaining: 76,
                reset: Some(Duration::from_secs(21600)),
                window: Some(Duration::from_secs(21600)),
            }
        );
    }

    #[test]
    fn reset_wins_over_the_window_and_lists_take_the_first_policy() {
        let q = parse(&headers(&[
            ("RateLimit-Limit", "10, 10;w=1, 1000;w=3600"),
            ("RateLimit-Remaining", "3"),
            ("RateLimit-Reset", "2"),
        ]))
        .unwrap();
        assert_eq!(q.limit, Some(10));
        assert_eq!(q.remaining, 3);
        assert_eq!(q.reset, Some(Duration::from_secs(2)));
    }

    #[test]
    fn later_draft_single_field() {
        let q = parse(&headers(&[("RateLimit", "\"default\";r=0;t=7")])).unwrap();
        assert_eq!(q.remaining, 0);
        assert_eq!(q.reset, Some(Duration::from_secs(7)));
    }

    #[test]
    fn nonsense_is_ignored_and_huge_values_clamp() {
        assert_eq!(parse(&HeaderMap::new()), None);
        assert_eq!(parse(&headers(&[("ratelimit-remaining", "lots")])), None);
        assert_eq!(parse(&headers(&[("ratelimit-remaining", "-1")])), None);
        assert_eq!(parse(&headers(&[("ratelimit", "r=;t=")])), None);
        let q = parse(&headers(&[
            ("ratelimit-remaining", "99999999999999999999999"),
            ("ratelimit-reset", "99999999999999999999999"),
        ]))
        .unwrap();
        assert_eq!(q.remaining, u64::MAX);
        assert_eq!(q.reset, Some(RETRY_AFTER_CEILING));
    }
}
