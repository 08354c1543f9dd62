//! The one write path: plan → apply → commit → push, with the retry loop.
//!
//! Every command that changes a GitOps repository — the service's writers, `once`,
//! `set-image --git` — goes through [`write`]. The working copy only offers primitives
//! (sync to the remote tip, write a file, commit listed paths, push as a compare-and-swap
//! of the remote ref); the loop lives here. When someone else's commit landed first
//! (`PushError::Moved`), the copy syncs to the new tip, the plan is made again on the
//! fresh files — it may now need fewer changes, or none — and the push is retried after a
//! jittered backoff, up to the retry bound. Data flows one way: the working copy never
//! calls back into planning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use imagebump_core::decision::WaitReason;
use imagebump_core::plan::Plan;
use imagebump_git::{GitError, PushError, RetryPolicy, WorkingCopy};

use super::files::Tree;

/// What a write did.
#[derive(Debug, Clone)]
pub struct Written {
    /// The plan of the attempt that landed (or found nothing to do).
    pub plan: Plan,
    /// The pushed commit, `None` when the files already held everything.
    pub commit: Option<String>,
    /// The branch written to.
    pub branch: String,
    /// What the pushed branch pointed at before the push (`None`: the push created it,
    /// or nothing was pushed); deploy triggers' `before`.
    pub before: Option<String>,
    /// Push attempts (1 = no race).
    pub attempts: u32,
    /// How long the whole write took.
    pub took: Duration,
}

/// How long `reason` asks to wait.
pub fn wait_time(reason: &WaitReason) -> Duration {
    match reason {
        WaitReason::PushRace { retry_in, .. } => *retry_in,
    }
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The working copy failed (fetch, commit, a push the server refused, auth…).
    #[error(transparent)]
    Git(#[from] GitError),
    /// Other pushes kept landing first.
    #[error("push to {branch} at {url} still conflicted after {attempts} attempts: {last}")]
    Conflict {
        /// The repository, without credentials.
        url: String,
        /// The branch.
        branch: String,
        /// Attempts made.
        attempts: u32,
        /// The last reason given.
        last: String,
    },
    /// The plan could not be made (a refused edit, a missing path); nothing was written.
    #[error("{0}")]
    Plan(String),
    /// The forge's API failed (pull-request mode); when it rate-limited, how long it
    /// asked to wait before the next call.
    #[error("{error}")]
    Forge {
        /// The forge's words (never the token).
        error: String,
        /// The forge's rate-limit wait.
        retry_after: Option<std::time::Duration>,
    },
    /// Shutting down: the retry was abandoned (nothing was lost; the wish stays queued).
    #[error("stopped while waiting to retry a push to {branch}")]
    Stopped {
        /// The branch.
        branch: String,
    },
}

/// Writes what `planner` plans, committing with the message `message` builds from the
/// plan, and retries a push race per `retry` (jittered backoff, at most
/// `retry.max_attempts` pushes). `wait` is told why and how long to wait before each
/// retry ([`WaitReason::PushRace`], for the status), waits, and returns false when the
/// caller is shutting down. `planner` also gets the synced copy, to read history
/// (manual changes) at the base it plans on.
pub fn write(
    wc: &mut WorkingCopy,
    retry: &RetryPolicy,
    wait: &dyn Fn(&WaitReason) -> bool,
    planner: &mut dyn FnMut(&Tree<'_>, &WorkingCopy) -> Result<Plan, String>,
    message: &dyn Fn(&Plan) -> String,
) -> Result<Written, WriteError> {
    let started = Instant::now();
    let max = retry.max_attempts.max(1);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let base = wc.sync()?;
        let plan = planner(&Tree(wc.root()), wc).map_err(WriteError::Plan)?;
        let paths = apply(wc, &plan)?;
        let Some(commit) = wc.commit_with(&base, &paths, &message(&plan), plan.allow_empty)? else {
            return Ok(Written {
                plan,
                commit: None,
                branch: wc.push_branch().to_string(),
                before: None,
                attempts: attempt,
                took: started.elapsed(),
            });
        };
        let before = commit.base().pushed_over();
        match wc.push(&commit) {
            Ok(pushed) => {
                return Ok(Written {
                    plan,
                    commit: Some(pushed.commit),
                    branch: pushed.branch,
                    before,
                    attempts: attempt,
                    took: started.elapsed(),
                })
            }
            Err(PushError::Moved { reason }) => {
                tracing::info!(url = %wc.display_url(), branch = %wc.push_branch(), attempt,
                    %reason, "another commit landed first; planning again on the new tip");
                if attempt >= max {
                    return Err(WriteError::Conflict {
                        url: wc.display_url().to_string(),
                        branch: wc.push_branch().to_string(),
                        attempts: attempt,
                        last: reason,
                    });
                }
                let reason = WaitReason::PushRace {
                    branch: wc.push_branch().to_string(),
                    attempt,
                    max_attempts: max,
                    retry_in: retry.backoff(attempt),
                };
                if !wait(&reason) {
                    return Err(WriteError::Stopped {
                        branch: wc.push_branch().to_string(),
                    });
                }
            }
            Err(PushError::Failed(e)) => return Err(e.into()),
        }
    }
}

/// Writes the plan's files; returns the paths to commit. A target that is a symlink inside
/// the repository is written (and committed) as the file it points to; when the plan also
/// edits that file under its own name with a different result, the two edits would
/// overwrite each other, so the write is refused instead.
fn apply(wc: &mut WorkingCopy, plan: &Plan) -> Result<Vec<PathBuf>, WriteError> {
    let mut written: BTreeMap<PathBuf, (&Path, &str)> = BTreeMap::new();
    for (rel, (_, new)) in &plan.files {
        let real = wc.write_file(rel, new)?;
        if let Some((other, text)) = written.get(&real) {
            if *text != new.as_str() {
                return Err(WriteError::Plan(format!(
                    "{} and {} are the same file (a symlink) and would be edited differently; target only one of them",
                    other.display(),
                    rel.display()
                )));
            }
        }
        written.insert(real, (rel.as_path(), new.as_str()));
    }
    Ok(written.into_keys().collect())
}

#[cfg(test)]
mod tests {
    /// The git crate recognises imagebump's commits on a push branch by the trailer the
    /// core writes; the two constants must agree.
    #[test]
    fn the_git_crate_recognises_the_core_trailer() {
        assert_eq!(imagebump_git::TRAILER, imagebump_core::message::TRAILER);
        assert_eq!(
            imagebump_git::RELEASE_TRAILER,
            imagebump_core::message::RELEASE_TRAILER
        );
    }
}
