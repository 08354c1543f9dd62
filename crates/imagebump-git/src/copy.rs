//! The working copy itself: where it lives, how `open` clones, reuses or repairs it, the
//! pack compaction, and writing files into it.
//!
//! One persistent, non-bare working copy per (repository URL, branch) lives under the
//! state directory, in `<state_dir>/git/<name>-<hash>`, where the hash covers the URL
//! (without any password) and the branch: credentials never reach the file system path,
//! the remote configuration or a log line.
//!
//! A `WorkingCopy` is the only writer of its directory: within a process the caller keeps
//! one writer per repository, and across processes `open` takes an advisory lock on the
//! copy (`crate::lock`) before anything else, waiting up to [`LOCK_WAIT`](crate::LOCK_WAIT)
//! for another holder. Only then may [`WorkingCopy::open`] treat any `*.lock` file it finds
//! as left over from a crash and remove it.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use git2::{build::CheckoutBuilder, Oid, Repository};
use sha2::{Digest, Sha256};

use crate::auth::GitAuth;
use crate::error::{git_err, io_err, GitError};
use crate::files::write_atomically;
use crate::lock::{lock_copy, lock_path, CopyLock, LOCK_WAIT};
use crate::paths::safe_join;
use crate::url::{is_local_url, redact_url, strip_credentials};

/// Where and as whom to write.
#[derive(Clone)]
pub struct GitConfig {
    /// `file://`, `http(s)://` or `ssh://` URL (scp-like `user@host:path` works too).
    /// Credentials in an http(s) URL are used (when `auth` is `None`) but never stored.
    pub url: String,
    /// The branch to read from and (by default) push to.
    pub branch: String,
    /// Push to this branch instead (like a pull-request branch). It is always `branch`'s
    /// tip plus imagebump's own commits: when `branch` moves on, those commits are
    /// replayed onto its new tip and the push branch is replaced with a force-with-lease;
    /// a commit on it that imagebump did not make (author + `Imagebump-Version` trailer)
    /// stops writing with [`GitError::ForeignCommit`].
    pub push_branch: Option<String>,
    /// The commits' author and committer name.
    pub author_name: String,
    /// The commits' author and committer e-mail.
    pub author_email: String,
    /// How to authenticate to the server.
    pub auth: GitAuth,
    /// Signs every commit made through this copy (`None`: unsigned).
    pub signer: Option<std::sync::Arc<dyn crate::CommitSigner>>,
}

impl fmt::Debug for GitConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitConfig")
            .field("url", &redact_url(&self.url))
            .field("branch", &self.branch)
            .field("push_branch", &self.push_branch)
            .field("author_name", &self.author_name)
            .field("author_email", &self.author_email)
            .field("auth", &self.auth)
            .field("signed", &self.signer.is_some())
            .finish()
    }
}

/// Pack files in a copy before [`WorkingCopy`] re-clones it to compact it.
const MAX_PACKS: usize = 128;

/// A persistent working copy of one branch of one repository.
///
/// The copy offers primitives: [`sync`](Self::sync) to the remote tip, edit files,
/// [`commit`](Self::commit) the listed paths on that base, [`push`](Self::push) it as a
/// compare-and-swap. When the push finds the branch moved, the caller syncs and rebuilds
/// its edit (see [`RetryPolicy`](crate::RetryPolicy) for the backoff).
pub struct WorkingCopy {
    pub(crate) repo: Repository,
    pub(crate) root: PathBuf,
    /// URL given to libgit2 (http(s) user info moved into `auth`).
    pub(crate) remote_url: String,
    /// URL for logs and errors.
    pub(crate) display_url: String,
    pub(crate) branch: String,
    pub(crate) push_branch: String,
    /// Build the next base on the branch tip alone, dropping imagebump's commits on the
    /// push branch (see [`WorkingCopy::set_fresh_push_branch`]).
    pub(crate) fresh_push: bool,
    pub(crate) author_name: String,
    pub(crate) author_email: String,
    pub(crate) auth: GitAuth,
    /// The commit that the local branch (HEAD), the index and the working tree are known to
    /// match (the tree only up to what the caller wrote since, see `touched`). `None` when
    /// that is not known (after open, after a failed or partial step): the next sync then
    /// does the full reset, which also deletes untracked and ignored files.
    pub(crate) clean_at: Option<Oid>,
    /// The trailing checksum of the index file as this copy last wrote it, beside
    /// `clean_at`: an index with another checksum was written by someone else and is not
    /// trusted. (Comparing the index's tree with HEAD's would read every tree.)
    pub(crate) index_written: Option<Vec<u8>>,
    /// What the last sync had to do (for callers and tests that check the fast path).
    pub(crate) last_sync: Option<crate::sync::SyncKind>,
    /// The caller may have written to the tree since it was last checked: the next sync
    /// scans it (against the index's stat cache) for changes nobody committed before
    /// trusting `clean_at`.
    pub(crate) touched: bool,
    /// What `open` was given, to re-clone when the copy needs compacting.
    pub(crate) config: GitConfig,
    /// Held while the copy is open: no other process works in it meanwhile.
    _lock: Arc<CopyLock>,
}

impl fmt::Debug for WorkingCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkingCopy")
            .field("root", &self.root)
            .field("url", &self.display_url)
            .field("branch", &self.branch)
            .field("push_branch", &self.push_branch)
            .finish_non_exhaustive()
    }
}

impl WorkingCopy {
    /// Clone the repository under `state_dir` or reuse the existing copy, then bring it to
    /// the remote head of the branch. Recovers from a crash: stale `*.lock` files,
    /// a merge/rebase in progress, a dirty or half-written tree, a half-made clone
    /// (missing HEAD, unreadable index) or an unusable copy (re-cloned).
    pub fn open(state_dir: &Path, cfg: GitConfig) -> Result<WorkingCopy, GitError> {
        crate::libgit2::init();
        if cfg.url.trim().is_empty() {
            return Err(GitError::Config("git url is empty".into()));
        }
        for b in std::iter::once(&cfg.branch).chain(cfg.push_branch.iter()) {
            if !git2::Reference::is_valid_name(&format!("refs/heads/{b}")) {
                return Err(GitError::Config(format!("invalid branch name {b:?}")));
            }
        }
        // Credentials in an http(s) URL move into `auth`, so that they are not written to
        // .git/config.
        let (remote_url, url_creds) = strip_credentials(&cfg.url);
        let auth = match (&cfg.auth, url_creds) {
            (GitAuth::None, Some((username, password))) => GitAuth::UserPass { username, password },
            (a, _) => a.clone(),
        };
        let display_url = redact_url(&remote_url);
        let push_branch = cfg
            .push_branch
            .clone()
            .unwrap_or_else(|| cfg.branch.clone());
        let base = state_dir.join("git");
        fs::create_dir_all(&base).map_err(io_err(format!("create {}", base.display())))?;
        let name = copy_dir_name(&remote_url, &cfg.branch);
        let root = base.join(&name);
        // Before touching anything (temp clones, `*.lock` files): they may be another
        // process's, live.
        let lock = Arc::new(lock_copy(&lock_path(state_dir, &name)?, LOCK_WAIT)?);
        remove_leftover_temp_clones(&base, &name);

        let make = |repo: Repository| WorkingCopy {
            repo,
            root: root.clone(),
            remote_url: remote_url.clone(),
            display_url: display_url.clone(),
            branch: cfg.branch.clone(),
            push_branch: push_branch.clone(),
            fresh_push: false,
            author_name: cfg.author_name.clone(),
            author_email: cfg.author_email.clone(),
            auth: auth.clone(),
            clean_at: None,
            index_written: None,
            last_sync: None,
            touched: true,
            config: cfg.clone(),
            _lock: lock.clone(),
        };
        if root.exists() {
            let git_dir = root.join(".git");
            let removed = remove_stale_locks(&git_dir);
            if removed > 0 {
                tracing::warn!(dir = %root.display(), removed, "removed stale lock files");
            }
            let outcome = match Repository::open(&root) {
                Ok(repo) if !repo.is_bare() => {
                    let mut wc = make(repo);
                    wc.recover().map(|()| wc)
                }
                Ok(_) => Err(GitError::Config("working copy is bare".into())),
                Err(e) => Err(git_err("open", &display_url, e, None)),
            };
            match outcome {
                Ok(wc) => return Ok(wc),
                Err(e) if e.is_transient() || matches!(e, GitError::Auth { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(url = %display_url, dir = %root.display(), error = %e,
                        "working copy unusable, cloning again");
                    fs::remove_dir_all(&root)
                        .map_err(io_err(format!("remove {}", root.display())))?;
                }
            }
        }
        // Clone into a temporary sibling, then rename: a crash leaves only a temp dir.
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{name}.tmp-"))
            .tempdir_in(&base)
            .map_err(io_err("create a temporary clone directory"))?;
        tracing::info!(url = %display_url, branch = %cfg.branch, dir = %root.display(), "cloning");
        let started = Instant::now();
        let repo = if is_local_url(&remote_url) {
            // libgit2 would build a pack to "send" over file:// (very slow for big
            // repositories); a local clone copies or hard-links the objects instead.
            let mut co = CheckoutBuilder::new();
            co.dry_run(); // the reset below checks out the right branch
            git2::build::RepoBuilder::new()
                .clone_local(git2::build::CloneLocal::Local)
                .with_checkout(co)
                .clone(&remote_url, tmp.path())
                .map_err(|e| git_err("clone", &display_url, e, None))?
        } else {
            Repository::init(tmp.path()).map_err(|e| git_err("init", &display_url, e, None))?
        };
        let mut wc = make(repo);
        wc.ensure_origin()?;
        let tips = wc.fetch()?;
        let head = wc.base_of(tips)?; // fails (leaving nothing behind) when the branch is missing
        let tmp_path = tmp.keep();
        fs::rename(&tmp_path, &root).map_err(io_err(format!(
            "rename {} to {}",
            tmp_path.display(),
            root.display()
        )))?;
        wc.repo = Repository::open(&root).map_err(|e| wc.git_err("open", e))?;
        // A fresh clone holds no stray files: no need to look for untracked ones.
        wc.reset_to(head.oid, false)?;
        tracing::info!(url = %display_url, elapsed_ms = started.elapsed().as_millis() as u64, "cloned");
        Ok(wc)
    }

    /// The working tree root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The repository URL without credentials.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// The branch commits are pushed to (`push_branch`, else `branch`).
    pub fn push_branch(&self) -> &str {
        &self.push_branch
    }

    /// Write `text` to `rel` (relative to the root, checked with
    /// [`safe_join`](crate::safe_join); missing directories are created) atomically: a
    /// crash leaves the old file or the new one. The next [`sync`](Self::sync) undoes the
    /// write unless it was committed (and pushed).
    ///
    /// Returns the path written, relative to the root: `rel`, or — when `rel` is a symlink
    /// to a file inside the repository — the file it resolves to, which is what to
    /// [`commit`](Self::commit). A link is never replaced by a file; a link out of the
    /// repository, into `.git`, to a directory or to nothing is refused
    /// ([`GitError::PathOutsideRepo`] / [`GitError::NotAFile`]).
    pub fn write_file(&mut self, rel: &Path, text: &str) -> Result<PathBuf, GitError> {
        let mut full = safe_join(&self.root, rel)?;
        let mut written = rel.to_path_buf();
        let is_link = fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            written = self.link_target(rel, &full)?;
            full = safe_join(&self.root, &written)?;
        }
        // Set before writing: a failed write may still have changed the tree.
        self.touched = true;
        if let Some(dir) = full.parent() {
            fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        }
        write_atomically(&full, text).map_err(io_err(format!("write {}", rel.display())))?;
        Ok(written)
    }

    /// Where the symlink `rel` (at `full`) leads, relative to the root; refused unless it
    /// is a regular file inside the repository, outside `.git`.
    fn link_target(&self, rel: &Path, full: &Path) -> Result<PathBuf, GitError> {
        let outside = |reason: &str| GitError::PathOutsideRepo {
            path: rel.to_path_buf(),
            reason: reason.to_string(),
        };
        let canon_root = self
            .root
            .canonicalize()
            .map_err(io_err(format!("resolve {}", self.root.display())))?;
        let Ok(target) = full.canonicalize() else {
            return Err(GitError::NotAFile {
                path: rel.to_path_buf(),
                reason: "a symlink to nothing (dangling); refusing to replace the link".into(),
            });
        };
        let Ok(inside) = target.strip_prefix(&canon_root) else {
            return Err(outside("is a symlink that leaves the repository"));
        };
        if inside
            .components()
            .next()
            .is_some_and(|c| c.as_os_str().eq_ignore_ascii_case(".git"))
        {
            return Err(outside("is a symlink into .git"));
        }
        if !target.is_file() {
            return Err(GitError::NotAFile {
                path: rel.to_path_buf(),
                reason: format!("a symlink to {}, which is not a file", inside.display()),
            });
        }
        tracing::debug!(link = %rel.display(), target = %inside.display(), "writing through a symlink");
        Ok(inside.to_path_buf())
    }

    /// libgit2 cannot repack: every fetch that downloads something adds a pack file, and
    /// lookups slow down as they pile up. Past [`MAX_PACKS`], swap in a fresh clone (made
    /// next to the copy; the copy is only replaced once the clone is complete).
    pub(crate) fn maybe_compact(&mut self) -> Result<(), GitError> {
        let packs = fs::read_dir(self.repo.path().join("objects/pack"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                    .count()
            })
            .unwrap_or(0);
        if packs <= MAX_PACKS {
            return Ok(());
        }
        tracing::info!(url = %self.display_url, packs, "compacting the working copy by cloning it again");
        let name = self
            .root
            .file_name()
            .expect("copy dir has a name")
            .to_string_lossy()
            .to_string();
        let parent = self
            .root
            .parent()
            .expect("copy dir has a parent")
            .to_path_buf();
        // Both names start like a temp clone: whatever a crash leaves here, `open` removes.
        let staging = parent.join(format!("{name}.tmp-compact"));
        let old = parent.join(format!("{name}.tmp-old"));
        let _ = fs::remove_dir_all(&staging);
        let _ = fs::remove_dir_all(&old);
        // Clone next to the copy; on failure the current copy stays as it is.
        let fresh_root = WorkingCopy::open(&staging, self.config.clone())?.root;
        fs::rename(&self.root, &old).map_err(io_err("move the old copy aside"))?;
        fs::rename(&fresh_root, &self.root).map_err(io_err("move the new copy in place"))?;
        self.repo = Repository::open(&self.root).map_err(|e| self.git_err("open", e))?;
        self.clean_at = None;
        let _ = fs::remove_dir_all(&old);
        let _ = fs::remove_dir_all(&staging);
        Ok(())
    }

    /// Drops libgit2's in-memory caches of this copy by opening the repository afresh:
    /// the delta-base cache of each pack (up to 16 MB per pack, a libgit2 constant) and
    /// the parsed objects. Index, working tree and refs are on disk; nothing is lost,
    /// and the next operation reads what it needs again.
    pub fn release_caches(&mut self) -> Result<(), GitError> {
        self.repo = Repository::open(&self.root).map_err(|e| self.git_err("open", e))?;
        Ok(())
    }

    pub(crate) fn git_err(&self, op: &'static str, e: git2::Error) -> GitError {
        git_err(op, &self.display_url, e, self.auth.secret().as_deref())
    }

    /// Bring a reopened copy back to a clean state at the remote head.
    fn recover(&mut self) -> Result<(), GitError> {
        let state = self.repo.state();
        if state != git2::RepositoryState::Clean {
            tracing::warn!(dir = %self.root.display(), ?state, "aborting an interrupted operation");
            self.repo
                .cleanup_state()
                .map_err(|e| self.git_err("cleanup", e))?;
        }
        // A half-written index: drop it, the reset rebuilds it.
        if self.repo.index().and_then(|mut i| i.read(true)).is_err() {
            let _ = fs::remove_file(self.repo.path().join("index"));
        }
        self.ensure_origin()?;
        self.clean_at = None;
        self.sync_tree()?;
        Ok(())
    }

    fn ensure_origin(&self) -> Result<(), GitError> {
        match self.repo.find_remote("origin") {
            Ok(r) if r.url_bytes() == self.remote_url.as_bytes() => {}
            Ok(_) => self
                .repo
                .remote_set_url("origin", &self.remote_url)
                .map_err(|e| self.git_err("configure", e))?,
            Err(_) => {
                self.repo
                    .remote("origin", &self.remote_url)
                    .map_err(|e| self.git_err("configure", e))?;
            }
        }
        let mut cfg = self
            .repo
            .config()
            .map_err(|e| self.git_err("configure", e))?;
        // Files must be byte-exact whatever the host's global git config says.
        cfg.set_bool("core.autocrlf", false)
            .and_then(|_| cfg.set_str("core.eol", "lf"))
            .map_err(|e| self.git_err("configure", e))?;
        Ok(())
    }
}

/// Directory name for (url, branch): a readable slug plus a hash; no credentials.
fn copy_dir_name(url_without_password: &str, branch: &str) -> String {
    let mut h = Sha256::new();
    h.update(url_without_password.as_bytes());
    h.update(b"\n");
    h.update(branch.as_bytes());
    let digest = h.finalize();
    let hash = hex::encode(&digest[..12]);
    let last = redact_url(url_without_password)
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .trim_end_matches(".git")
        .to_string();
    let slug: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let slug = if slug.is_empty() { "repo".into() } else { slug };
    format!("{slug}-{hash}")
}

/// `*.lock` files in `.git` (index, HEAD, config, refs): with the copy's lock held (a
/// single writer), any that exists when the copy is opened was left by a crash.
fn remove_stale_locks(git_dir: &Path) -> usize {
    let mut removed = 0;
    for name in [
        "index.lock",
        "HEAD.lock",
        "config.lock",
        "packed-refs.lock",
        "shallow.lock",
    ] {
        if fs::remove_file(git_dir.join(name)).is_ok() {
            removed += 1;
        }
    }
    let mut stack = vec![git_dir.join("refs")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for entry in rd.flatten() {
            let p = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(_)
                    if p.extension().is_some_and(|e| e == "lock")
                        && fs::remove_file(&p).is_ok() =>
                {
                    removed += 1;
                }
                _ => {}
            }
        }
    }
    removed
}

fn remove_leftover_temp_clones(base: &Path, name: &str) {
    let prefix = format!("{name}.tmp-");
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                tracing::warn!(dir = %e.path().display(), "removing a half-made clone");
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_redacts_secrets() {
        let cfg = GitConfig {
            url: "https://me:hunter22@h/x.git".into(),
            branch: "main".into(),
            push_branch: None,
            author_name: "a".into(),
            author_email: "a@b".into(),
            auth: GitAuth::UserPass {
                username: "me".into(),
                password: "hunter22".into(),
            },
            signer: None,
        };
        let s = format!("{cfg:?}");
        assert!(!s.contains("hunter22"), "{s}");
    }

    #[test]
    fn dir_name_has_no_credentials_and_depends_on_branch() {
        let a = copy_dir_name("https://h/org/fleet.git", "main");
        let b = copy_dir_name("https://h/org/fleet.git", "prod");
        assert_ne!(a, b);
        assert!(a.starts_with("fleet-"), "{a}");
    }
}
