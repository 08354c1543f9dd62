//! Replay memory: delivery ids handled in the last hour, so a sender's retry (or a
//! replayed request) is answered 202 without another scan.
//!
//! Bounded: at most [`CAPACITY`] ids (oldest forgotten first) and none older than
//! [`WINDOW`]; each entry is a 32-byte SHA-256 of the receiver name and the id plus an
//! `Instant`, so the memory stays under about 1 MiB whatever the senders send.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use imagebump_webhook::DeliveryId;
use sha2::{Digest, Sha256};

/// How long a delivery id is remembered.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// How many delivery ids are remembered at most (across receivers).
pub const CAPACITY: usize = 10_000;

type Key = [u8; 32];

/// The ids seen, oldest first.
pub struct Replays {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    keys: HashSet<Key>,
    order: VecDeque<(Key, Instant)>,
}

impl Default for Replays {
    fn default() -> Self {
        Replays::with_capacity(CAPACITY)
    }
}

impl Replays {
    /// A memory holding at most `capacity` ids.
    pub fn with_capacity(capacity: usize) -> Replays {
        Replays {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
        }
    }

    /// True the first time `id` arrives at `receiver` within [`WINDOW`] of `now`; it is
    /// remembered from then on. Check and record are one step, so of two concurrent
    /// copies exactly one is first.
    pub fn first_time(&self, receiver: &str, id: &DeliveryId, now: Instant) -> bool {
        let key = key(receiver, id);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *g;
        while let Some((k, at)) = inner.order.front() {
            if now.saturating_duration_since(*at) < WINDOW {
                break;
            }
            inner.keys.remove(k);
            inner.order.pop_front();
        }
        if inner.keys.contains(&key) {
            return false;
        }
        while inner.order.len() >= self.capacity {
            if let Some((k, _)) = inner.order.pop_front() {
                inner.keys.remove(&k);
            }
        }
        inner.keys.insert(key);
        inner.order.push_back((key, now));
        true
    }

    /// How many ids are remembered now.
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .order
            .len()
    }
}

fn key(receiver: &str, id: &DeliveryId) -> Key {
    let mut h = Sha256::new();
    h.update(receiver.as_bytes());
    h.update([0]);
    h.update(id.0.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> DeliveryId {
        DeliveryId(s.to_string())
    }

    #[test]
    fn a_repeat_within_the_hour_is_a_replay() {
        let r = Replays::default();
        let t0 = Instant::now();
        assert!(r.first_time("reg", &id("a"), t0));
        assert!(!r.first_time("reg", &id("a"), t0 + Duration::from_secs(3599)));
        // Per receiver: the same id at another receiver is another delivery.
        assert!(r.first_time("hub", &id("a"), t0));
        // After the window it is new again.
        assert!(r.first_time("reg", &id("a"), t0 + WINDOW));
        assert!(!r.first_time("reg", &id("a"), t0 + WINDOW));
    }

    #[test]
    fn memory_is_bounded_and_forgets_the_oldest() {
        let r = Replays::with_capacity(3);
        let t0 = Instant::now();
        for (i, s) in ["a", "b", "c", "d"].iter().enumerate() {
            assert!(r.first_time("reg", &id(s), t0 + Duration::from_secs(i as u64)));
        }
        assert_eq!(r.remembered(), 3);
        let t = t0 + Duration::from_secs(10);
        assert!(!r.first_time("reg", &id("d"), t));
        assert!(r.first_time("reg", &id("a"), t), "the oldest was forgotten");
        let full = Replays::default();
        for i in 0..CAPACITY + 500 {
            full.first_time("reg", &id(&i.to_string()), t0);
        }
        assert_eq!(full.remembered(), CAPACITY);
    }

    #[test]
    fn expired_ids_are_dropped_on_the_next_delivery() {
        let r = Replays::default();
        let t0 = Instant::now();
        for i in 0..100 {
            r.first_time("reg", &id(&i.to_string()), t0);
        }
        assert!(r.first_time("reg", &id("late"), t0 + WINDOW + Duration::from_secs(1)));
        assert_eq!(r.remembered(), 1);
    }
}
