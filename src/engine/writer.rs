//! The one writer of a GitOps repository: a dedicated thread that owns the working copy,
//! takes everything queued since its last commit, and turns it into one commit through
//! the one write path ([`super::write::write`]).
//!
//! libgit2 blocks, so the writer is a plain thread, not a tokio task. A failed batch goes
//! back to the queue and is retried after a backoff that shutdown interrupts. A panic
//! while writing is caught: it is counted, shown in the status of every image of the
//! batch, and the working copy is opened afresh (which repairs whatever state it was left
//! in) before the next batch.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use imagebump_core::decision::{Decision, HoldReason, ImageId, Stage, WaitReason};
use imagebump_core::message::commit_message;
use imagebump_core::plan::{is_downgrade, Outcome};
use imagebump_core::policy::OnManualChange;
use imagebump_git::{GitError, RetryPolicy, WorkingCopy};

use super::digests::{DigestResolver, Unresolved};
use super::live::{LiveSet, RepoPolicies};
use super::manual::{self, Announced, Holds};
use super::notify::{Notice, Notifier};
use super::pulls::PullRequests;
use super::queue::{Closed, Queued, WriteQueue};
use super::status::StatusBoard;
use super::write::{wait_time, write, WriteError, Written};
use crate::metrics::{GitLabels, Metrics};

/// Asks for a scan of one registry repository (by normalised name).
pub type Rescan = Arc<dyn Fn(&str) + Send + Sync>;

/// Opens (or reopens, after a panic) the working copy.
pub type Opener = Box<dyn Fn() -> Result<WorkingCopy, GitError> + Send>;

/// Everything the writer thread needs.
pub struct Writer {
    /// The GitOps repository's name (status, metrics, logs).
    pub git: String,
    /// Where its status is shown.
    pub git_status: Arc<super::gits::GitBoard>,
    /// The working copy it owns; `None` until opened, and again after a panic.
    pub wc: Option<WorkingCopy>,
    /// How to open it.
    pub open: Opener,
    /// The policies in effect (read once per batch).
    pub live: Arc<LiveSet>,
    /// `policies: {repoPath}`: re-read after every fetch, and fetched when idle.
    pub repo_policies: Option<RepoPolicies>,
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
    /// Whom to tell after each pushed commit (`deployTriggers:`).
    pub triggers: Option<super::triggers::Triggers>,
    /// The repository's base branch (`git[].branch`): deploy triggers' default branch.
    pub base_branch: String,
    /// Writes that failed (for `once`'s exit code).
    pub failures: Arc<AtomicU64>,
    /// Bounds of the push-race retry loop.
    pub retry: RetryPolicy,
    /// Resolves the index digests pinned references need (the scan does not).
    pub digests: DigestResolver,
    /// The config's `onManualChange` (an image's own key wins).
    pub on_manual_change: OnManualChange,
    /// Manual changes already notified.
    pub announced: Announced,
    /// `write: {pullRequest}`: the forge's pull requests (else `None`).
    pub pulls: Option<PullRequests>,
    /// The service's live settings: a config reload swaps them, and the writer copies
    /// them into the fields above before each batch (`None`: `once` and `plan`).
    pub settings: Option<super::reload::SharedSettings>,
    /// The service's scans: a wish older than what git holds (another replica wrote a
    /// newer tag since this one scanned) asks for a fresh scan rather than standing as a
    /// refused downgrade (`None`: `once` and `plan`).
    pub rescan: Option<Rescan>,
    /// The wish tag each image last asked a rescan for: a fresh scan that wishes the
    /// same tag again confirms a real downgrade, which then stands without another
    /// rescan (no loop).
    pub rescanned: BTreeMap<ImageId, String>,
}

/// The longest a forge's rate limit makes the writer wait before it tries again.
const BATCH_BACKOFF_RATE_LIMITED: Duration = Duration::from_secs(3600);

/// Backoff between failed batches: 500 ms doubling to a minute.
const BATCH_BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(60));

/// A batch whose plan, edits and commit leave enough garbage to give back to the kernel
/// afterwards (a few milliseconds at 5,000 edits; a lone update needs none).
const LARGE_BATCH: usize = 64;

/// Held by a writer during a large batch and while it opens its copy: the start-up sync
/// of several GitOps repositories clones each, then plans and commits thousands of edits
/// in each, and doing them one after another keeps one job's working memory at a time
/// (fast_scale: five at once were most of the peak RSS). Small batches — a push's
/// update — never wait for it.
static LARGE_WRITES: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Writer {
    /// Runs until the queue is closed and drained.
    pub fn run(mut self) {
        let _span = tracing::info_span!("writer", git = %self.git).entered();
        if self.wc.is_none() {
            // Clone (or open) now rather than at the first batch; one that fails is
            // tried again by that batch, which reports it. A clone checks out and reads
            // the whole tree: one at a time, like a large batch, and its garbage given
            // back after (fast_scale: five clones at once beside the loaded policies
            // made the peak).
            let opening = LARGE_WRITES.lock().unwrap_or_else(|e| e.into_inner());
            let opened = (self.open)();
            crate::malloc::release_free_memory();
            drop(opening);
            match opened {
                Ok(wc) => self.wc = Some(wc),
                Err(e) => {
                    tracing::error!(error = %e, "cannot open the GitOps repository yet");
                    self.git_status
                        .update(&self.git, |s| s.last_error = Some(e.to_string()));
                }
            }
        }
        let mut backoff = BATCH_BACKOFF.0;
        let mut consecutive_failures = 0u32;
        while let Some(batch) = self.next_batch() {
            let large = (batch.len() >= LARGE_BATCH)
                .then(|| LARGE_WRITES.lock().unwrap_or_else(|e| e.into_inner()));
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| self.write(&batch)));
            if large.is_some() {
                // A large batch read much of the repository through libgit2's caches;
                // a lone update after it reads little, so they need not stay.
                if let Some(wc) = self.wc.as_mut() {
                    if let Err(e) = wc.release_caches() {
                        tracing::warn!(error = %e, "cannot reopen the working copy; the next batch opens it");
                        self.wc = None;
                    }
                }
                crate::malloc::release_free_memory();
            }
            drop(large);
            let mut urgent = false;
            let error = match result {
                Ok(Ok(())) => {
                    backoff = BATCH_BACKOFF.0;
                    consecutive_failures = 0;
                    self.queue.done(Vec::new());
                    // The write fetched: in-repo policies may have changed with it.
                    if let (Some(rp), Some(wc)) = (&mut self.repo_policies, &self.wc) {
                        rp.after_fetch(wc.root());
                    }
                    continue;
                }
                Ok(Err(e)) => {
                    // A forge that rate-limits says how long to wait: never call it sooner.
                    if let WriteError::Forge {
                        retry_after: Some(wait),
                        ..
                    } = &e
                    {
                        backoff = backoff.max((*wait).min(BATCH_BACKOFF_RATE_LIMITED));
                    }
                    // A person must act (a foreign commit on the push branch): say so at
                    // once rather than after three failures.
                    urgent = matches!(e, WriteError::Git(GitError::ForeignCommit { .. }));
                    e.to_string()
                }
                Err(panic) => {
                    self.metrics.panic(Stage::Push.as_str());
                    // Its state is unknown: the next batch opens (and repairs) it again.
                    self.wc = None;
                    format!("the writer panicked: {}", panic_message(&*panic))
                }
            };
            self.failures.fetch_add(1, Ordering::Relaxed);
            self.git_status
                .update(&self.git, |s| s.last_error = Some(error.clone()));
            self.metrics
                .push_failures
                .get_or_create(&GitLabels::of(&self.git))
                .inc();
            consecutive_failures += 1;
            tracing::error!(error = %error, "write failed");
            for q in &batch {
                self.status.decide_in(
                    &q.wish.id,
                    &self.git,
                    Decision::Failed {
                        stage: Stage::Push,
                        error: error.clone(),
                    },
                );
            }
            if consecutive_failures == 3 || (urgent && consecutive_failures == 1) {
                if let Some(n) = &self.notifier {
                    n.send(Notice::Failure {
                        error: error.clone(),
                        images: batch.iter().map(|q| q.wish.id.to_string()).collect(),
                    });
                }
            }
            if self.queue.is_closed() {
                // Shutting down (or `once`): report, do not loop.
                self.queue.done(Vec::new());
            } else {
                self.queue.done(batch);
                self.queue.sleep(backoff);
                backoff = (backoff * 2).min(BATCH_BACKOFF.1);
            }
        }
    }

    /// The next batch; with in-repo policies, fetches whenever the queue stays empty
    /// for their interval, so a merged policy change takes effect without a write.
    fn next_batch(&mut self) -> Option<Vec<Queued>> {
        self.refresh();
        let Some(every) = self.repo_policies.as_ref().map(|rp| rp.every) else {
            return self.queue.take(self.batch_window);
        };
        loop {
            match self.queue.take_or_timeout(self.batch_window, every) {
                Ok(Some(batch)) => return Some(batch),
                Err(Closed) => return None,
                Ok(None) => self.idle_fetch(),
            }
        }
    }

    fn idle_fetch(&mut self) {
        let fetched = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if self.wc.is_none() {
                self.wc = Some((self.open)()?);
            }
            let wc = self.wc.as_mut().expect("opened above");
            wc.sync().map(|_| ())
        }));
        match fetched {
            Ok(Ok(())) => {
                if let (Some(rp), Some(wc)) = (&mut self.repo_policies, &self.wc) {
                    rp.after_fetch(wc.root());
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot fetch the GitOps repository to re-read its policies")
            }
            Err(panic) => {
                self.metrics.panic(Stage::Push.as_str());
                self.wc = None;
                tracing::error!(panic = %panic_message(&*panic), "fetching the GitOps repository panicked");
            }
        }
    }

    /// Takes the settings a config reload may have swapped in.
    fn refresh(&mut self) {
        let Some(s) = &self.settings else { return };
        let s = s.read().unwrap_or_else(|e| e.into_inner()).clone();
        self.batch_window = s.batch_window;
        self.on_manual_change = s.on_manual_change;
        self.notifier.clone_from(&s.notifier);
        self.triggers.clone_from(&s.triggers);
        self.digests = s.digests.clone();
    }

    fn write(&mut self, batch: &[Queued]) -> Result<(), WriteError> {
        self.refresh();
        if self.wc.is_none() {
            self.wc = Some((self.open)()?);
        }
        let Some(pulls) = self.pulls.take() else {
            return self.write_to(batch).map(|_| ());
        };
        let r = self.write_pull_requests(&pulls, batch);
        self.pulls = Some(pulls);
        r
    }

    /// Pull-request mode: each head branch's wishes written to it, then its pull request
    /// opened or updated. Versions a closed pull request proposed are held.
    fn write_pull_requests(
        &mut self,
        pulls: &PullRequests,
        batch: &[Queued],
    ) -> Result<(), WriteError> {
        let mut groups: BTreeMap<String, Vec<Queued>> = BTreeMap::new();
        for q in batch {
            groups
                .entry(pulls.head(&q.wish.id))
                .or_default()
                .push(q.clone());
        }
        for (head, group) in groups {
            let forge = |e: imagebump_forge::ForgeError| WriteError::Forge {
                retry_after: match &e {
                    imagebump_forge::ForgeError::RateLimited { retry_after, .. } => {
                        Some(*retry_after)
                    }
                    _ => None,
                },
                error: e.to_string(),
            };
            let state = pulls.state(&head).map_err(forge)?;
            let mut go = Vec::new();
            for q in group {
                let declined = state
                    .declined
                    .get(&q.wish.id)
                    .and_then(|d| d.iter().find(|(tag, _)| *tag == q.wish.tag).cloned());
                match declined {
                    Some((tag, url)) => self.status.decide_in(
                        &q.wish.id,
                        &self.git,
                        Decision::Held {
                            reason: HoldReason::Declined {
                                pull_request: url,
                                tag,
                            },
                        },
                    ),
                    None => go.push(q),
                }
            }
            if go.is_empty() {
                continue;
            }
            let wc = self.wc.as_mut().expect("opened by write");
            wc.set_push_branch(&head);
            wc.set_fresh_push_branch(state.fresh);
            let written = self.write_to(&go);
            let wc = self.wc.as_mut().expect("opened by write");
            wc.set_fresh_push_branch(false);
            let pushed = written?;
            let messages = wc.push_branch_messages()?;
            if let Some(pr) = pulls.publish(&head, &state, &messages).map_err(forge)? {
                tracing::info!(head = %head, pull_request = %pr.url, "pull request in sync");
                // Opened, or updated with a new commit: tell the people watching.
                let changed = state
                    .open
                    .as_ref()
                    .is_none_or(|o| pushed.is_some() || o.title != pr.title || o.body != pr.body);
                if let (true, Some(n)) = (changed, &self.notifier) {
                    n.send(Notice::PullRequest {
                        url: pr.url.clone(),
                        opened: state.open.is_none(),
                        head: head.clone(),
                        changes: imagebump_core::pull::branch_changes(&messages)
                            .into_iter()
                            .map(|c| (c.image, c.from, c.to))
                            .collect(),
                    });
                }
                self.git_status.update(&self.git, |s| {
                    s.pull_requests.insert(head.clone(), pr.url.clone());
                });
                // What waits in the pull request is proposed, not deployed: never "up to
                // date" or "updated" while it is open.
                let proposed = imagebump_core::pull::proposed(&pr.body);
                for q in &go {
                    let Some(tag) = proposed.get(&q.wish.id) else {
                        continue;
                    };
                    self.status.decide_in(
                        &q.wish.id,
                        &self.git,
                        Decision::Proposed {
                            to: tag.clone(),
                            pull_request: pr.url.clone(),
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// One commit of `batch` through the one write path; the commit pushed, if any.
    fn write_to(&mut self, batch: &[Queued]) -> Result<Option<String>, WriteError> {
        let wc = self.wc.as_mut().expect("opened by write");
        let mut wishes: Vec<_> = batch.iter().map(|q| q.wish.clone()).collect();
        let mut unresolved = Unresolved::new();
        let digests = self.digests.clone();
        // One generation for the whole batch, even if a reload swaps it meanwhile; only
        // this repository's targets.
        let policies = self
            .live
            .current()
            .for_git(&self.git)
            .cloned()
            .unwrap_or_default();
        let template = self.template.clone();
        let queue = self.queue.clone();
        let status = self.status.clone();
        let git = self.git.clone();
        // Between push attempts, every image of the batch says why it waits.
        let wait = |why: &WaitReason| {
            for q in batch {
                status.decide_in(
                    &q.wish.id,
                    &git,
                    Decision::Waiting {
                        reason: why.clone(),
                    },
                );
            }
            queue.sleep(wait_time(why))
        };
        let mode = self.on_manual_change;
        let mut held = Holds::new();
        // Downgrades a fresh scan has not confirmed yet (service only; see below).
        let confirmed = self.rescan.is_some().then(|| self.rescanned.clone());
        let mut unconfirmed: BTreeMap<ImageId, String> = BTreeMap::new();
        let written: Result<Written, WriteError> = write(
            wc,
            &self.retry,
            &wait,
            &mut |files, wc| {
                // Manual changes are read again at each base: a retry plans on fresh history.
                let t = std::time::Instant::now();
                held = manual::holds(wc, &policies, mode, &wishes).map_err(|e| e.to_string())?;
                let holds_ms = t.elapsed().as_secs_f64() * 1e3;
                let mut go: Vec<_> = wishes
                    .iter()
                    .filter(|w| !held.contains_key(&w.id))
                    .cloned()
                    .collect();
                let t = std::time::Instant::now();
                let mut p = digests.plan(&policies, &mut go, files, &mut unresolved);
                tracing::debug!(
                    holds_ms,
                    plan_ms = t.elapsed().as_secs_f64() * 1e3,
                    "planned"
                );
                // A wish that would move git to a lower tag is written only once a fresh
                // scan has wished that tag again: with several replicas, git may hold
                // a newer tag another one wrote after this one scanned, and
                // `allowDowngrade: true` must not revert it.
                unconfirmed.clear();
                if let Some(confirmed) = &confirmed {
                    // By id (thousands of wishes in one batch at fleet scale).
                    let wished: std::collections::HashMap<_, _> =
                        go.iter().map(|w| (&w.id, &w.tag)).collect();
                    for (id, o) in &p.outcomes {
                        let (Outcome::Updated { from: Some(from) }, Some(tag), Some(pol)) =
                            (o, wished.get(id), policies.get(id))
                        else {
                            continue;
                        };
                        if is_downgrade(pol, from, tag) && confirmed.get(id) != Some(*tag) {
                            unconfirmed.insert(id.clone(), (*tag).clone());
                        }
                    }
                    if !unconfirmed.is_empty() {
                        go.retain(|w| !unconfirmed.contains_key(&w.id));
                        p = digests.plan(&policies, &mut go, files, &mut unresolved);
                    }
                }
                // By id, not a scan of `go` per wish: O(n²) at thousands of wishes.
                let resolved: std::collections::HashMap<_, _> =
                    go.iter().map(|g| (&g.id, &g.index_digest)).collect();
                for w in wishes.iter_mut() {
                    if let Some(d) = resolved.get(&w.id) {
                        w.index_digest.clone_from(d);
                    }
                }
                Ok(p)
            },
            &|p| commit_message(template.as_deref(), p, env!("CARGO_PKG_VERSION")),
        );
        let written = written.inspect_err(|e| {
            if let WriteError::Conflict { attempts, .. } = e {
                self.metrics
                    .push_retries
                    .get_or_create(&GitLabels::of(&self.git))
                    .inc_by(u64::from(attempts.saturating_sub(1)));
            }
        })?;
        self.metrics
            .write_seconds
            .observe(written.took.as_secs_f64());
        self.git_status.update(&self.git, |s| {
            let now = super::status::now_rfc3339();
            s.last_error = None;
            s.last_sync = Some(now.clone());
            if let Some(c) = &written.commit {
                s.last_commit_url = s.link(c);
                s.last_commit = Some(c.clone());
                s.last_push = Some(now);
            }
        });
        let git = GitLabels::of(&self.git);
        // A lost race counts even when the fresh plan found nothing left to do: with
        // several replicas, that is how a loser ends when the winner made its change.
        self.metrics
            .push_retries
            .get_or_create(&git)
            .inc_by(u64::from(written.attempts.saturating_sub(1)));
        match &written.commit {
            Some(c) => {
                self.metrics.commits.get_or_create(&git).inc();
                self.metrics
                    .last_push
                    .get_or_create(&git)
                    .set(crate::metrics::unix_now());
                tracing::info!(commit = %c, branch = %written.branch, attempts = written.attempts,
                    changes = written.plan.changes.len(), "pushed a commit");
            }
            None if written.attempts > 1 => {
                tracing::info!(branch = %written.branch, attempts = written.attempts,
                    "another writer made these changes first; nothing left to commit");
            }
            None => {}
        }
        if let Some(rescan) = &self.rescan {
            for (id, tag) in unconfirmed {
                let Some(p) = policies.get(&id) else { continue };
                tracing::info!(image = %id, wish = %tag,
                    "git holds a newer tag than this wish; confirming the downgrade with a fresh scan first");
                self.rescanned.insert(id, tag);
                self.metrics.stale_wishes.get_or_create(&git).inc();
                rescan(&p.repository.name());
            }
        }
        self.announced.announce(&held, self.notifier.as_ref());
        for q in batch {
            let id = &q.wish.id;
            if let Some(reason) = held.get(id) {
                self.status.decide_in(
                    id,
                    &self.git,
                    Decision::Held {
                        reason: reason.clone(),
                    },
                );
                continue;
            }
            let Some(outcome) = written.plan.outcomes.get(id) else {
                continue;
            };
            let pinned = policies.get(id).and_then(|p| p.pinned.as_deref());
            let decision = outcome.decision(&q.wish, pinned, written.commit.as_deref());
            if let (Decision::Updated { .. }, Some(c)) = (&decision, q.cause) {
                self.metrics
                    .webhook_to_commit
                    .observe(c.elapsed().as_secs_f64());
            }
            if matches!(
                decision,
                Decision::Updated { .. } | Decision::UpToDate { .. }
            ) {
                self.rescanned.remove(id);
            }
            if let (Decision::DowngradeRefused { .. }, Some(rescan)) = (&decision, &self.rescan) {
                // Git holds a higher tag than this wish: most often another writer (a
                // second replica) pushed a newer release after this replica's scan.
                // Only a fresh listing tells that from a real downgrade; until it
                // lands, the refusal stands in the status (what is true right now).
                let again = self.rescanned.get(id) == Some(&q.wish.tag);
                if let (Some(p), false) = (policies.get(id), again) {
                    self.rescanned.insert(id.clone(), q.wish.tag.clone());
                    self.metrics
                        .stale_wishes
                        .get_or_create(&GitLabels::of(&self.git))
                        .inc();
                    tracing::info!(image = %id, wish = %q.wish.tag,
                        "git holds a newer tag than this wish; scanning again");
                    rescan(&p.repository.name());
                }
            }
            if decision.is_failure() {
                // A target that cannot be edited, or does not mention its image, is a
                // failed write: `once` exits 2.
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(image = %id, why = ?decision.why_not_updated(), "cannot edit a target");
            }
            self.status.decide_in(id, &self.git, decision);
        }
        if let (Some(c), Some(t)) = (&written.commit, &self.triggers) {
            let wc = self.wc.as_ref().expect("opened by write");
            t.fire(
                &imagebump_core::trigger::Pushed {
                    repository: self.git.clone(),
                    url: wc.display_url().to_string(),
                    branch: written.branch.clone(),
                    default_branch: self.base_branch.clone(),
                    commit: c.clone(),
                    before: written.before.clone(),
                    message: commit_message(
                        self.template.as_deref(),
                        &written.plan,
                        env!("CARGO_PKG_VERSION"),
                    ),
                    changes: written.plan.changes.clone(),
                },
                std::time::Instant::now(),
            );
        }
        if let (Some(c), Some(n)) = (&written.commit, &self.notifier) {
            n.send(Notice::Commit {
                commit: c.clone(),
                branch: written.branch.clone(),
                changes: written.plan.changes.clone(),
            });
        }
        Ok(written.commit)
    }
}

/// The message of a caught panic.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
