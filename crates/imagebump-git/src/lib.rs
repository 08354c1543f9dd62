//! The persistent git working copy imagebump writes through (libgit2 via `git2`).
//!
//! One non-bare clone per (repository URL, branch) lives under the state directory and is
//! reused across writes and restarts. A change goes through four primitives:
//! [`WorkingCopy::sync`] fetches and brings the copy to the remote tip (incrementally when
//! the copy is known to match a commit), the caller edits files
//! ([`WorkingCopy::write_file`]), [`WorkingCopy::commit`] stages exactly the listed paths on
//! that [`Base`], and [`WorkingCopy::push`] pushes the [`LocalCommit`] as a compare-and-swap
//! of the remote branch. When someone else pushed in between, the push fails with
//! [`PushError::Moved`] and nothing is lost on either side; the caller syncs, rebuilds its
//! edit on the fresh files and tries again, waiting [`RetryPolicy::backoff`] in between.
//! The retry loop is the caller's: only it knows how to redo its edit.
//!
//! The API is blocking (libgit2 is): async callers run it in `spawn_blocking` or on a
//! dedicated thread, one writer per copy.
//!
//! # Architecture invariant
//! - Never force-push: every push is a compare-and-swap against the base it was built on,
//!   on every transport (`file://` included, where libgit2's own push is not). The one
//!   exception is a separate push branch rebuilt on the base branch: a force-with-lease
//!   (still a compare-and-swap), and only over commits imagebump made.
//! - Never log or store a URL with credentials: user info is moved out of the URL before
//!   libgit2 or the file system sees it, and error messages are scrubbed.
//! - One process per copy: `open` holds an advisory lock on it (a second process waits
//!   up to [`LOCK_WAIT`], then fails naming the holder's pid).
//! - A crash at any point leaves a copy that [`WorkingCopy::open`] repairs (stale locks,
//!   interrupted operations, half-written files or index, half-made clones).
//! - Knows nothing about plans, policies or images: paths, texts and commits only.
//!
//! # Public surface
//! - [`WorkingCopy`]: `open`, `root`, `display_url`, `push_branch`, `set_push_branch`,
//!   `set_fresh_push_branch`, `push_branch_messages`, `sync`, `write_file`, `commit`, `push`, `head_file`, `file_history`/`files_history` (a path's recent versions, with
//!   imagebump's own commits and release trailers recognised).
//! - Values: [`GitConfig`], [`GitAuth`], [`Base`], [`LocalCommit`], [`Pushed`],
//!   [`RetryPolicy`] (with `backoff`).
//! - [`GitCredentialSource`]: HTTP(S) credentials asked before each fetch and push
//!   ([`GitAuth::UserPassFrom`]), so a rotated password needs no reopen.
//! - Errors: [`GitError`] (with `is_transient`), [`PushError`] (`Moved` or `Failed`).
//! - Helpers: [`safe_join`] (path safety), [`redact_url`], [`yaml_files`] and
//!   [`write_atomically`].
//!
//! # Modules
//! `url` (URLs and their credentials), `paths` (path safety), `files` (file walk, atomic
//! writes), `known_hosts` (SSH host keys), `libgit2` (global options), `lock` (one process per copy), `auth` (credentials,
//! callbacks, message scrubbing), `error`, `retry` (backoff), `copy` (open, recover,
//! compact, write), `sign` (the commit-signing hook; `SshSigner`, `OpenPgpSigner`), `sync` (fetch, incremental update or reset), `rebuild` (the push branch on the base
//! branch's tip), `branch` (choosing, restarting and reading the push branch), `history` (a file's recent versions), `push` (commit, push).

#![warn(missing_docs)]

mod auth;
mod branch;
mod copy;
mod error;
mod files;
mod history;
mod known_hosts;
mod libgit2;
mod lock;
mod paths;
mod push;
mod rebuild;
mod retry;
mod sign;
mod sync;
mod tree_edit;
mod url;

pub use auth::{GitAuth, GitCredentialSource};
pub use branch::BRANCH_COMMITS_LIMIT;
pub use copy::{GitConfig, WorkingCopy};
pub use error::GitError;
pub use files::{is_yaml_or_json, write_atomically, yaml_files};
pub use history::{FileVersion, HISTORY_WALK_LIMIT, RELEASE_TRAILER};
pub use lock::LOCK_WAIT;
pub use paths::safe_join;
pub use push::{LocalCommit, PushError, Pushed};
pub use rebuild::TRAILER;
pub use retry::RetryPolicy;
pub use sign::{CommitSigner, OpenPgpSigner, SignKeyError, SshSigner};
pub use sync::{Base, SyncKind};
pub use url::redact_url;
