//! Helpers shared by the integration tests: settings, and the caller's retry loop the
//! library leaves to its users (the engine runs the same loop around its planner).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use imagebump_git::{GitAuth, GitConfig, GitError, PushError, Pushed, RetryPolicy, WorkingCopy};

pub fn cfg(url: &str, auth: GitAuth) -> GitConfig {
    GitConfig {
        url: url.to_string(),
        branch: "main".into(),
        push_branch: None,
        author_name: "imagebump".into(),
        author_email: "imagebump@example.invalid".into(),
        auth,
        signer: None,
    }
}

/// A policy with short backoffs, so that races resolve in milliseconds.
pub fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    }
}

/// A push that landed, and after how many attempts (1 = no race).
#[derive(Debug)]
pub struct Landed {
    pub pushed: Pushed,
    pub attempts: u32,
}

/// The retry loop: sync → `edit` (gets the copy and the attempt number, writes files,
/// returns the paths to commit) → commit → push; on [`PushError::Moved`] wait
/// `policy.backoff(attempt)` and start again from a fresh sync. `None` when there was
/// nothing to commit; [`GitError::Conflict`] after `policy.max_attempts` lost races.
pub fn land(
    wc: &mut WorkingCopy,
    policy: RetryPolicy,
    message: &str,
    mut edit: impl FnMut(&mut WorkingCopy, u32) -> Result<Vec<PathBuf>, GitError>,
) -> Result<Option<Landed>, GitError> {
    let max = policy.max_attempts.max(1);
    for attempt in 1..=max {
        let base = wc.sync()?;
        let paths = edit(wc, attempt)?;
        let Some(commit) = wc.commit(&base, &paths, message)? else {
            return Ok(None);
        };
        assert_eq!(commit.base(), &base);
        match wc.push(&commit) {
            Ok(pushed) => {
                return Ok(Some(Landed {
                    pushed,
                    attempts: attempt,
                }))
            }
            Err(PushError::Moved { .. }) if attempt < max => {
                std::thread::sleep(policy.backoff(attempt))
            }
            Err(PushError::Moved { .. }) => break,
            Err(PushError::Failed(e)) => return Err(e),
        }
    }
    Err(GitError::Conflict {
        url: wc.display_url().to_string(),
        branch: wc.push_branch().to_string(),
        attempts: max,
    })
}

/// [`land`] with an edit that writes one file.
pub fn land_file(
    wc: &mut WorkingCopy,
    path: &str,
    text: &str,
    message: &str,
) -> Result<Option<Landed>, GitError> {
    land(wc, fast_retry(5), message, |wc, _| {
        wc.write_file(Path::new(path), text)?;
        Ok(vec![PathBuf::from(path)])
    })
}
