//! The errors of the working copy. Messages never carry a secret: URLs are shown without
//! their user info and libgit2 messages are scrubbed before they become a [`GitError`].

use std::path::PathBuf;

use git2::{ErrorClass, ErrorCode};

use crate::auth::scrub;

/// Errors of the working copy, one line each, naming the URL or path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// A setting cannot work (empty URL, invalid branch name, bad author).
    #[error("invalid git settings: {0}")]
    Config(String),
    /// The server refused the credentials (or asked for a kind we do not have).
    #[error("authentication to {url} failed: {detail}")]
    Auth {
        /// The repository URL, without credentials.
        url: String,
        /// What was refused, scrubbed of secrets.
        detail: String,
    },
    /// The SSH server's host key is not in the configured `known_hosts`.
    #[error("SSH host key of {url} not trusted: {detail}")]
    HostKey {
        /// The repository URL, without credentials.
        url: String,
        /// Which key, for which host name, in which file.
        detail: String,
    },
    /// The branch to read from does not exist on the remote.
    #[error("branch {branch} not found at {url}")]
    BranchNotFound {
        /// The repository URL, without credentials.
        url: String,
        /// The missing branch.
        branch: String,
    },
    /// A path to write or stage leaves the repository (see [`crate::safe_join`]).
    #[error("path {} is outside the repository: {reason}", path.display())]
    PathOutsideRepo {
        /// The path as given.
        path: PathBuf,
        /// How it leaves the repository.
        reason: String,
    },
    /// A path to stage is not a file (a directory, say): list files.
    #[error("path {} cannot be staged: {reason}", path.display())]
    NotAFile {
        /// The path as given.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// [`WorkingCopy::commit`](crate::WorkingCopy::commit) was given a base the copy is
    /// not at (an older `sync`, or a commit was made on it since): sync again.
    #[error("the working copy of {url} is not at base {base}: sync first")]
    NotAtBase {
        /// The repository URL, without credentials.
        url: String,
        /// The base commit given (hex).
        base: String,
    },
    /// The server refused the push for a reason other than a moved branch (a hook, a
    /// protected branch): retrying will not help.
    #[error("push of {refname} to {url} rejected by the server: {reason}")]
    Rejected {
        /// The repository URL, without credentials.
        url: String,
        /// The remote ref refused (`refs/heads/…`).
        refname: String,
        /// The server's message, scrubbed of secrets.
        reason: String,
    },
    /// For callers' retry loops: the branch kept moving for `attempts` pushes.
    #[error("push to {branch} at {url} still conflicted after {attempts} attempts")]
    Conflict {
        /// The repository URL, without credentials.
        url: String,
        /// The branch pushed to.
        branch: String,
        /// How many pushes were tried.
        attempts: u32,
    },
    /// Any other libgit2 failure (network, corrupt objects, locks).
    #[error("git {op} ({url}): {message}")]
    Git {
        /// The operation (`fetch`, `push`, `reset`, …).
        op: &'static str,
        /// The repository URL, without credentials.
        url: String,
        /// libgit2's message, scrubbed of secrets.
        message: String,
        /// libgit2's error code.
        code: ErrorCode,
        /// libgit2's error class.
        class: ErrorClass,
    },
    /// The push branch holds a commit imagebump did not make: it is never replaced, and
    /// nothing is written until someone removes it (or merges it into the base branch).
    #[error("push branch {branch} at {url} holds commit {commit} ({subject:?}) that imagebump did not make ({why}): not replacing it; remove it from {branch} or merge it into the base branch")]
    ForeignCommit {
        /// The repository URL, without credentials.
        url: String,
        /// The push branch.
        branch: String,
        /// The foreign commit (hex).
        commit: String,
        /// Its subject line.
        subject: String,
        /// What makes it foreign.
        why: String,
    },
    /// Another process holds the working copy (see `WorkingCopy::open`).
    #[error("the working copy is in use by {holder} (lock {}); waited {}s: let the other imagebump process finish, or give this one its own state directory (--state-dir, stateDir)", lock.display(), waited.as_secs_f64())]
    Busy {
        /// The lock file.
        lock: PathBuf,
        /// Who holds it (`pid N`).
        holder: String,
        /// How long this process waited.
        waited: std::time::Duration,
    },
    /// The commit signer failed ([`CommitSigner`](crate::CommitSigner)): nothing was
    /// committed. Its reason is one line, without key material.
    #[error("signing a commit for {url} failed: {reason}")]
    Sign {
        /// The repository URL, without credentials.
        url: String,
        /// The signer's words.
        reason: String,
    },
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl GitError {
    /// Worth retrying later (network trouble, a conflict storm), as opposed to a setting,
    /// a credential or a server policy that will fail again.
    pub fn is_transient(&self) -> bool {
        match self {
            GitError::Conflict { .. } => true,
            GitError::Git { class, code, .. } => {
                matches!(
                    class,
                    ErrorClass::Net | ErrorClass::Http | ErrorClass::Ssh | ErrorClass::Os
                ) || *code == ErrorCode::Locked
            }
            _ => false,
        }
    }
}

/// `map_err` helper for I/O errors: `.map_err(io_err("what we were doing"))`.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> GitError {
    let context = context.into();
    move |source| GitError::Io { context, source }
}

/// A libgit2 error as a [`GitError::Git`], its message scrubbed of `secret` and user info.
pub(crate) fn git_err(
    op: &'static str,
    url: &str,
    e: git2::Error,
    secret: Option<&str>,
) -> GitError {
    GitError::Git {
        op,
        url: url.to_string(),
        message: scrub(e.message(), secret),
        code: e.code(),
        class: e.class(),
    }
}
