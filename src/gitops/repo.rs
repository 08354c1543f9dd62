//! The git working copy imagebump writes through (libgit2 via `git2`).
//!
//! One persistent, non-bare working copy per (repository URL, branch) lives under the
//! state directory, in `<state_dir>/git/<name>-<hash>`, where the hash covers the URL
//! (without any password) and the branch: credentials never reach the file system path,
//! the remote configuration or a log line.
//!
//! Every write starts from the remote truth: [`WorkingCopy::commit_and_push`] fetches, resets
//! hard to the remote branch head, lets the caller edit the files, commits only the paths
//! the caller lists, and pushes without force. When another writer got in first (a
//! non-fast-forward rejection), it fetches again, resets, re-runs the edit on the fresh
//! files and retries with a jittered backoff, a bounded number of times.
//!
//! The reset is incremental when it can be: after a full reset or a commit, the copy knows
//! which commit its HEAD, index and files match. The next write then fetches and checks out
//! only the paths that differ between that commit and the remote head (a tree-to-tree
//! diff), instead of resetting and scanning the whole tree; an edit whose push failed is
//! undone the same way, since our local commit differs from the remote head at its paths.
//! Changes `apply` made without listing them (and untracked or ignored files) are looked
//! for with a status scan against the index stat cache, run while the push waits on the
//! server; any found, any error or any mismatch after the update means the full reset.
//!
//! The API is blocking (libgit2 is): async callers run it in `spawn_blocking` or on a
//! dedicated thread. A `WorkingCopy` assumes it is the only writer of its directory (the
//! engine keeps one writer per repository); that is why [`WorkingCopy::open`] may treat any
//! `*.lock` file it finds as left over from a crash and remove it.
//!
//! `push_branch`: when set and different from `branch`, commits are pushed (non-force) to
//! `push_branch`. They are based on the remote `push_branch` when it exists (so successive
//! updates pile up on it, like a pull-request branch), otherwise on `branch`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Component, Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use git2::{
    build::CheckoutBuilder, AutotagOption, CertificateCheckStatus, CredentialType, DiffOptions,
    Direction, ErrorClass, ErrorCode, FetchOptions, FileMode, ObjectType, Oid, PushOptions,
    RemoteCallbacks, Repository, Signature, StatusOptions, StatusShow,
};
use sha2::{Digest, Sha256};

/// How to authenticate to the git server. Secrets are already resolved by the caller.
#[derive(Clone, Default)]
pub enum GitAuth {
    /// No credentials (file://, anonymous HTTP, or credentials carried by the URL).
    #[default]
    None,
    /// HTTP(S) basic authentication (a password or an access token).
    UserPass { username: String, password: String },
    /// SSH private key. `known_hosts`, when set, is the only source of trusted host keys;
    /// otherwise libgit2's default (`~/.ssh/known_hosts`) applies.
    SshKey {
        private_key: PathBuf,
        passphrase: Option<String>,
        known_hosts: Option<PathBuf>,
    },
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GitAuth::None => f.write_str("None"),
            GitAuth::UserPass { username, .. } => f
                .debug_struct("UserPass")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            GitAuth::SshKey {
                private_key,
                passphrase,
                known_hosts,
            } => f
                .debug_struct("SshKey")
                .field("private_key", private_key)
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .field("known_hosts", known_hosts)
                .finish(),
        }
    }
}

/// Where and as whom to write.
#[derive(Clone)]
pub struct GitConfig {
    /// `file://`, `http(s)://` or `ssh://` URL (scp-like `user@host:path` works too).
    pub url: String,
    /// The branch to read from and (by default) push to.
    pub branch: String,
    /// Push to this branch instead (see the module documentation).
    pub push_branch: Option<String>,
    pub author_name: String,
    pub author_email: String,
    pub auth: GitAuth,
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
            .finish()
    }
}

/// Bounds of the fetch/reset/apply/commit/push loop.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total push attempts (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles after each further one, with jitter.
    pub base_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// What an `apply` step of [`WorkingCopy::commit_and_push_with`] did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Changed paths, relative to the repository root.
    pub paths: Vec<PathBuf>,
    /// The commit message describing those changes.
    pub message: String,
}

/// A successful push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The pushed commit id (hex).
    pub commit: String,
    /// How many push attempts it took (1 = no conflict).
    pub attempts: u32,
    /// The branch pushed to.
    pub branch: String,
}

/// Errors of the working copy. Messages never carry a secret: URLs are shown without their
/// user info and libgit2 messages are scrubbed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    #[error("invalid git settings: {0}")]
    Config(String),
    #[error("authentication to {url} failed: {detail}")]
    Auth { url: String, detail: String },
    #[error("SSH host key of {url} not trusted: {detail}")]
    HostKey { url: String, detail: String },
    #[error("branch {branch} not found at {url}")]
    BranchNotFound { url: String, branch: String },
    #[error("path {} is outside the repository: {reason}", path.display())]
    PathOutsideRepo { path: PathBuf, reason: String },
    #[error("editing the working copy failed: {0:#}")]
    Apply(#[source] anyhow::Error),
    #[error("push of {refname} to {url} rejected by the server: {reason}")]
    Rejected {
        url: String,
        refname: String,
        reason: String,
    },
    #[error("push to {branch} at {url} still conflicted after {attempts} attempts")]
    Conflict {
        url: String,
        branch: String,
        attempts: u32,
    },
    #[error("git {op} ({url}): {message}")]
    Git {
        op: &'static str,
        url: String,
        message: String,
        code: ErrorCode,
        class: ErrorClass,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
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

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> GitError {
    let context = context.into();
    move |source| GitError::Io { context, source }
}

/// A URL without its user info, fit for logs and error messages.
/// `https://user:token@host/x.git` → `https://host/x.git`; scp-like `git@host:x` is kept.
pub fn redact_url(url: &str) -> String {
    match split_userinfo(url) {
        Some((scheme_end, at, _)) => format!("{}{}", &url[..scheme_end], &url[at + 1..]),
        None => url.to_string(),
    }
}

/// For `scheme://userinfo@host…`: (index after `://`, index of the `@`, userinfo).
fn split_userinfo(url: &str) -> Option<(usize, usize, &str)> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..auth_end].rfind('@')?;
    Some((scheme_end, scheme_end + at, &rest[..at]))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_local_url(url: &str) -> bool {
    url.starts_with("file://") || url.starts_with('/')
}

fn is_http(url: &str) -> bool {
    let l = url.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// Check a path an editor wants to write or stage: relative, no `..`, not inside `.git`,
/// and not leaving `root` through a symlink. Returns `root.join(rel)`.
/// Editors should call this before writing; [`WorkingCopy::commit_and_push`] calls it again
/// on every path it is asked to stage.
pub fn safe_join(root: &Path, rel: &Path) -> Result<PathBuf, GitError> {
    let refuse = |reason: &str| GitError::PathOutsideRepo {
        path: rel.to_path_buf(),
        reason: reason.to_string(),
    };
    if rel.as_os_str().is_empty() {
        return Err(refuse("empty path"));
    }
    let mut first = true;
    for c in rel.components() {
        match c {
            Component::Normal(n) => {
                if first && n.eq_ignore_ascii_case(".git") {
                    return Err(refuse("inside .git"));
                }
                first = false;
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("contains '..'")),
            Component::RootDir | Component::Prefix(_) => return Err(refuse("absolute path")),
        }
    }
    let full = root.join(rel);
    let canon_root = root
        .canonicalize()
        .map_err(io_err(format!("resolve {}", root.display())))?;
    // Walk the existing ancestors: any symlink among them must resolve inside the root.
    let mut cur = root.to_path_buf();
    let comps: Vec<_> = rel
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(md) if md.file_type().is_symlink() => match cur.canonicalize() {
                Ok(target) if target.starts_with(&canon_root) => {}
                Ok(_) => return Err(refuse("goes through a symlink that leaves the repository")),
                // A dangling link as the last component is staged as a link; elsewhere refuse.
                Err(_) if i + 1 == comps.len() => {
                    let target = fs::read_link(&cur).map_err(io_err("read link"))?;
                    if target.is_absolute()
                        || target.components().any(|c| c == Component::ParentDir)
                    {
                        return Err(refuse("is a symlink that leaves the repository"));
                    }
                }
                Err(_) => return Err(refuse("goes through a dangling symlink")),
            },
            Ok(_) => {}
            Err(_) => break, // does not exist (yet): nothing further can be a symlink
        }
    }
    Ok(full)
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

/// Pack files in a copy before [`WorkingCopy`] re-clones it to compact it.
const MAX_PACKS: usize = 128;

static LIBGIT2_OPTS: Once = Once::new();

fn init_libgit2() {
    LIBGIT2_OPTS.call_once(|| {
        // SAFETY: libgit2 global options; set once, before this module runs any other
        // libgit2 operation (this module is the crate's only libgit2 user). Bounded timeouts
        // keep a dead server from hanging a writer forever.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(15_000);
            let _ = git2::opts::set_server_timeout_in_milliseconds(60_000);
        }
    });
}

/// The remote tips seen by the last fetch.
#[derive(Debug, Clone, Copy)]
struct Tips {
    branch: Option<Oid>,
    push_branch: Option<Oid>,
}

/// A persistent working copy of one branch of one repository.
pub struct WorkingCopy {
    repo: Repository,
    root: PathBuf,
    /// URL given to libgit2 (http(s) user info moved into `auth`).
    remote_url: String,
    /// URL for logs and errors.
    display_url: String,
    branch: String,
    push_branch: String,
    author_name: String,
    author_email: String,
    auth: GitAuth,
    retry: RetryPolicy,
    /// The commit that the local branch (HEAD), the index and the working tree are known to
    /// match (the tree only up to what `apply` wrote since, see `touched`). `None` when that
    /// is not known (after open, after a failed or partial step): the next sync then does the
    /// full reset, which also deletes untracked and ignored files.
    clean_at: Option<Oid>,
    /// `apply` ran since the working tree was last checked: the next sync scans it (against
    /// the index's stat cache) for changes `apply` did not list before trusting `clean_at`.
    touched: bool,
    /// What `open` was given, to re-clone when the copy needs compacting.
    config: GitConfig,
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

/// Per-operation authentication bookkeeping (the credentials callback is called again
/// after each rejection; we give each kind of credential one chance).
#[derive(Default)]
struct AuthState {
    calls: Cell<u32>,
    failed: RefCell<Option<String>>,
    host_key: RefCell<Option<String>>,
}

impl WorkingCopy {
    /// Clone the repository under `state_dir` or reuse the existing copy, then bring it to
    /// the remote head of the branch. Recovers from a crash: stale `*.lock` files,
    /// a merge/rebase in progress, a dirty or half-written tree, a half-made clone
    /// (missing HEAD, unreadable index) or an unusable copy (re-cloned).
    pub fn open(state_dir: &Path, cfg: GitConfig) -> Result<WorkingCopy, GitError> {
        init_libgit2();
        if cfg.url.trim().is_empty() {
            return Err(GitError::Config("git url is empty".into()));
        }
        for b in std::iter::once(&cfg.branch).chain(cfg.push_branch.iter()) {
            if !git2::Reference::is_valid_name(&format!("refs/heads/{b}")) {
                return Err(GitError::Config(format!("invalid branch name {b:?}")));
            }
        }
        let mut auth = cfg.auth.clone();
        let mut remote_url = cfg.url.clone();
        // Credentials in an http(s) URL: move them into `auth` so that they are not written
        // to .git/config.
        if let Some((scheme_end, at, userinfo)) = split_userinfo(&cfg.url) {
            if is_http(&cfg.url) {
                if matches!(auth, GitAuth::None) {
                    let (u, p) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                    auth = GitAuth::UserPass {
                        username: percent_decode(u),
                        password: percent_decode(p),
                    };
                }
                remote_url = format!("{}{}", &cfg.url[..scheme_end], &cfg.url[at + 1..]);
            } else if let Some((u, _)) = userinfo.split_once(':') {
                // ssh://user:pass@… : keep the user, drop the password.
                remote_url = format!("{}{}{}", &cfg.url[..scheme_end], u, &cfg.url[at..]);
            }
        }
        let display_url = redact_url(&remote_url);
        let push_branch = cfg
            .push_branch
            .clone()
            .unwrap_or_else(|| cfg.branch.clone());
        let base = state_dir.join("git");
        fs::create_dir_all(&base).map_err(io_err(format!("create {}", base.display())))?;
        let name = copy_dir_name(&remote_url, &cfg.branch);
        let root = base.join(&name);
        remove_leftover_temp_clones(&base, &name);

        let make = |repo: Repository| WorkingCopy {
            repo,
            root: root.clone(),
            remote_url: remote_url.clone(),
            display_url: display_url.clone(),
            branch: cfg.branch.clone(),
            push_branch: push_branch.clone(),
            author_name: cfg.author_name.clone(),
            author_email: cfg.author_email.clone(),
            auth: auth.clone(),
            retry: RetryPolicy::default(),
            clean_at: None,
            touched: true,
            config: cfg.clone(),
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
        wc.reset_to(head, false)?;
        tracing::info!(url = %display_url, elapsed_ms = started.elapsed().as_millis() as u64, "cloned");
        Ok(wc)
    }

    /// Override the retry bounds (default: 5 attempts, 100 ms doubling backoff).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = RetryPolicy {
            max_attempts: retry.max_attempts.max(1),
            ..retry
        };
        self
    }

    /// The working tree root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The repository URL without credentials.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Fetch, reset hard to the remote head and call `apply(root)`, which edits files and
    /// returns the changed paths (relative to the root; an empty list means nothing to do).
    /// Only those paths are staged (a path that no longer exists is staged as a deletion);
    /// a path outside the repository is refused. Anything else `apply` changes is not
    /// committed and is undone before the next write (a full reset). No commit is made when the staged tree
    /// equals the head's. The commit is pushed without force; a non-fast-forward rejection
    /// (someone pushed in between) re-runs fetch, reset and `apply` on the fresh files and
    /// retries with backoff, up to [`RetryPolicy::max_attempts`] pushes. A rejection for
    /// any other reason (a server hook, a protected branch) is [`GitError::Rejected`].
    ///
    /// Returns `None` when nothing changed.
    pub fn commit_and_push<F>(
        &mut self,
        message: &str,
        mut apply: F,
    ) -> Result<Option<PushOutcome>, GitError>
    where
        F: FnMut(&Path) -> Result<Vec<PathBuf>, anyhow::Error>,
    {
        self.commit_and_push_with(|root| {
            Ok(Applied {
                paths: apply(root)?,
                message: message.to_string(),
            })
        })
    }

    /// Like [`commit_and_push`](Self::commit_and_push), but `apply` also returns the commit
    /// message, so the message describes the edits of the attempt that is pushed (after a
    /// push race the fresh files may need fewer changes).
    pub fn commit_and_push_with<F>(&mut self, mut apply: F) -> Result<Option<PushOutcome>, GitError>
    where
        F: FnMut(&Path) -> Result<Applied, anyhow::Error>,
    {
        let started = Instant::now();
        self.maybe_compact()?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let base = self.sync()?;
            // `apply` may write anything: the next sync scans the tree before trusting it.
            self.touched = true;
            let Applied { paths, message } = match apply(&self.root) {
                Ok(a) => a,
                Err(e) => {
                    // Which files it wrote is unknown: the next sync resets everything.
                    self.clean_at = None;
                    return Err(GitError::Apply(e));
                }
            };
            // Staging moves the index and HEAD; until it is done, their state is unknown.
            self.clean_at = None;
            let t = Instant::now();
            let committed = self.commit_paths(base, &paths, &message)?;
            // The index and HEAD now hold exactly the committed tree (or the base when nothing
            // changed), and so do the listed files: whatever the push does, the next sync
            // only has to update what differs between this commit and the remote head.
            self.clean_at = Some(committed.unwrap_or(base));
            tracing::debug!(
                commit_ms = t.elapsed().as_secs_f64() * 1e3,
                "staged and committed"
            );
            let Some(commit) = committed else {
                tracing::debug!(url = %self.display_url, branch = %self.branch, "nothing to commit");
                return Ok(None);
            };
            // While the push waits on the server, a second handle on the copy checks that
            // `apply` changed nothing it did not list (read-only: the index and file stats),
            // so that the next write can trust the tree without scanning it.
            let root = self.root.clone();
            let (pushed, push_ms, scan) = std::thread::scope(|s| {
                let scan = s.spawn(move || {
                    let t = Instant::now();
                    let r = Repository::open(&root).and_then(|r| unlisted_changes(&r));
                    (r, t.elapsed())
                });
                let t = Instant::now();
                let pushed = self.push(commit);
                let push_ms = t.elapsed().as_secs_f64() * 1e3;
                (pushed, push_ms, scan.join())
            });
            match scan {
                Ok((Ok(None), took)) => {
                    tracing::debug!(
                        scan_ms = took.as_secs_f64() * 1e3,
                        "scanned the working tree"
                    );
                    self.touched = false;
                }
                Ok((Ok(Some(why)), _)) => {
                    tracing::info!(url = %self.display_url, reason = %why,
                        "the next write resets the working copy fully");
                    self.clean_at = None;
                }
                // Left `touched`: the next sync scans again.
                Ok((Err(e), _)) => tracing::debug!(error = %scrub(e.message(), self.password()),
                    "could not scan the working tree"),
                Err(_) => tracing::debug!("the working tree scan panicked"),
            }
            tracing::debug!(push_ms, "push done");
            match pushed {
                Ok(()) => {
                    tracing::info!(url = %self.display_url, branch = %self.push_branch,
                        commit = %commit, attempts = attempt,
                        elapsed_ms = started.elapsed().as_millis() as u64, "pushed");
                    return Ok(Some(PushOutcome {
                        commit: commit.to_string(),
                        attempts: attempt,
                        branch: self.push_branch.clone(),
                    }));
                }
                Err(PushFailure::Stale(why)) => {
                    tracing::info!(url = %self.display_url, branch = %self.push_branch,
                        attempt, reason = %why, "push not fast-forward, rebuilding on the new head");
                    if attempt >= self.retry.max_attempts {
                        return Err(GitError::Conflict {
                            url: self.display_url.clone(),
                            branch: self.push_branch.clone(),
                            attempts: attempt,
                        });
                    }
                    std::thread::sleep(self.backoff(attempt));
                }
                Err(PushFailure::Fatal(e)) => return Err(e),
            }
        }
    }

    /// Fetch, then read `rel` at the remote head (the base of the next write).
    /// `None` when the file does not exist there.
    pub fn head_file(&mut self, rel: &Path) -> Result<Option<Vec<u8>>, GitError> {
        let tips = self.fetch()?;
        let oid = self.base_of(tips)?;
        let commit = self
            .repo
            .find_commit(oid)
            .map_err(|e| self.git_err("read", e))?;
        let tree = commit.tree().map_err(|e| self.git_err("read", e))?;
        let entry = match tree.get_path(rel) {
            Ok(e) => e,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(self.git_err("read", e)),
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(|e| self.git_err("read", e))?;
        Ok(Some(blob.content().to_vec()))
    }

    /// Fetch and bring the working tree to the remote head (what every write does first).
    /// Returns the head commit id.
    pub fn refresh(&mut self) -> Result<String, GitError> {
        Ok(self.sync()?.to_string())
    }

    // ---------------------------------------------------------------- internals

    /// libgit2 cannot repack: every fetch that downloads something adds a pack file, and
    /// lookups slow down as they pile up. Past [`MAX_PACKS`], swap in a fresh clone (made
    /// next to the copy; the copy is only replaced once the clone is complete).
    fn maybe_compact(&mut self) -> Result<(), GitError> {
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

    fn git_err(&self, op: &'static str, e: git2::Error) -> GitError {
        git_err(op, &self.display_url, e, self.password())
    }

    fn password(&self) -> Option<&str> {
        match &self.auth {
            GitAuth::UserPass { password, .. } => Some(password.as_str()),
            GitAuth::SshKey { passphrase, .. } => passphrase.as_deref(),
            GitAuth::None => None,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_backoff
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let capped = exp.min(self.retry.max_backoff);
        // Full jitter in [capped/2, capped]: two writers that collided do not collide again.
        let half = capped / 2;
        let jitter_ms = half.as_millis() as u64;
        let extra = if jitter_ms > 0 {
            rand::random_range(0..=jitter_ms)
        } else {
            0
        };
        half + Duration::from_millis(extra)
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
        self.sync()?;
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

    /// Fetch the branch (and the push branch), then bring HEAD, the index and the working
    /// tree to the base, deleting untracked and ignored files. Returns the base commit.
    ///
    /// When the copy is known to match a commit (`clean_at`; this copy has a single writer),
    /// only what can differ is looked at: the tree is scanned for changes `apply` did not
    /// list (if it ran since the last check), then only the paths that differ between that
    /// commit's tree and the base's are checked out, and verified. Anything unexpected (an
    /// unlisted change, an error, a mismatch after the update) falls back to the full reset.
    fn sync(&mut self) -> Result<Oid, GitError> {
        let t = Instant::now();
        let tips = self.fetch()?;
        let fetched = t.elapsed();
        let base = self.base_of(tips)?;
        let how = match self.clean_at.take() {
            Some(at) => match self.update_from(at, base) {
                Ok(how) => {
                    self.clean_at = Some(base);
                    self.touched = false;
                    how
                }
                Err(why) => {
                    tracing::info!(url = %self.display_url, reason = %why,
                        "working copy not as expected, resetting it fully");
                    self.reset_to(base, true)?;
                    "full reset"
                }
            },
            None => {
                self.reset_to(base, true)?;
                "full reset"
            }
        };
        tracing::debug!(url = %self.display_url, fetch_ms = fetched.as_secs_f64() * 1e3,
            reset_ms = (t.elapsed() - fetched).as_secs_f64() * 1e3, how, "synced");
        Ok(base)
    }

    /// The incremental sync: HEAD, the index and the tree match `at` (checked below as far
    /// as it is cheap); bring them to `base` touching only the paths that differ. `Err` is
    /// the reason to do the full reset instead; the copy may then be anywhere in between.
    fn update_from(&self, at: Oid, base: Oid) -> Result<&'static str, String> {
        let e = |e: git2::Error| scrub(e.message(), self.password());
        let at_tree = self
            .repo
            .find_commit(at)
            .and_then(|c| c.tree())
            .map_err(e)?;
        let head = self.repo.refname_to_id("HEAD").map_err(e)?;
        if head != at {
            return Err(format!("HEAD is at {head}, not at {at}"));
        }
        let mut index = self.repo.index().map_err(e)?;
        index.read(false).map_err(e)?;
        // Cheap: the index keeps a cache of its tree ids (recomputed only where it changed).
        if index.write_tree().map_err(e)? != at_tree.id() {
            return Err("the index does not match HEAD".into());
        }
        if self.touched {
            let t = Instant::now();
            let found = unlisted_changes(&self.repo).map_err(e)?;
            tracing::debug!(
                scan_ms = t.elapsed().as_secs_f64() * 1e3,
                "scanned the working tree"
            );
            if let Some(why) = found {
                return Err(why);
            }
        }
        if at == base {
            return Ok("unchanged");
        }
        let base_tree = self
            .repo
            .find_commit(base)
            .and_then(|c| c.tree())
            .map_err(e)?;
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&at_tree), Some(&base_tree), None)
            .map_err(e)?;
        let mut paths = BTreeSet::new();
        for d in diff.deltas() {
            for f in [d.old_file(), d.new_file()] {
                if f.mode() == FileMode::Commit {
                    return Err("a submodule changed".into());
                }
                if let Some(p) = f.path() {
                    paths.insert(p.to_path_buf());
                }
            }
        }
        if paths.is_empty() {
            return Err("no path differs between two different commits' trees".into());
        }
        // A forced checkout limited to those paths (literal paths: the workdir and baseline
        // iterators only visit them); it updates their index entries and writes the index.
        let mut co = CheckoutBuilder::new();
        co.force().disable_pathspec_match(true);
        for p in &paths {
            co.path(p);
        }
        self.repo
            .checkout_tree(base_tree.as_object(), Some(&mut co))
            .map_err(e)?;
        let local = format!("refs/heads/{}", self.branch);
        self.repo
            .reference(&local, base, true, "imagebump: update to remote")
            .and_then(|_| self.repo.set_head(&local))
            .map_err(e)?;
        // Verify: the whole index is the base tree, and those paths in the tree match it.
        index.read(false).map_err(e)?;
        if index.write_tree().map_err(e)? != base_tree.id() {
            return Err("the index does not match the remote head after the update".into());
        }
        let mut dopts = DiffOptions::new();
        dopts
            .disable_pathspec_match(true)
            .include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(true)
            .recurse_ignored_dirs(true)
            .include_typechange(true);
        for p in &paths {
            dopts.pathspec(p);
        }
        let left = self
            .repo
            .diff_index_to_workdir(Some(&index), Some(&mut dopts))
            .map_err(e)?
            .deltas()
            .len();
        if left > 0 {
            return Err(format!(
                "{left} of {} updated path(s) do not match the remote head",
                paths.len()
            ));
        }
        Ok("incremental")
    }

    fn base_of(&self, tips: Tips) -> Result<Oid, GitError> {
        if self.push_branch != self.branch {
            if let Some(o) = tips.push_branch {
                return Ok(o);
            }
        }
        tips.branch.ok_or_else(|| GitError::BranchNotFound {
            url: self.display_url.clone(),
            branch: self.branch.clone(),
        })
    }

    /// `git reset --hard base` (+ `git clean -fdx` when the tree may hold leftovers) in one
    /// pass over the tree: a forced checkout of the base tree (libgit2's own hard reset
    /// forces its checkout strategy and cannot remove untracked files), then HEAD and the
    /// index are pointed at it (`read_tree` keeps the stat cache of unchanged entries).
    fn reset_to(&mut self, base: Oid, clean: bool) -> Result<(), GitError> {
        self.clean_at = None;
        let local = format!("refs/heads/{}", self.branch);
        let tree = self
            .repo
            .find_commit(base)
            .and_then(|c| c.tree())
            .map_err(|e| self.git_err("reset", e))?;
        let checkout = |repo: &Repository| {
            let mut co = CheckoutBuilder::new();
            co.force().remove_untracked(clean).remove_ignored(clean);
            repo.checkout_tree(tree.as_object(), Some(&mut co))
        };
        if let Err(e) = checkout(&self.repo) {
            // An unreadable index (crash while writing it) blocks the checkout: rebuild it.
            tracing::warn!(url = %self.display_url, error = %scrub(e.message(), self.password()),
                "checkout failed, rebuilding the index");
            let _ = fs::remove_file(self.repo.path().join("index"));
            checkout(&self.repo).map_err(|e| self.git_err("reset", e))?;
        }
        self.repo
            .reference(&local, base, true, "imagebump: reset to remote")
            .and_then(|_| self.repo.set_head(&local))
            .map_err(|e| self.git_err("reset", e))?;
        let mut index = self.repo.index().map_err(|e| self.git_err("reset", e))?;
        index
            .read_tree(&tree)
            .and_then(|_| index.write())
            .map_err(|e| self.git_err("reset", e))?;
        self.clean_at = Some(base);
        self.touched = false;
        Ok(())
    }

    fn callbacks<'a>(&'a self, st: &'a AuthState) -> RemoteCallbacks<'a> {
        let mut cb = RemoteCallbacks::new();
        let auth = &self.auth;
        cb.credentials(move |_url, username_from_url, allowed| {
            let n = st.calls.get() + 1;
            st.calls.set(n);
            let fail = |why: &str| {
                *st.failed.borrow_mut() = Some(why.to_string());
                Err(git2::Error::from_str(why))
            };
            if n > 4 {
                return fail("credentials rejected");
            }
            match auth {
                GitAuth::UserPass { username, password } => {
                    if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                        if st.calls.get() > 1 {
                            return fail("the server rejected the username/password");
                        }
                        git2::Cred::userpass_plaintext(username, password)
                    } else {
                        fail(
                            "the server asks for a kind of credential other than username/password",
                        )
                    }
                }
                GitAuth::SshKey {
                    private_key,
                    passphrase,
                    ..
                } => {
                    let user = username_from_url.unwrap_or("git");
                    if allowed.contains(CredentialType::USERNAME) {
                        return git2::Cred::username(user);
                    }
                    if allowed.contains(CredentialType::SSH_KEY) {
                        if n > 2 {
                            return fail("the server rejected the SSH key");
                        }
                        return git2::Cred::ssh_key(user, None, private_key, passphrase.as_deref());
                    }
                    fail("the server asks for a kind of credential other than an SSH key")
                }
                GitAuth::None => fail("the server requires authentication and none is configured"),
            }
        });
        if let GitAuth::SshKey {
            known_hosts: Some(kh),
            ..
        } = auth
        {
            let port = ssh_port(&self.remote_url);
            cb.certificate_check(move |cert, host| {
                let Some(hk) = cert.as_hostkey() else {
                    return Ok(CertificateCheckStatus::CertificatePassthrough);
                };
                let refuse = |why: String| {
                    *st.host_key.borrow_mut() = Some(why.clone());
                    Err(git2::Error::from_str(&why))
                };
                let Some(key) = hk.hostkey() else {
                    return refuse("the SSH server sent no raw host key".into());
                };
                match known_hosts_check(kh, host, port, key) {
                    Ok(true) => Ok(CertificateCheckStatus::CertificateOk),
                    Ok(false) => refuse(format!(
                        "its {} key is not listed for {} in {}",
                        hk.hostkey_type().map(|t| t.name()).unwrap_or("host"),
                        match port {
                            Some(p) => format!("[{host}]:{p}"),
                            None => host.to_string(),
                        },
                        kh.display()
                    )),
                    Err(e) => refuse(format!("cannot read {}: {e}", kh.display())),
                }
            });
        }
        cb
    }

    fn map_remote_err(&self, op: &'static str, e: git2::Error, st: &AuthState) -> GitError {
        if let Some(why) = st.host_key.borrow().clone() {
            return GitError::HostKey {
                url: self.display_url.clone(),
                detail: why,
            };
        }
        if let Some(why) = st.failed.borrow().clone() {
            return GitError::Auth {
                url: self.display_url.clone(),
                detail: why,
            };
        }
        if e.code() == ErrorCode::Auth
            || (e.class() == ErrorClass::Http && e.message().contains("401"))
        {
            return GitError::Auth {
                url: self.display_url.clone(),
                detail: scrub(e.message(), self.password()),
            };
        }
        self.git_err(op, e)
    }

    /// Ask the server for the branch tips, download what is missing and point the
    /// remote-tracking refs at them (deleting those of branches that are gone).
    fn fetch(&self) -> Result<Tips, GitError> {
        let st = AuthState::default();
        let mut remote = self
            .repo
            .remote_anonymous(&self.remote_url)
            .map_err(|e| self.git_err("fetch", e))?;
        let want_branch = format!("refs/heads/{}", self.branch);
        let want_push = format!("refs/heads/{}", self.push_branch);
        let (tips, refspecs) = {
            let mut conn = remote
                .connect_auth(Direction::Fetch, Some(self.callbacks(&st)), None)
                .map_err(|e| self.map_remote_err("fetch", e, &st))?;
            let mut tips = Tips {
                branch: None,
                push_branch: None,
            };
            for h in conn.list().map_err(|e| self.git_err("fetch", e))? {
                if h.name() == want_branch {
                    tips.branch = Some(h.oid());
                }
                if h.name() == want_push {
                    tips.push_branch = Some(h.oid());
                }
            }
            let mut refspecs = BTreeSet::new();
            for (name, oid) in [
                (&self.branch, tips.branch),
                (&self.push_branch, tips.push_branch),
            ] {
                if let Some(oid) = oid {
                    if self.repo.find_commit(oid).is_err() {
                        refspecs.insert(format!("+refs/heads/{name}:refs/remotes/origin/{name}"));
                    }
                }
            }
            if !refspecs.is_empty() {
                let mut fo = FetchOptions::new();
                fo.remote_callbacks(self.callbacks(&st))
                    .download_tags(AutotagOption::None)
                    .update_fetchhead(false);
                let specs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
                conn.remote()
                    .fetch(&specs, Some(&mut fo), None)
                    .map_err(|e| self.map_remote_err("fetch", e, &st))?;
            }
            (tips, refspecs)
        };
        drop(remote);
        for (name, oid) in [
            (&self.branch, tips.branch),
            (&self.push_branch, tips.push_branch),
        ] {
            let tracking = format!("refs/remotes/origin/{name}");
            match oid {
                Some(oid) => {
                    self.repo
                        .reference(&tracking, oid, true, "imagebump: fetch")
                        .map_err(|e| self.git_err("fetch", e))?;
                }
                None => {
                    if let Ok(mut r) = self.repo.find_reference(&tracking) {
                        let _ = r.delete();
                    }
                }
            }
        }
        tracing::debug!(url = %self.display_url, ?tips, downloaded = refspecs.len(), "fetched");
        Ok(tips)
    }

    /// Stage `paths` on top of `base`; commit unless the tree did not change.
    fn commit_paths(
        &mut self,
        base: Oid,
        paths: &[PathBuf],
        message: &str,
    ) -> Result<Option<Oid>, GitError> {
        if paths.is_empty() {
            return Ok(None);
        }
        let mut index = self.repo.index().map_err(|e| self.git_err("stage", e))?;
        for rel in paths {
            let full = safe_join(&self.root, rel)?;
            // Stage with a normalised relative path ("./a/b" → "a/b").
            let clean: PathBuf = rel
                .components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .collect();
            match fs::symlink_metadata(&full) {
                Ok(md) if md.is_dir() => {
                    return Err(GitError::Apply(anyhow::anyhow!(
                        "{} is a directory; list files",
                        clean.display()
                    )))
                }
                Ok(_) => index
                    .add_path(&clean)
                    .map_err(|e| self.git_err("stage", e))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    index
                        .remove_path(&clean)
                        .map_err(|e| self.git_err("stage", e))?;
                }
                Err(e) => return Err(io_err(format!("stat {}", clean.display()))(e)),
            }
        }
        index.write().map_err(|e| self.git_err("stage", e))?;
        let tree_id = index.write_tree().map_err(|e| self.git_err("commit", e))?;
        let parent = self
            .repo
            .find_commit(base)
            .map_err(|e| self.git_err("commit", e))?;
        if parent.tree_id() == tree_id {
            return Ok(None);
        }
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(|e| self.git_err("commit", e))?;
        let sig = Signature::now(&self.author_name, &self.author_email)
            .map_err(|e| GitError::Config(format!("invalid author: {}", e.message())))?;
        let oid = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &[&parent])
            .map_err(|e| self.git_err("commit", e))?;
        Ok(Some(oid))
    }

    fn push(&mut self, commit: Oid) -> Result<(), PushFailure> {
        let st = AuthState::default();
        let status: RefCell<Option<(String, String)>> = RefCell::new(None);
        let dst = format!("refs/heads/{}", self.push_branch);
        let refspec = format!("{commit}:{dst}");
        let result = {
            let mut remote = self
                .repo
                .remote_anonymous(&self.remote_url)
                .map_err(|e| PushFailure::Fatal(self.git_err("push", e)))?;
            let mut cb = self.callbacks(&st);
            cb.push_update_reference(|refname, msg| {
                if let Some(m) = msg {
                    *status.borrow_mut() = Some((refname.to_string(), m.to_string()));
                }
                Ok(())
            });
            let mut po = PushOptions::new();
            po.remote_callbacks(cb);
            remote.push(&[refspec.as_str()], Some(&mut po))
        };
        if let Err(e) = result {
            if e.code() == ErrorCode::NotFastForward {
                return Err(PushFailure::Stale(scrub(e.message(), self.password())));
            }
            return Err(PushFailure::Fatal(self.map_remote_err("push", e, &st)));
        }
        if let Some((refname, msg)) = status.into_inner() {
            let lower = msg.to_ascii_lowercase();
            // What receive-pack says when the ref moved under us.
            if [
                "non-fast-forward",
                "fetch first",
                "stale info",
                "cannot lock ref",
                "failed to update ref",
                "failed to lock",
            ]
            .iter()
            .any(|s| lower.contains(s))
            {
                return Err(PushFailure::Stale(msg));
            }
            return Err(PushFailure::Fatal(GitError::Rejected {
                url: self.display_url.clone(),
                refname,
                reason: scrub(&msg, self.password()),
            }));
        }
        // Record the pushed tip as the remote's, like git does.
        let _ = self.repo.reference(
            &format!("refs/remotes/origin/{}", self.push_branch),
            commit,
            true,
            "imagebump: push",
        );
        Ok(())
    }
}

/// What differs between the index and the working tree (what `apply` wrote without listing
/// it, untracked and ignored files), `None` when nothing does: a status scan against the
/// index stat cache, which reads only the files whose stat changed.
fn unlisted_changes(repo: &Repository) -> Result<Option<String>, git2::Error> {
    let mut so = StatusOptions::new();
    so.show(StatusShow::Workdir)
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(true)
        .recurse_ignored_dirs(true);
    let st = repo.statuses(Some(&mut so))?;
    if st.is_empty() {
        return Ok(None);
    }
    let some: Vec<String> = st
        .iter()
        .take(3)
        .map(|s| String::from_utf8_lossy(s.path_bytes()).into_owned())
        .collect();
    Ok(Some(format!(
        "{} path(s) differ from the last commit, e.g. {}",
        st.len(),
        some.join(", ")
    )))
}

enum PushFailure {
    /// Someone else pushed first: rebuild on the new head.
    Stale(String),
    Fatal(GitError),
}

fn git_err(op: &'static str, url: &str, e: git2::Error, secret: Option<&str>) -> GitError {
    GitError::Git {
        op,
        url: url.to_string(),
        message: scrub(e.message(), secret),
        code: e.code(),
        class: e.class(),
    }
}

/// Remove anything that looks like a URL's user info, and the known secret, from a message.
fn scrub(msg: &str, secret: Option<&str>) -> String {
    let mut out = String::with_capacity(msg.len());
    for (i, word) in msg.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.contains("://") {
            out.push_str(&redact_url(word));
        } else {
            out.push_str(word);
        }
    }
    match secret {
        Some(s) if s.len() >= 4 => out.replace(s, "<redacted>"),
        _ => out,
    }
}

/// `*.lock` files in `.git` (index, HEAD, config, refs): with a single writer per copy,
/// any that exists when the copy is opened was left by a crash.
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

/// The port of an `ssh://` URL, when it is not 22.
fn ssh_port(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("ssh://")?;
    let authority = rest.split('/').next()?;
    let hostport = authority.rsplit('@').next()?;
    if hostport.starts_with('[') {
        let (_, p) = hostport.rsplit_once("]:")?;
        return p.parse().ok().filter(|p| *p != 22);
    }
    let (_, p) = hostport.rsplit_once(':')?;
    p.parse().ok().filter(|p| *p != 22)
}

/// Is `key` (the raw SSH host key blob) listed for `host` in the OpenSSH `known_hosts`
/// file? Supports plain and hashed (`|1|salt|hash`) host names, comma lists, `*`/`?`
/// wildcards, negation, `[host]:port`, and `@revoked` (a revoked key never matches).
pub fn known_hosts_check(
    file: &Path,
    host: &str,
    port: Option<u16>,
    key: &[u8],
) -> std::io::Result<bool> {
    use base64::Engine as _;
    let name = match port {
        Some(p) => format!("[{host}]:{p}"),
        None => host.to_string(),
    };
    let f = fs::File::open(file)?;
    let mut accepted = false;
    for line in BufReader::new(f).lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut hosts = fields.next().unwrap_or("");
        let mut revoked = false;
        if hosts.starts_with('@') {
            match hosts {
                "@revoked" => revoked = true,
                _ => continue, // @cert-authority: certificates are not supported
            }
            hosts = fields.next().unwrap_or("");
        }
        let _keytype = fields.next();
        let Some(b64) = fields.next() else { continue };
        let Ok(line_key) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        if line_key != key || !host_matches(hosts, &name) {
            continue;
        }
        if revoked {
            return Ok(false);
        }
        accepted = true;
    }
    Ok(accepted)
}

fn host_matches(patterns: &str, name: &str) -> bool {
    if let Some(h) = patterns.strip_prefix("|1|") {
        return hashed_host_matches(h, name);
    }
    let mut matched = false;
    for pat in patterns.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if glob(neg, name) {
                return false;
            }
        } else if glob(pat, name) {
            matched = true;
        }
    }
    matched
}

fn hashed_host_matches(salt_and_hash: &str, name: &str) -> bool {
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

fn glob(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi].eq_ignore_ascii_case(&s[si])) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_info() {
        assert_eq!(
            redact_url("https://u:tok@git.example.com/a/b.git"),
            "https://git.example.com/a/b.git"
        );
        assert_eq!(redact_url("https://tok@h/x"), "https://h/x");
        assert_eq!(redact_url("https://h/x@y"), "https://h/x@y");
        assert_eq!(
            redact_url("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
        assert_eq!(
            scrub(
                "failed https://a:secret@h/x and secret again",
                Some("secret")
            ),
            "failed https://h/x and <redacted> again"
        );
    }

    #[test]
    fn debug_redacts_secrets() {
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
        };
        let s = format!("{cfg:?}");
        assert!(!s.contains("hunter22"), "{s}");
        let k = GitAuth::SshKey {
            private_key: "/k".into(),
            passphrase: Some("pp-secret".into()),
            known_hosts: None,
        };
        assert!(!format!("{k:?}").contains("pp-secret"));
    }

    #[test]
    fn dir_name_has_no_credentials_and_depends_on_branch() {
        let a = copy_dir_name("https://h/org/fleet.git", "main");
        let b = copy_dir_name("https://h/org/fleet.git", "prod");
        assert_ne!(a, b);
        assert!(a.starts_with("fleet-"), "{a}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%3Ac"), "a@b:c");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn safe_join_refuses_escapes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        assert!(safe_join(root, Path::new("a/b.yaml")).is_ok());
        assert!(safe_join(root, Path::new("./a.yaml")).is_ok());
        assert!(safe_join(root, Path::new("../x")).is_err());
        assert!(safe_join(root, Path::new("a/../../x")).is_err());
        assert!(safe_join(root, Path::new("/etc/passwd")).is_err());
        assert!(safe_join(root, Path::new(".git/config")).is_err());
        assert!(safe_join(root, Path::new("")).is_err());
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        assert!(safe_join(root, Path::new("out/f.yaml")).is_err());
        fs::create_dir(root.join("in")).unwrap();
        std::os::unix::fs::symlink(root.join("in"), root.join("alias")).unwrap();
        assert!(safe_join(root, Path::new("alias/f.yaml")).is_ok());
    }

    #[test]
    fn known_hosts_matching() {
        use base64::Engine as _;
        use hmac::{Hmac, KeyInit, Mac};
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b"\x00\x00\x00\x0bssh-ed25519fakekeybytes".to_vec();
        let other = b"other".to_vec();
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[hashed.example]:2222");
        let hashed = format!(
            "|1|{}|{}",
            b64.encode(salt),
            b64.encode(mac.finalize().into_bytes())
        );
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("known_hosts");
        fs::write(
            &f,
            format!(
                "# comment\ngit.example.com,10.0.0.1 ssh-ed25519 {k}\n*.wild.example,!bad.wild.example ssh-ed25519 {k}\n{hashed} ssh-ed25519 {k}\n@revoked revoked.example ssh-ed25519 {k}\nrevoked.example ssh-ed25519 {k}\n",
                k = b64.encode(&key)
            ),
        )
        .unwrap();
        assert!(known_hosts_check(&f, "git.example.com", None, &key).unwrap());
        assert!(!known_hosts_check(&f, "git.example.com", None, &other).unwrap());
        assert!(!known_hosts_check(&f, "git.example.com", Some(2222), &key).unwrap());
        assert!(known_hosts_check(&f, "a.wild.example", None, &key).unwrap());
        assert!(!known_hosts_check(&f, "bad.wild.example", None, &key).unwrap());
        assert!(known_hosts_check(&f, "hashed.example", Some(2222), &key).unwrap());
        assert!(!known_hosts_check(&f, "hashed.example", None, &key).unwrap());
        assert!(!known_hosts_check(&f, "revoked.example", None, &key).unwrap());
        assert!(!known_hosts_check(&f, "unknown.example", None, &key).unwrap());
        assert_eq!(ssh_port("ssh://git@h:2222/x"), Some(2222));
        assert_eq!(ssh_port("ssh://git@h:22/x"), None);
        assert_eq!(ssh_port("ssh://h/x"), None);
    }
}
