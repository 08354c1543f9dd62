//! The write queue: wishes waiting for a repository's writer, latest per image.
//!
//! A newer scan replaces an older wish for the same image, which bounds the queue by the
//! number of images and coalesces bursts: while a push is in flight, new wishes wait and
//! go into the next commit together. The queue is also the writer's clock: its sleeps
//! end early when the queue closes, so shutdown never waits out a backoff.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use imagebump_core::decision::{ImageId, Wish};

/// How long the writer waits for scans already running before it commits anyway. A lone
/// webhook has no other scan in flight, so it pays nothing; a burst is gathered into a
/// few commits instead of one per repository.
pub const GATHER_MAX: Duration = Duration::from_secs(1);

/// A wish with the time the earliest webhook behind it arrived (for the latency metric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// What the image should run.
    pub wish: Wish,
    /// When the earliest webhook behind it arrived; `None` for polls and syncs.
    pub cause: Option<Instant>,
}

/// Wishes waiting for the writer, latest per image.
#[derive(Debug, Default)]
pub struct WriteQueue {
    state: Mutex<QueueState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    pending: BTreeMap<ImageId, Queued>,
    closed: bool,
    /// A batch is being written.
    busy: bool,
    /// Scans running now, whose wishes may join the next batch.
    scans: usize,
}

impl WriteQueue {
    /// Queues a wish; a newer wish for the same image replaces the older one but keeps
    /// the older cause time (the latency metric measures from the first webhook).
    pub fn push(&self, mut q: Queued) {
        let mut s = self.lock();
        if let Some(old) = s.pending.get(&q.wish.id) {
            q.cause = match (old.cause, q.cause) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        s.pending.insert(q.wish.id.clone(), q);
        self.cv.notify_all();
    }

    /// Marks a scan as running until the guard drops (after it pushed its wishes), so
    /// the writer can wait for it; a panicking scan still unmarks itself.
    pub fn scan_guard(self: &Arc<Self>) -> ScanGuard {
        self.lock().scans += 1;
        ScanGuard(self.clone())
    }

    /// No more wishes will come; the writer finishes what is queued and stops.
    pub fn close(&self) {
        self.lock().closed = true;
        self.cv.notify_all();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// True when nothing is queued and no batch is being written.
    pub fn idle(&self) -> bool {
        let s = self.lock();
        s.pending.is_empty() && !s.busy
    }

    /// Blocks until the queue is idle or `timeout` passes; returns whether it is idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        while !s.pending.is_empty() || s.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self
                .cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Sleeps for `d` unless the queue closes first; returns false when it closed.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut s = self.lock();
        while !s.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            s = self
                .cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        false
    }

    /// Drops queued wishes whose image `keep` refuses (a policy reload removed it) and
    /// returns their images. A batch being written is not touched.
    pub fn retain(&self, keep: impl Fn(&ImageId) -> bool) -> Vec<ImageId> {
        let mut s = self.lock();
        let gone: Vec<ImageId> = s.pending.keys().filter(|id| !keep(id)).cloned().collect();
        for id in &gone {
            s.pending.remove(id);
        }
        gone
    }

    /// Like [`take`](Self::take), but gives up after `idle` without work: `Ok(None)` then
    /// (the writer uses it to fetch at least once per poll interval), `Err(())` when
    /// closed and empty.
    pub fn take_or_timeout(
        &self,
        window: Duration,
        idle: Duration,
    ) -> Result<Option<Vec<Queued>>, Closed> {
        let deadline = Instant::now() + idle;
        let mut s = self.lock();
        while s.pending.is_empty() {
            if s.closed {
                return Err(Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            s = self
                .cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(s);
        // There is work now: gather as `take` does (it returns at once when not empty).
        self.take(window).map(Some).ok_or(Closed)
    }

    /// Blocks until there is work, then gathers: for `window` when one is configured,
    /// else while other scans are still running (at most [`GATHER_MAX`]). Takes everything.
    /// `None` when closed and empty.
    pub fn take(&self, window: Duration) -> Option<Vec<Queued>> {
        let mut s = self.lock();
        while s.pending.is_empty() {
            if s.closed {
                return None;
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        let started = Instant::now();
        let (limit, fixed) = if window.is_zero() {
            (GATHER_MAX, false)
        } else {
            (window, true)
        };
        while !s.closed && (fixed || s.scans > 0) {
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            s = self
                .cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        s.busy = true;
        Some(std::mem::take(&mut s.pending).into_values().collect())
    }

    /// The batch is written; `retry` goes back unless a newer wish arrived meanwhile.
    pub(crate) fn done(&self, retry: Vec<Queued>) {
        let mut s = self.lock();
        for q in retry {
            // A wish queued meanwhile is newer: it wins.
            s.pending.entry(q.wish.id.clone()).or_insert(q);
        }
        s.busy = false;
        self.cv.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The queue is closed and empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// One [`WriteQueue`] per GitOps repository, so a slow or failing repository never
/// delays another. A wish goes to every repository where its image has a target.
#[derive(Debug)]
pub struct Queues {
    by_git: BTreeMap<String, Arc<WriteQueue>>,
}

impl Queues {
    /// A queue for each repository name.
    pub fn new(names: &[String]) -> Queues {
        Queues {
            by_git: names
                .iter()
                .map(|n| (n.clone(), Arc::new(WriteQueue::default())))
                .collect(),
        }
    }

    /// The queue of repository `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<WriteQueue>> {
        self.by_git.get(name)
    }

    /// Every repository's queue, by name.
    pub fn all(&self) -> impl Iterator<Item = (&String, &Arc<WriteQueue>)> {
        self.by_git.iter()
    }

    /// Queues `q` for each repository whose policies (in `gen`) hold its image.
    pub fn push(&self, q: Queued, gen: &super::live::Generation) {
        let mut sent = false;
        for (name, queue) in &self.by_git {
            if gen
                .for_git(name)
                .is_some_and(|p| p.get(&q.wish.id).is_some())
            {
                queue.push(q.clone());
                sent = true;
            }
        }
        if !sent {
            tracing::warn!(image = %q.wish.id, "no GitOps repository holds a target of this image");
        }
    }

    /// Marks a scan as running on every queue (see [`WriteQueue::scan_guard`]).
    pub fn scan_guard(&self) -> Vec<ScanGuard> {
        self.by_git.values().map(|q| q.scan_guard()).collect()
    }

    /// Closes every queue.
    pub fn close(&self) {
        for q in self.by_git.values() {
            q.close();
        }
    }

    /// [`WriteQueue::retain`] on every queue; the dropped images, each once.
    pub fn retain(&self, keep: impl Fn(&str, &ImageId) -> bool) -> Vec<ImageId> {
        let mut out: Vec<ImageId> = Vec::new();
        for (name, q) in &self.by_git {
            for id in q.retain(|id| keep(name, id)) {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }
}

/// See [`WriteQueue::scan_guard`].
pub struct ScanGuard(Arc<WriteQueue>);

impl Drop for ScanGuard {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.scans = s.scans.saturating_sub(1);
        self.0.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(app: &str, tag: &str, cause: Option<Instant>) -> Queued {
        Queued {
            wish: Wish {
                id: ImageId::new(app, "web"),
                tag: tag.into(),
                digest: None,
                index_digest: None,
            },
            cause,
        }
    }

    #[test]
    fn latest_wish_wins_and_keeps_the_first_cause() {
        let queue = WriteQueue::default();
        let t0 = Instant::now();
        queue.push(q("a", "1", Some(t0)));
        queue.push(q("a", "2", None));
        queue.push(q("b", "1", None));
        let batch = queue.take(Duration::ZERO).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].wish.tag, "2");
        assert_eq!(batch[0].cause, Some(t0));
        // A retry does not override a newer wish queued meanwhile.
        queue.push(q("a", "3", None));
        queue.done(batch);
        let again = queue.take(Duration::ZERO).unwrap();
        assert_eq!(again[0].wish.tag, "3");
    }

    #[test]
    fn take_or_timeout_returns_when_idle_and_takes_work() {
        let queue = WriteQueue::default();
        // No work: returns after the idle time, not forever.
        assert_eq!(
            queue.take_or_timeout(Duration::ZERO, Duration::from_millis(10)),
            Ok(None)
        );
        queue.push(q("a", "1", None));
        let got = queue
            .take_or_timeout(Duration::ZERO, Duration::from_secs(60))
            .unwrap()
            .unwrap();
        assert_eq!(got[0].wish.tag, "1");
        queue.done(Vec::new());
        queue.close();
        assert_eq!(
            queue.take_or_timeout(Duration::ZERO, Duration::from_secs(60)),
            Err(Closed)
        );
    }

    #[test]
    fn retain_drops_wishes_of_removed_images() {
        let queue = WriteQueue::default();
        queue.push(q("a", "1", None));
        queue.push(q("b", "1", None));
        let gone = queue.retain(|id| id.application == "a");
        assert_eq!(gone, vec![ImageId::new("b", "web")]);
        let batch = queue.take(Duration::ZERO).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].wish.id, ImageId::new("a", "web"));
    }

    #[test]
    fn close_interrupts_sleep() {
        let queue = Arc::new(WriteQueue::default());
        let q2 = queue.clone();
        let t = std::thread::spawn(move || q2.sleep(Duration::from_secs(60)));
        // Closing must wake the sleeper long before its minute is up.
        queue.close();
        assert!(!t.join().unwrap());
        assert!(
            !queue.sleep(Duration::from_secs(60)),
            "closed: returns at once"
        );
    }
}
