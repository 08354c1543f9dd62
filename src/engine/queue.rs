//! The write queue: wishes waiting for a repository's writer, latest per image.
//!
//! A newer scan replaces an older wish for the same image, which bounds the queue by the
//! number of images and coalesces bursts: while a push is in flight, new wishes wait and
//! go into the next commit together. The queue is also the writer's clock: its sleeps
//! end early when the queue closes, so shutdown never waits out a backoff.
//!
//! # When a batch is taken
//! Decided by [`gather_deadline`] from timestamps alone, without a fixed wait:
//! - *Cold* (no batch finished in the last [`HOT_AFTER`]): a lone wish is taken at once —
//!   at most [`FIRST_GATHER`] is spent on scans still running, so the first commit of
//!   a burst goes out quickly.
//! - *Hot* (the oldest wish came while the last batch was written, or less than
//!   [`HOT_AFTER`] after: a burst is going on): the writer gathers until the wishes
//!   pause for [`QUIET`] with no scan running, but at most [`BURST_GATHER_MAX`] after
//!   the oldest of them arrived. Wishes that arrived while a commit was being pushed
//!   have already waited, so they count from their arrival, not from the take.
//! - *Start-up* ([`Queues::start_up`]): the first batch waits until every start-up scan
//!   has finished (at most [`STARTUP_GATHER_MAX`]), so a start-up sync is one commit.
//! - `batchWindow` adds a fixed wait: never taken sooner than that after the oldest wish.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use imagebump_core::decision::{ImageId, Wish};

/// Cold: how long the first wish waits for scans already running. A lone webhook has
/// no other scan in flight, so it pays nothing; the first commit of a burst takes what
/// is ready within this and goes (the goal: ≤150 ms after the first push).
pub const FIRST_GATHER: Duration = Duration::from_millis(30);

/// A wish arriving while a batch is written, or less than this after it was done,
/// means a burst is going on.
pub const HOT_AFTER: Duration = Duration::from_millis(500);

/// Hot: a pause this long between wishes (no scan running) ends the gathering.
pub const QUIET: Duration = Duration::from_millis(200);

/// Hot: the longest a wish waits for others, from its arrival (bounds the latency of
/// a long burst: one commit about every second).
pub const BURST_GATHER_MAX: Duration = Duration::from_secs(1);

/// The longest the first batch after start waits for the start-up scans (a fleet of
/// thousands of repositories at the default rate takes about a minute).
pub const STARTUP_GATHER_MAX: Duration = Duration::from_secs(120);

/// What [`gather_deadline`] decides from: the queue's timestamps at `now`.
#[derive(Debug, Clone, Copy)]
pub struct Gather {
    /// When the oldest pending wish arrived.
    pub first: Instant,
    /// When the newest pending wish arrived.
    pub last: Instant,
    /// When the previous batch was done, if any.
    pub last_done: Option<Instant>,
    /// Scans running now.
    pub scans: usize,
    /// `batchWindow` (zero: none).
    pub window: Duration,
    /// Set until the first batch after start: wait for scans until then.
    pub startup_until: Option<Instant>,
}

/// When the batch should be taken if nothing changes (a new wish or a finished scan
/// makes the queue decide again). Pure: a function of the timestamps.
pub fn gather_deadline(g: &Gather) -> Instant {
    let plus = |t: Instant, d: Duration| t.checked_add(d).unwrap_or(t);
    let hot = g
        .last_done
        .is_some_and(|t| g.first.saturating_duration_since(t) < HOT_AFTER);
    let adaptive = match (hot, g.scans) {
        (false, 0) => g.first,
        (false, _) => plus(g.first, FIRST_GATHER),
        (true, 0) => plus(g.last, QUIET).min(plus(g.first, BURST_GATHER_MAX)),
        (true, _) => plus(g.first, BURST_GATHER_MAX),
    };
    let mut at = adaptive.max(plus(g.first, g.window));
    if let (Some(until), true) = (g.startup_until, g.scans > 0) {
        at = at.max(until);
    }
    at
}

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
    /// When the oldest and the newest pending wish arrived.
    first: Option<Instant>,
    last: Option<Instant>,
    /// When the previous batch was done.
    last_done: Option<Instant>,
    /// Until the first batch after start: how long it may wait for start-up scans.
    startup_until: Option<Instant>,
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
        let now = Instant::now();
        s.first.get_or_insert(now);
        s.last = Some(now);
        self.cv.notify_all();
    }

    /// The next batch is the start-up sync's: it waits for every scan running (at most
    /// [`STARTUP_GATHER_MAX`]), so the sync becomes one commit.
    pub fn start_up(&self) {
        self.lock().startup_until = Instant::now().checked_add(STARTUP_GATHER_MAX);
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

    /// Blocks until there is work, then gathers as [`gather_deadline`] decides (see the
    /// module docs); `window` is `batchWindow`. Takes everything. `None` when closed and
    /// empty.
    pub fn take(&self, window: Duration) -> Option<Vec<Queued>> {
        let mut s = self.lock();
        while s.pending.is_empty() {
            if s.closed {
                return None;
            }
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        while !s.closed {
            let now = Instant::now();
            let g = Gather {
                first: s.first.unwrap_or(now),
                last: s.last.unwrap_or(now),
                last_done: s.last_done,
                scans: s.scans,
                window,
                startup_until: s.startup_until,
            };
            let left = gather_deadline(&g).saturating_duration_since(now);
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
        s.startup_until = None;
        (s.first, s.last) = (None, None);
        Some(std::mem::take(&mut s.pending).into_values().collect())
    }

    /// The batch is written; `retry` goes back unless a newer wish arrived meanwhile.
    pub(crate) fn done(&self, retry: Vec<Queued>) {
        let mut s = self.lock();
        if !retry.is_empty() {
            // A retried batch waited its backoff already: it is due, not new.
            let now = Instant::now();
            s.first.get_or_insert(now);
            s.last.get_or_insert(now);
        }
        for q in retry {
            // A wish queued meanwhile is newer: it wins.
            s.pending.entry(q.wish.id.clone()).or_insert(q);
        }
        s.busy = false;
        s.last_done = Some(Instant::now());
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

    /// Marks the next batch of every queue as the start-up sync's
    /// ([`WriteQueue::start_up`]); the caller holds the guards while it starts the
    /// start-up scans, so no queue sees "no scan running" before they all began.
    pub fn start_up(&self) -> Vec<ScanGuard> {
        for q in self.by_git.values() {
            q.start_up();
        }
        self.scan_guard()
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
        if s.scans == 0 {
            // The start-up scans are all done: a later batch need not wait for scans.
            s.startup_until = None;
        }
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

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    /// A queue's decision with times in ms after `t0`.
    fn deadline(first: u64, last: u64, last_done: Option<u64>, scans: usize) -> Duration {
        let t0 = Instant::now();
        let g = Gather {
            first: at(t0, first),
            last: at(t0, last),
            last_done: last_done.map(|ms| at(t0, ms)),
            scans,
            window: Duration::ZERO,
            startup_until: None,
        };
        gather_deadline(&g) - t0
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_lone_wish_is_taken_at_once() {
        // Nothing taken before, no scan running: at its arrival.
        assert_eq!(deadline(5000, 5000, None, 0), ms(5000));
        // The last batch done long ago: still cold.
        assert_eq!(deadline(5000, 5000, Some(1000), 0), ms(5000));
    }

    #[test]
    fn a_cold_wish_waits_briefly_for_running_scans() {
        assert_eq!(deadline(0, 0, None, 3), FIRST_GATHER);
    }

    #[test]
    fn a_burst_after_a_commit_gathers_until_quiet_or_the_bound() {
        // Batch done at 40 ms; wishes since 60 ms, the latest at 300 ms, no scan left:
        // taken after the pause.
        assert_eq!(deadline(60, 300, Some(40), 0), ms(300) + QUIET);
        // Scans still running: up to the bound from the oldest wish.
        assert_eq!(deadline(60, 300, Some(40), 4), ms(60) + BURST_GATHER_MAX);
        // Wishes that kept coming for long: the bound wins over the pause.
        assert_eq!(deadline(60, 1000, Some(40), 0), ms(60) + BURST_GATHER_MAX);
    }

    #[test]
    fn burst_of_50_in_700ms_is_at_most_three_batches() {
        // Wishes every 14 ms from 10 ms, each scan running 5 ms, commits taking 80 ms:
        // replay the decisions.
        let arrivals: Vec<u64> = (0..50).map(|i| 10 + i * 14).collect();
        let (mut now, mut last_done, mut batches, mut i) = (0u64, None, Vec::new(), 0);
        while i < arrivals.len() {
            let first = arrivals[i].max(now);
            // Decide at each millisecond from the first pending wish.
            let mut t = first;
            loop {
                let arrived: Vec<u64> = arrivals[i..].iter().copied().filter(|a| *a <= t).collect();
                let scans = arrivals[i..]
                    .iter()
                    .filter(|a| **a <= t + 5 && **a > t)
                    .count();
                let last = *arrived.last().unwrap_or(&first);
                let d = deadline(arrivals[i], last, last_done, scans);
                if d <= ms(t) {
                    break;
                }
                t += 1;
            }
            let n = arrivals[i..].iter().filter(|a| **a <= t).count();
            batches.push((t, n));
            i += n;
            last_done = Some(t + 80);
            now = t + 80;
        }
        assert!(batches.len() <= 3, "{batches:?}");
        assert!(batches[0].0 <= 10 + 150, "first batch at {:?}", batches[0]);
        let last = batches.last().unwrap().0 + 80;
        assert!(
            last <= arrivals[49] + 1500,
            "last committed at {last}: {batches:?}"
        );
    }

    #[test]
    fn the_start_up_batch_waits_for_every_start_up_scan() {
        let t0 = Instant::now();
        let mut g = Gather {
            first: t0,
            last: t0,
            last_done: None,
            scans: 150,
            window: Duration::ZERO,
            startup_until: Some(t0 + STARTUP_GATHER_MAX),
        };
        assert_eq!(gather_deadline(&g), t0 + STARTUP_GATHER_MAX);
        // The last start-up scan finished: at once.
        g.scans = 0;
        assert_eq!(gather_deadline(&g), t0);
    }

    #[test]
    fn batch_window_is_a_fixed_extra_wait() {
        let t0 = Instant::now();
        let g = Gather {
            first: t0,
            last: t0,
            last_done: None,
            scans: 0,
            window: Duration::from_secs(1),
            startup_until: None,
        };
        assert_eq!(gather_deadline(&g), t0 + Duration::from_secs(1));
    }

    #[test]
    fn start_up_waits_for_scans_on_a_real_queue() {
        let queue = Arc::new(WriteQueue::default());
        queue.start_up();
        let guard = queue.scan_guard();
        queue.push(q("a", "1", None));
        let q2 = queue.clone();
        let taker = std::thread::spawn(move || q2.take(Duration::ZERO).unwrap().len());
        // The taker cannot take while the guard is held (its bound is two minutes);
        // the second wish is pushed before the guard drops, so it must be in the batch.
        queue.push(q("b", "1", None));
        drop(guard);
        assert_eq!(taker.join().unwrap(), 2);
        // The start-up is over once its scans are: later batches do not wait for scans.
        assert!(queue.lock().startup_until.is_none());
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
