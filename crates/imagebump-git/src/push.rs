//! Committing listed paths on a base and pushing the commit as a compare-and-swap of the
//! remote branch: it lands only if the branch still points at the commit's base.
//!
//! Over smart transports (HTTP, SSH) the server compares the old value the client sends
//! under its ref lock; the push-negotiation callback makes sure that old value is the base.
//! Over `file://` libgit2's own push checks fast-forward against the ref it read when it
//! connected and then sets the ref without comparing (a concurrent push in between is
//! lost), so local pushes copy the objects into the remote repository and update its ref
//! with libgit2's compare-and-swap (`reference_matching`, under git's `.lock` protocol).

use std::cell::RefCell;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use git2::{ErrorCode, Oid, PushOptions, Repository, Signature};

use crate::auth::{callbacks, map_remote_err, scrub, AuthState};
use crate::copy::WorkingCopy;
use crate::error::{io_err, GitError};
use crate::paths::{normalise, safe_join};
use crate::sign::Made;
use crate::sync::{index_trailer, unlisted_changes, Base};
use crate::tree_edit::tree_with;
use crate::url::local_path;

/// A commit made locally on a base, not yet pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCommit {
    pub(crate) oid: Oid,
    pub(crate) base: Base,
}

impl LocalCommit {
    /// The commit id (hex).
    pub fn id(&self) -> String {
        self.oid.to_string()
    }

    /// The base it was made on, which the push expects the remote branch to point at.
    pub fn base(&self) -> &Base {
        &self.base
    }
}

/// A successful push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The pushed commit id (hex).
    pub commit: String,
    /// The branch pushed to.
    pub branch: String,
}

/// Why a push did not land.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The remote branch no longer points at the commit's base (someone else pushed):
    /// sync and rebuild.
    #[error("the remote branch moved: {reason}")]
    Moved {
        /// Where the branch is now, or the server's words.
        reason: String,
    },
    /// Anything else: a server hook/protected branch ([`GitError::Rejected`]), auth,
    /// network…
    #[error(transparent)]
    Failed(#[from] GitError),
}

/// What receive-pack says when the ref moved under a push (or is being moved right now).
const MOVED_STATUS: [&str; 6] = [
    "non-fast-forward",
    "fetch first",
    "stale info",
    "cannot lock ref",
    "failed to update ref",
    "failed to lock",
];

impl WorkingCopy {
    /// Stage exactly `paths` (relative to the root; a missing path is staged as a deletion;
    /// a path outside the repository is refused before anything is staged) on `base` and
    /// commit them with `message`, as the configured author. Whatever else is in the tree
    /// is not committed (the next [`sync`](Self::sync) undoes it). `None` when the staged
    /// tree equals the base's and the base is what the push branch holds (nothing to
    /// push); a rebuilt push branch (see `rebuild`) is returned as the commit to push.
    ///
    /// `base` must be what the last `sync` returned, with no commit made on it since
    /// ([`GitError::NotAtBase`] otherwise): the index then holds exactly the base's tree.
    pub fn commit(
        &mut self,
        base: &Base,
        paths: &[PathBuf],
        message: &str,
    ) -> Result<Option<LocalCommit>, GitError> {
        self.commit_with(base, paths, message, false)
    }

    /// [`WorkingCopy::commit`], and with `allow_empty` a commit is made even when no file
    /// changed (`imagebump release` records a release in git by its trailer alone).
    pub fn commit_with(
        &mut self,
        base: &Base,
        paths: &[PathBuf],
        message: &str,
        allow_empty: bool,
    ) -> Result<Option<LocalCommit>, GitError> {
        if self.clean_at != Some(base.oid) {
            return Err(GitError::NotAtBase {
                url: self.display_url.clone(),
                base: base.id(),
            });
        }
        let mut staged = Vec::with_capacity(paths.len());
        for rel in paths {
            let full = safe_join(&self.root, rel)?;
            let meta = match fs::symlink_metadata(&full) {
                Ok(md) if md.is_dir() => {
                    return Err(GitError::NotAFile {
                        path: rel.clone(),
                        reason: "a directory; list files".into(),
                    })
                }
                Ok(_) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(io_err(format!("stat {}", rel.display()))(e)),
            };
            staged.push((normalise(rel), meta));
        }
        if staged.is_empty() && !allow_empty {
            return Ok(base.rebuilt().then(|| LocalCommit {
                oid: base.oid,
                base: base.clone(),
            }));
        }
        let t = Instant::now();
        // Staging moves the index and HEAD; until it is done, their state is unknown.
        self.clean_at = None;
        let committed = self.stage_and_commit(base.oid, &staged, message, allow_empty)?;
        // The index and HEAD now hold exactly the committed tree (or the base when nothing
        // changed), and so do the listed files: whatever the push does, the next sync only
        // has to update what differs between this commit and the remote head.
        self.clean_at = Some(committed.unwrap_or(base.oid));
        tracing::debug!(
            commit_ms = t.elapsed().as_secs_f64() * 1e3,
            "staged and committed"
        );
        if committed.is_none() {
            tracing::debug!(url = %self.display_url, branch = %self.branch, "nothing to commit");
        }
        // A rebuilt push branch is pushed even when no file changed on top of it.
        let oid = committed.or(base.rebuilt().then_some(base.oid));
        Ok(oid.map(|oid| LocalCommit {
            oid,
            base: base.clone(),
        }))
    }

    /// Push `commit` to the push branch without force (a rebuilt push branch: with a
    /// lease), as a compare-and-swap of the remote ref against `commit.base()`: [`PushError::Moved`] when the branch no longer points
    /// there (or, for a new push branch, was created meanwhile). A server refusal for any
    /// other reason is `PushError::Failed(GitError::Rejected)`.
    ///
    /// While the server works, the tree is scanned for changes that were not committed, so
    /// that the next sync can trust it without scanning.
    pub fn push(&mut self, commit: &LocalCommit) -> Result<Pushed, PushError> {
        let started = Instant::now();
        let dst = format!("refs/heads/{}", self.push_branch);
        // The scan only means something while the tree is the one just committed.
        let scan_wanted = self.touched && self.clean_at == Some(commit.oid);
        let root = self.root.clone();
        let (pushed, push_ms, scan) = std::thread::scope(|s| {
            // A second handle on the copy, read-only (the index and file stats).
            let scan = scan_wanted.then(|| {
                s.spawn(move || {
                    let t = Instant::now();
                    let r = Repository::open(&root).and_then(|r| unlisted_changes(&r));
                    (r, t.elapsed())
                })
            });
            let t = Instant::now();
            let pushed = match local_path(&self.remote_url) {
                Some(path) => self.push_local(&path, commit, &dst),
                None => self.push_smart(commit, &dst),
            };
            let push_ms = t.elapsed().as_secs_f64() * 1e3;
            (pushed, push_ms, scan.map(|h| h.join()))
        });
        match scan {
            Some(Ok((Ok(None), took))) => {
                tracing::debug!(
                    scan_ms = took.as_secs_f64() * 1e3,
                    "scanned the working tree"
                );
                self.touched = false;
            }
            Some(Ok((Ok(Some(why)), _))) => {
                tracing::info!(url = %self.display_url, reason = %why,
                    "the next write resets the working copy fully");
                self.clean_at = None;
            }
            // Left `touched`: the next sync scans again.
            Some(Ok((Err(e), _))) => {
                tracing::debug!(error = %scrub(e.message(), self.auth.secret().as_deref()),
                "could not scan the working tree")
            }
            Some(Err(_)) => tracing::debug!("the working tree scan panicked"),
            None => {}
        }
        tracing::debug!(push_ms, "push done");
        match pushed {
            Ok(()) => {
                // Record the pushed tip as the remote's, like git does.
                let _ = self.repo.reference(
                    &format!("refs/remotes/origin/{}", self.push_branch),
                    commit.oid,
                    true,
                    "imagebump: push",
                );
                tracing::info!(url = %self.display_url, branch = %self.push_branch,
                    commit = %commit.oid, elapsed_ms = started.elapsed().as_millis() as u64, "pushed");
                Ok(Pushed {
                    commit: commit.id(),
                    branch: self.push_branch.clone(),
                })
            }
            Err(PushError::Moved { reason }) => {
                tracing::info!(url = %self.display_url, branch = %self.push_branch,
                    reason = %reason, "push refused: the branch moved");
                Err(PushError::Moved { reason })
            }
            Err(e) => Err(e),
        }
    }

    /// Stage the checked `(path, exists)` list on top of `base`; commit unless the tree
    /// did not change.
    fn stage_and_commit(
        &mut self,
        base: Oid,
        staged: &[(PathBuf, bool)],
        message: &str,
        allow_empty: bool,
    ) -> Result<Option<Oid>, GitError> {
        let mut index = self.repo.index().map_err(|e| self.git_err("stage", e))?;
        let mut entries = Vec::with_capacity(staged.len());
        for (clean, exists) in staged {
            let entry = if *exists {
                index
                    .add_path(clean)
                    .map_err(|e| self.git_err("stage", e))?;
                let e = index.get_path(clean, 0).ok_or_else(|| {
                    GitError::Config(format!("{} was not staged", clean.display()))
                })?;
                Some((e.id, e.mode as i32))
            } else {
                index
                    .remove_path(clean)
                    .map_err(|e| self.git_err("stage", e))?;
                None
            };
            entries.push((clean.as_path(), entry));
        }
        index.write().map_err(|e| self.git_err("stage", e))?;
        self.index_written = index_trailer(self.repo.path());
        let parent = self
            .repo
            .find_commit(base)
            .map_err(|e| self.git_err("commit", e))?;
        // Not `index.write_tree()`: it reads every tree of the result back (see tree_edit).
        let tree_id = parent
            .tree()
            .and_then(|t| tree_with(&self.repo, &t, &entries))
            .map_err(|e| self.git_err("commit", e))?;
        if parent.tree_id() == tree_id && !allow_empty {
            return Ok(None);
        }
        let tree = self
            .repo
            .find_tree(tree_id)
            .map_err(|e| self.git_err("commit", e))?;
        let sig = Signature::now(&self.author_name, &self.author_email)
            .map_err(|e| GitError::Config(format!("invalid author: {}", e.message())))?;
        let oid = self.make_commit(Made::OnHead, &sig, &sig, message, &tree, &parent)?;
        Ok(Some(oid))
    }

    /// The local transport done right: copy the missing objects into the remote
    /// repository, then move its ref only if it still holds the base (or, when creating
    /// the branch, only if it does not exist). Objects written for a push that then loses
    /// the race are unreferenced, and harmless (git's gc prunes them).
    fn push_local(&self, path: &Path, commit: &LocalCommit, dst: &str) -> Result<(), PushError> {
        let fail = |e: git2::Error| PushError::Failed(self.git_err("push", e));
        let remote = Repository::open(path).map_err(fail)?;
        let odb = remote.odb().map_err(fail)?;
        let mut pb = self.repo.packbuilder().map_err(fail)?;
        for oid in missing_objects(&self.repo, &odb, commit.oid).map_err(fail)? {
            pb.insert_object(oid, None).map_err(fail)?;
        }
        if pb.object_count() > 0 {
            let mut pw = odb.packwriter().map_err(fail)?;
            let mut write_err = None;
            pb.foreach(|chunk| match pw.write_all(chunk) {
                Ok(()) => true,
                Err(e) => {
                    write_err = Some(e);
                    false
                }
            })
            .map_err(|e| match write_err.take() {
                Some(io) => PushError::Failed(io_err("write the pack into the remote")(io)),
                None => fail(e),
            })?;
            pw.commit().map_err(fail)?;
        }
        let msg = "push: imagebump";
        let updated = match commit.base.push_ref {
            Some(old) => remote.reference_matching(dst, commit.oid, true, old, msg),
            None => remote.reference(dst, commit.oid, false, msg),
        };
        match updated {
            Ok(_) => Ok(()),
            // Modified: it points elsewhere; NotFound: it was deleted; Exists: someone
            // created it first; Locked: another push is updating it right now.
            Err(e)
                if matches!(
                    e.code(),
                    ErrorCode::Modified
                        | ErrorCode::NotFound
                        | ErrorCode::Exists
                        | ErrorCode::Locked
                ) =>
            {
                Err(PushError::Moved {
                    reason: format!(
                        "{dst} is no longer at {}: {}",
                        short(commit.base.push_ref),
                        scrub(e.message(), None)
                    ),
                })
            }
            Err(e) => Err(fail(e)),
        }
    }

    /// Smart transports: the server compares the old value the client sends; make sure
    /// that is the base, and read the per-ref status (`remote.push` is `Ok` even when the
    /// server refused the ref).
    fn push_smart(&self, commit: &LocalCommit, dst: &str) -> Result<(), PushError> {
        let st = AuthState::default();
        let auth = self.auth.for_connection();
        let secret = auth.secret();
        let secret = secret.as_deref();
        let status: RefCell<Option<(String, String)>> = RefCell::new(None);
        let moved: RefCell<Option<String>> = RefCell::new(None);
        // What the server's hooks printed (sideband): the words a refusal is made of.
        let remote_said: RefCell<Vec<u8>> = RefCell::new(Vec::new());
        let expected = commit.base.push_ref.unwrap_or(Oid::ZERO_SHA1);
        // A rebuilt push branch replaces imagebump's own commits: force, with the lease
        // the negotiation below checks. Everything else must fast-forward.
        let force = if commit.base.rebuilt() { "+" } else { "" };
        let refspec = format!("{force}{}:{dst}", commit.oid);
        let result = {
            let mut remote = self
                .repo
                .remote_anonymous(&self.remote_url)
                .map_err(|e| PushError::Failed(self.git_err("push", e)))?;
            let mut cb = callbacks(&auth, &self.remote_url, &st);
            cb.sideband_progress(|text| {
                let mut said = remote_said.borrow_mut();
                let room = REMOTE_SAID_MAX.saturating_sub(said.len());
                said.extend_from_slice(&text[..text.len().min(room)]);
                true
            });
            cb.push_update_reference(|refname, msg| {
                if let Some(m) = msg {
                    *status.borrow_mut() = Some((refname.to_string(), m.to_string()));
                }
                Ok(())
            });
            // `src` is what the remote's ref points at now (zero: absent), and what the
            // client will send as the old value.
            cb.push_negotiation(|updates| {
                for u in updates {
                    if u.dst_refname().ok() == Some(dst) && u.src() != expected {
                        *moved.borrow_mut() = Some(format!(
                            "{dst} is at {} on the remote, not at {}",
                            short(Some(u.src()).filter(|o| !o.is_zero())),
                            short(commit.base.push_ref)
                        ));
                        return Err(git2::Error::from_str("the remote branch moved"));
                    }
                }
                Ok(())
            });
            let mut po = PushOptions::new();
            po.remote_callbacks(cb);
            remote.push(&[refspec.as_str()], Some(&mut po))
        };
        if let Some(reason) = moved.into_inner() {
            return Err(PushError::Moved { reason });
        }
        if let Err(e) = result {
            if e.code() == ErrorCode::NotFastForward {
                return Err(PushError::Moved {
                    reason: scrub(e.message(), secret),
                });
            }
            return Err(PushError::Failed(map_remote_err(
                "push",
                e,
                &st,
                &self.display_url,
                secret,
            )));
        }
        if let Some((refname, msg)) = status.into_inner() {
            let lower = msg.to_ascii_lowercase();
            if MOVED_STATUS.iter().any(|s| lower.contains(s)) {
                return Err(PushError::Moved {
                    reason: scrub(&msg, secret),
                });
            }
            // "pre-receive hook declined" alone does not say why: add the hook's words.
            let said = hook_words(&remote_said.into_inner());
            let reason = if said.is_empty() {
                msg
            } else {
                format!("{msg}: {said}")
            };
            return Err(PushError::Failed(GitError::Rejected {
                url: self.display_url.clone(),
                refname,
                reason: scrub(&reason, secret),
            }));
        }
        Ok(())
    }
}

/// The most of the server's sideband text kept for a refusal's reason.
const REMOTE_SAID_MAX: usize = 2048;

/// The server's sideband text as one line: its lines joined with "; ", without
/// progress meters ("Resolving deltas: 100% (3/3)") or empty lines.
fn hook_words(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let lines: Vec<&str> = text
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("% ("))
        .collect();
    let mut out = lines.join("; ");
    if out.len() > 500 {
        let mut cut = 500;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// A commit id for messages; "nothing" for an absent ref.
fn short(oid: Option<Oid>) -> String {
    match oid {
        Some(o) => o.to_string()[..12].to_string(),
        None => "nothing (absent)".to_string(),
    }
}

/// The objects of `tip` the remote odb lacks: new commits back to the first one it has,
/// and in their trees only what it does not have (an object it has, it has with
/// everything below it — objects arrive in whole packs, parents before the ref moves).
///
/// Asking the remote's index is a lookup; the revwalk + `insert_walk` this replaces
/// marked the base's whole tree uninteresting, reading every tree of the repository
/// through libgit2's 16 MB delta-base cache — the largest allocation of a commit in a
/// 20,000-file repository.
fn missing_objects(
    repo: &Repository,
    remote: &git2::Odb<'_>,
    tip: Oid,
) -> Result<Vec<Oid>, git2::Error> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut commits = vec![tip];
    while let Some(c) = commits.pop() {
        if !seen.insert(c) || remote.exists(c) {
            continue;
        }
        let commit = repo.find_commit(c)?;
        out.push(c);
        commits.extend(commit.parent_ids());
        let mut trees = vec![commit.tree_id()];
        while let Some(t) = trees.pop() {
            if !seen.insert(t) || remote.exists(t) {
                continue;
            }
            out.push(t);
            for entry in repo.find_tree(t)?.iter() {
                let id = entry.id();
                match entry.kind() {
                    Some(git2::ObjectType::Tree) => trees.push(id),
                    // Submodule entries (commits) live in other repositories.
                    Some(git2::ObjectType::Blob) if seen.insert(id) && !remote.exists(id) => {
                        out.push(id)
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}
