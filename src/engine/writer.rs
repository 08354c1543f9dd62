//! The one writer of a GitOps repository: a dedicated thread that owns the working copy,
//! takes everything queued since its last commit, and turns it into one commit.
//!
//! libgit2 blocks, so the writer is a plain thread, not a tokio task. The queue keeps the
//! latest wish per image (a newer scan replaces an older one), which bounds it by the
//! number of images and coalesces bursts: while a push is in flight, new wishes wait and
//! go into the next commit together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::notify::{Notice, Notifier};
use super::status::StatusBoard;
use crate::gitops::files;
use crate::gitops::repo::{self, Applied, WorkingCopy};
use crate::metrics::Metrics;
use imagebump_core::plan::{plan, Desired, FileSource, Outcome, Plan, WatchId};
use imagebump_core::policy::LoadedPolicy;

/// Wishes waiting for the writer, latest per image.
#[derive(Debug, Default)]
pub struct WriteQueue {
    state: Mutex<QueueState>,
    cv: Condvar,
}

/// How long the writer waits for scans already running before it commits anyway. A lone
/// webhook has no other scan in flight, so it pays nothing; a burst is gathered into a
/// few commits instead of one per repository.
pub const GATHER_MAX: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct QueueState {
    pending: BTreeMap<WatchId, Desired>,
    closed: bool,
    /// A batch is being written.
    busy: bool,
    /// Scans running now, whose wishes may join the next batch.
    scans: usize,
}

impl WriteQueue {
    /// Queues a wish; a newer wish for the same image replaces the older one but keeps
    /// the older cause time (the latency metric measures from the first webhook).
    pub fn push(&self, mut d: Desired) {
        let mut s = self.lock();
        if let Some(old) = s.pending.get(&d.watch) {
            d.cause = match (old.cause, d.cause) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        s.pending.insert(d.watch, d);
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

    /// Blocks until there is work, then gathers: for `window` when one is configured,
    /// else while other scans are still running (at most [`GATHER_MAX`]). Takes everything.
    /// `None` when closed and empty.
    fn take(&self, window: Duration) -> Option<Vec<Desired>> {
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

    fn done(&self, retry: Vec<Desired>) {
        let mut s = self.lock();
        for d in retry {
            // A wish queued meanwhile is newer: it wins.
            s.pending.entry(d.watch).or_insert(d);
        }
        s.busy = false;
        self.cv.notify_all();
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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

/// How `why_not_updated` starts when git already holds what the policy chose.
pub const UP_TO_DATE: &str = "up to date";

/// Reads files of a working tree, refusing paths that leave it (`..`, symlinks).
pub struct WorkTree<'a>(pub &'a Path);

impl FileSource for WorkTree<'_> {
    fn read(&self, rel: &Path) -> Result<Option<String>, String> {
        let p = repo::safe_join(self.0, rel).map_err(|e| e.to_string())?;
        match std::fs::read(&p) {
            Ok(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|_| format!("{}: not UTF-8 text", rel.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", rel.display())),
        }
    }

    fn list(&self, rel: &Path) -> Result<Vec<PathBuf>, String> {
        let p = repo::safe_join(self.0, rel).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        if p.is_file() {
            out.push(rel.to_path_buf());
        } else if p.is_dir() {
            for f in files::yaml_files(&p).map_err(|e| format!("{}: {e}", rel.display()))? {
                out.push(
                    f.strip_prefix(self.0)
                        .map_err(|e| e.to_string())?
                        .to_path_buf(),
                );
            }
        } else {
            return Err(format!("{}: no such file or directory", rel.display()));
        }
        out.sort();
        Ok(out)
    }
}

/// Writes a planned file atomically, refusing paths that leave the working tree.
pub fn write_atomically(root: &Path, rel: &Path, text: &str) -> std::io::Result<()> {
    let path = repo::safe_join(root, rel).map_err(|e| std::io::Error::other(e.to_string()))?;
    files::write_atomically(&path, text)
}

/// The commit message: the template's subject (`{{ summary }}` replaced), then one line
/// per change, then a trailer marking the commit as imagebump's.
pub fn commit_message(template: Option<&str>, plan: &Plan) -> String {
    let lines = plan.summary_lines();
    let summary = if lines.len() == 1 {
        lines[0].clone()
    } else {
        format!("update {} images", lines.len())
    };
    let subject = template
        .unwrap_or("chore(images): {{ summary }}")
        .replace("{{ summary }}", &summary)
        .replace("{{summary}}", &summary);
    let mut msg = format!("{subject}\n\n");
    for c in &plan.changes {
        msg.push_str(&format!(
            "- {}/{}: {}:{} {} → {}\n",
            c.application,
            c.image,
            c.file.display(),
            c.line,
            if c.old.is_empty() { "(added)" } else { &c.old },
            if c.new.is_empty() {
                "(removed)"
            } else {
                &c.new
            },
        ));
    }
    msg.push_str(&format!(
        "\nImagebump-Version: {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    msg
}

/// Everything the writer thread needs.
pub struct Writer {
    /// The working copy it owns.
    pub wc: WorkingCopy,
    /// The loaded policies (indexes in [`WatchId`]s point here).
    pub policies: Arc<Vec<LoadedPolicy>>,
    /// Where wishes come from.
    pub queue: Arc<WriteQueue>,
    /// Status to update.
    pub status: Arc<StatusBoard>,
    /// Metrics to count into.
    pub metrics: Arc<Metrics>,
    /// Commit message template.
    pub template: Option<String>,
    /// Wait this long after the first wish before writing.
    pub batch_window: Duration,
    /// Where to announce commits and failures.
    pub notifier: Option<Notifier>,
    /// Writes that failed (for `once`'s exit code).
    pub failures: Arc<AtomicU64>,
}

impl Writer {
    /// Runs until the queue is closed and drained.
    pub fn run(mut self) {
        let mut backoff = Duration::from_millis(500);
        let mut consecutive_failures = 0u32;
        while let Some(batch) = self.queue.take(self.batch_window) {
            match self.write(&batch) {
                Ok(()) => {
                    backoff = Duration::from_millis(500);
                    consecutive_failures = 0;
                    self.queue.done(Vec::new());
                }
                Err(e) => {
                    self.failures.fetch_add(1, Ordering::Relaxed);
                    self.metrics.push_failures.inc();
                    consecutive_failures += 1;
                    tracing::error!(error = %e, "write failed");
                    for d in &batch {
                        self.status.update(d.watch, |s| {
                            s.last_error = Some(e.clone());
                            s.why_not_updated = Some(format!("push failing: {e}"));
                        });
                    }
                    if consecutive_failures == 3 {
                        if let Some(n) = &self.notifier {
                            n.send(Notice::Failure { error: e.clone() });
                        }
                    }
                    if self.queue.is_closed() {
                        // Shutting down (or `once`): report, do not loop.
                        self.queue.done(Vec::new());
                    } else {
                        self.queue.done(batch);
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                    }
                }
            }
        }
    }

    fn write(&mut self, batch: &[Desired]) -> Result<(), String> {
        let started = Instant::now();
        let mut last_plan: Option<Plan> = None;
        let policies = self.policies.clone();
        let template = self.template.clone();
        let result = self.wc.commit_and_push_with(|root| {
            let p = plan(&policies, batch, &WorkTree(root));
            let mut paths = Vec::new();
            for (rel, (_, new)) in &p.files {
                write_atomically(root, rel, new)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", rel.display()))?;
                paths.push(rel.clone());
            }
            let message = commit_message(template.as_deref(), &p);
            last_plan = Some(p);
            Ok(Applied { paths, message })
        });
        let plan = last_plan.unwrap_or_default();
        let outcome = result.map_err(|e| e.to_string())?;
        self.metrics
            .write_seconds
            .observe(started.elapsed().as_secs_f64());
        let commit = outcome.as_ref().map(|o| o.commit.clone());
        if let Some(o) = &outcome {
            self.metrics.commits.inc();
            self.metrics
                .push_retries
                .inc_by(u64::from(o.attempts.saturating_sub(1)));
        }
        for d in batch {
            let o = plan.outcomes.get(&d.watch).cloned();
            let changed = matches!(o, Some(Outcome::Updated { .. })) && commit.is_some();
            if changed {
                if let Some(c) = d.cause {
                    self.metrics
                        .webhook_to_commit
                        .observe(c.elapsed().as_secs_f64());
                }
            }
            if let Some(Outcome::Failed(e)) = &o {
                // A target that cannot be edited is a failed write: `once` exits 2.
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot edit a target");
            }
            let chosen = match &d.digest {
                Some(dg) => format!("{}@{dg}", d.tag),
                None => d.tag.clone(),
            };
            let pinned = self.policies[d.watch.app].policy.images[d.watch.image]
                .pinned
                .clone();
            self.status.update(d.watch, |s| match o {
                Some(Outcome::Updated { .. }) | Some(Outcome::UpToDate) | None => {
                    s.current = Some(chosen.clone());
                    s.last_error = None;
                    // Git holds what the policy chose: say why it does not move further.
                    s.why_not_updated = match (&pinned, changed) {
                        (_, true) => None,
                        (Some(p), false) => Some(format!("{UP_TO_DATE}: pinned to {p}")),
                        (None, false) => {
                            Some(format!("{UP_TO_DATE}: no newer tag than {chosen}"))
                        }
                    };
                    if changed {
                        s.last_commit = commit.clone();
                    }
                }
                Some(Outcome::DowngradeRefused { current }) => {
                    s.current = Some(current.clone());
                    s.why_not_updated = Some(format!(
                        "downgrade refused: git has {current}, the policy chose {chosen} (allowDowngrade: true permits it)"
                    ));
                }
                Some(Outcome::Failed(e)) => {
                    s.last_error = Some(e.clone());
                    s.why_not_updated = Some(format!("cannot edit: {e}"));
                }
            });
        }
        if let (Some(o), Some(n)) = (&outcome, &self.notifier) {
            n.send(Notice::Commit {
                commit: o.commit.clone(),
                branch: o.branch.clone(),
                changes: plan.changes.clone(),
            });
        }
        Ok(())
    }
}
