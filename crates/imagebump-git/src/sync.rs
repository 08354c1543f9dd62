//! Bringing the copy to the remote tip: fetch, then the incremental update (only the paths
//! that differ between the commit the copy is known to match and the tip) or the full hard
//! reset, and reading files at the tip.
//!
//! After a full reset or a commit, the copy knows which commit its HEAD, index and files
//! match (`clean_at`). A sync then fetches and checks out only the paths that differ
//! between that commit and the remote head (a tree-to-tree diff), instead of resetting and
//! scanning the whole tree; a local commit whose push failed is undone the same way, since
//! it differs from the remote head exactly at its paths. Changes written but not committed
//! (and untracked or ignored files) are looked for with a status scan against the index
//! stat cache, usually run by [`WorkingCopy::push`] while the server works; any found, any
//! error or any mismatch after the update means the full reset.
//!
//! Neither check needs to read the whole index as a tree (`write_tree`), which reads every
//! tree of the repository: the index is trusted when it is the file this copy last wrote
//! (its length and checksum, `index_written`; another program's index is compared as a
//! tree), and after an update each updated path's entry is compared with the tip's.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Instant;

use git2::{
    build::CheckoutBuilder, AutotagOption, DiffOptions, Direction, ErrorCode, FetchOptions,
    FileMode, ObjectType, Oid, Repository, StatusOptions, StatusShow,
};

use crate::auth::{callbacks, map_remote_err, scrub, AuthState};
use crate::copy::WorkingCopy;
use crate::error::GitError;

/// What a sync had to do to bring the copy to the remote tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// The copy already matched the tip: nothing was touched.
    Unchanged,
    /// Only the paths that differ between the known commit and the tip were checked out.
    Incremental,
    /// A full hard reset (first sync, a doubt about the tree, an edit nobody listed).
    FullReset,
}

impl SyncKind {
    /// `unchanged`, `incremental` or `full reset` (log wording).
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Unchanged => "unchanged",
            SyncKind::Incremental => "incremental",
            SyncKind::FullReset => "full reset",
        }
    }
}

impl WorkingCopy {
    /// What the last [`sync`](Self::sync) had to do; `None` before the first.
    pub fn last_sync(&self) -> Option<SyncKind> {
        self.last_sync
    }
}

/// The remote tip a change is built on (what [`WorkingCopy::sync`] brought the copy to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The commit the copy was brought to.
    pub(crate) oid: Oid,
    /// What the remote push branch pointed at when that was seen (`None`: it did not
    /// exist): the old value the push compares against.
    pub(crate) push_ref: Option<Oid>,
    /// What the remote `branch` pointed at (the same as `oid` unless a push branch was
    /// rebuilt on it).
    pub(crate) branch_tip: Oid,
}

impl Base {
    /// True when `oid` is not what the push branch holds: a rebuilt push branch, to be
    /// pushed (with a lease) even when no file changes on top of it.
    pub(crate) fn rebuilt(&self) -> bool {
        self.push_ref.is_some_and(|p| p != self.oid)
    }
}

impl Base {
    /// The base commit id (hex).
    pub fn id(&self) -> String {
        self.oid.to_string()
    }

    /// What the remote push branch pointed at before a push on this base (hex); `None`
    /// when the push creates it. A push event's `before`.
    pub fn pushed_over(&self) -> Option<String> {
        self.push_ref.map(|o| o.to_string())
    }
}

/// The remote tips seen by the last fetch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tips {
    pub(crate) branch: Option<Oid>,
    pub(crate) push_branch: Option<Oid>,
}

impl WorkingCopy {
    /// Fetch and bring HEAD, the index and the files to the remote tip, deleting untracked
    /// and ignored files; returns the base to build a change on. The tip is the remote
    /// `push_branch` when it differs from `branch` and exists, else `branch`.
    ///
    /// When the copy is known to match a commit, only what can differ is looked at (see
    /// the module documentation); anything unexpected falls back to the full reset. A
    /// copy with too many pack files is first swapped for a fresh clone.
    pub fn sync(&mut self) -> Result<Base, GitError> {
        self.maybe_compact()?;
        let base = self.sync_tree()?;
        // The caller edits the tree next, through `write_file` or directly under `root()`:
        // whatever it does, the tree is scanned before it is trusted again.
        self.touched = true;
        Ok(base)
    }

    /// Fetch, then read `rel` at the remote head (the base of the next change).
    /// `None` when the file does not exist there (or is not a file).
    pub fn head_file(&mut self, rel: &Path) -> Result<Option<Vec<u8>>, GitError> {
        let tips = self.fetch()?;
        let oid = self.base_of(tips)?.oid;
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

    /// [`sync`](Self::sync) without compaction (which itself opens, and so syncs, a copy).
    pub(crate) fn sync_tree(&mut self) -> Result<Base, GitError> {
        let t = Instant::now();
        let tips = self.fetch()?;
        let fetched = t.elapsed();
        let base = self.base_of(tips)?;
        let how = match self.clean_at.take() {
            Some(at) => match self.update_from(at, base.oid) {
                Ok(how) => {
                    self.clean_at = Some(base.oid);
                    self.touched = false;
                    how
                }
                Err(why) => {
                    tracing::info!(url = %self.display_url, reason = %why,
                        "working copy not as expected, resetting it fully");
                    self.reset_to(base.oid, true)?;
                    SyncKind::FullReset
                }
            },
            None => {
                self.reset_to(base.oid, true)?;
                SyncKind::FullReset
            }
        };
        self.last_sync = Some(how);
        tracing::debug!(url = %self.display_url, fetch_ms = fetched.as_secs_f64() * 1e3,
            reset_ms = (t.elapsed() - fetched).as_secs_f64() * 1e3, how = how.as_str(), "synced");
        Ok(base)
    }

    /// The incremental sync: HEAD, the index and the tree match `at` (checked below as far
    /// as it is cheap); bring them to `base` touching only the paths that differ. `Err` is
    /// the reason to do the full reset instead; the copy may then be anywhere in between.
    fn update_from(&mut self, at: Oid, base: Oid) -> Result<SyncKind, String> {
        let e = |e: git2::Error| scrub(e.message(), self.auth.secret().as_deref());
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
        // The index is the one this copy wrote when it matched `at`; otherwise (another
        // program rewrote it, as `git status` does) its tree must be `at`'s — a check that
        // reads every tree of the repository (see tree_edit), so only then.
        let ours = matches!((&self.index_written, index_trailer(self.repo.path())),
            (Some(written), Some(now)) if *written == now);
        if !ours && index.write_tree().map_err(e)? != at_tree.id() {
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
            return Ok(SyncKind::Unchanged);
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
        // Verify: the index held `at`'s tree and the checkout changed only these paths;
        // each now holds what the base has (or is gone). So the whole index is the base.
        index.read(false).map_err(e)?;
        if index.has_conflicts() {
            return Err("the index has conflicts after the update".into());
        }
        for p in &paths {
            let want = match base_tree.get_path(p) {
                Ok(t) if t.kind() == Some(ObjectType::Blob) => Some((t.id(), t.filemode())),
                Ok(_) => None,
                Err(err) if err.code() == ErrorCode::NotFound => None,
                Err(err) => return Err(e(err)),
            };
            let have = index.get_path(p, 0).map(|i| (i.id, i.mode as i32));
            if have != want {
                return Err(format!(
                    "the index does not match the remote head at {} after the update",
                    p.display()
                ));
            }
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
        self.index_written = index_trailer(self.repo.path());
        Ok(SyncKind::Incremental)
    }

    /// The base of the next change: the branch tip; with a separate push branch, the
    /// branch tip plus imagebump's commits on the push branch (see `rebuild`).
    pub(crate) fn base_of(&self, tips: Tips) -> Result<Base, GitError> {
        let branch_tip = tips.branch.ok_or_else(|| GitError::BranchNotFound {
            url: self.display_url.clone(),
            branch: self.branch.clone(),
        })?;
        if self.push_branch == self.branch {
            return Ok(Base {
                oid: branch_tip,
                push_ref: Some(branch_tip),
                branch_tip,
            });
        }
        let oid = match tips.push_branch {
            Some(push) if self.fresh_push => {
                // Start again on the branch tip, but still only over imagebump's commits.
                self.check_push_branch_ours(branch_tip, push)?;
                branch_tip
            }
            Some(push) => self.push_branch_base(branch_tip, push)?,
            None => branch_tip,
        };
        Ok(Base {
            oid,
            push_ref: tips.push_branch,
            branch_tip,
        })
    }

    /// `git reset --hard base` (+ `git clean -fdx` when the tree may hold leftovers) in one
    /// pass over the tree: a forced checkout of the base tree (libgit2's own hard reset
    /// forces its checkout strategy and cannot remove untracked files), then HEAD and the
    /// index are pointed at it (`read_tree` keeps the stat cache of unchanged entries).
    pub(crate) fn reset_to(&mut self, base: Oid, clean: bool) -> Result<(), GitError> {
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
            tracing::warn!(url = %self.display_url, error = %scrub(e.message(), self.auth.secret().as_deref()),
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
        drop((index, tree));
        self.index_written = index_trailer(self.repo.path());
        // The checkout and `read_tree` read every tree; in a large repository that fills
        // the pack's delta-base cache (16 MB), which later writes, reading only the trees
        // on their paths, do not need.
        self.release_caches()?;
        self.clean_at = Some(base);
        self.touched = false;
        Ok(())
    }

    /// Ask the server for the branch tips, download what is missing and point the
    /// remote-tracking refs at them (deleting those of branches that are gone).
    pub(crate) fn fetch(&self) -> Result<Tips, GitError> {
        let st = AuthState::default();
        let auth = self.auth.for_connection();
        let secret = auth.secret();
        let remote_err =
            |e: git2::Error| map_remote_err("fetch", e, &st, &self.display_url, secret.as_deref());
        let mut remote = self
            .repo
            .remote_anonymous(&self.remote_url)
            .map_err(|e| self.git_err("fetch", e))?;
        let want_branch = format!("refs/heads/{}", self.branch);
        let want_push = format!("refs/heads/{}", self.push_branch);
        let (tips, refspecs) = {
            let mut conn = remote
                .connect_auth(
                    Direction::Fetch,
                    Some(callbacks(&auth, &self.remote_url, &st)),
                    None,
                )
                .map_err(remote_err)?;
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
                fo.remote_callbacks(callbacks(&auth, &self.remote_url, &st))
                    .download_tags(AutotagOption::None)
                    .update_fetchhead(false);
                let specs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
                conn.remote()
                    .fetch(&specs, Some(&mut fo), None)
                    .map_err(remote_err)?;
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
}

/// What differs between the index and the working tree (written but not committed,
/// untracked and ignored files), `None` when nothing does: a status scan against the
/// index stat cache, which reads only the files whose stat changed.
pub(crate) fn unlisted_changes(repo: &Repository) -> Result<Option<String>, git2::Error> {
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

/// The index file's identity: its length and trailing checksum (git's index ends with a
/// hash of everything before it). `None` when it cannot be read.
pub(crate) fn index_trailer(git_dir: &Path) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 20;
    let mut f = fs::File::open(git_dir.join("index")).ok()?;
    let len = f.metadata().ok()?.len();
    if len < TAIL {
        return None;
    }
    f.seek(SeekFrom::Start(len - TAIL)).ok()?;
    let mut out = len.to_le_bytes().to_vec();
    let mut tail = [0u8; TAIL as usize];
    f.read_exact(&mut tail).ok()?;
    out.extend_from_slice(&tail);
    Some(out)
}
