//! Choosing and reading the push branch between writes: one copy serves several head
//! branches (`groupBy: application` gives one per application), a head branch can be
//! started again on the base branch's tip (after its pull request was closed without
//! merging), and the messages of imagebump's commits on it are what its pull request
//! lists.

use git2::{Oid, Sort};

use crate::copy::WorkingCopy;
use crate::error::GitError;

/// At most this many commits on a push branch are read for its messages.
pub const BRANCH_COMMITS_LIMIT: usize = 500;

impl WorkingCopy {
    /// Pushes go to `branch` from the next [`sync`](Self::sync) on (the base branch
    /// itself: straight pushes). The copy's files are synced anew by that sync.
    pub fn set_push_branch(&mut self, branch: &str) {
        if self.push_branch != branch {
            self.push_branch = branch.to_string();
            // The tree matches a commit of the other branch: the next sync finds that
            // out itself, but the base must be recomputed from the new branch's tip.
            self.fresh_push = false;
        }
    }

    /// With `fresh`, the next syncs build on the base branch's tip alone: imagebump's
    /// commits on the push branch are dropped and the push replaces them (a
    /// force-with-lease, refused like a rebuild when the push branch holds a commit
    /// imagebump did not make). Stays until set back.
    pub fn set_fresh_push_branch(&mut self, fresh: bool) {
        self.fresh_push = fresh;
    }

    /// The messages of the commits the copy's HEAD (the last commit made or synced) has
    /// beyond the remote base branch's tip, oldest first, at most
    /// [`BRANCH_COMMITS_LIMIT`]: on a push branch, imagebump's changes waiting there.
    pub fn push_branch_messages(&self) -> Result<Vec<String>, GitError> {
        let e = |e: git2::Error| self.git_err("read the push branch", e);
        let head = self.repo.refname_to_id("HEAD").map_err(e)?;
        let tracking = format!("refs/remotes/origin/{}", self.branch);
        let base = self.repo.refname_to_id(&tracking).map_err(e)?;
        let mut walk = self.repo.revwalk().map_err(e)?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
            .map_err(e)?;
        walk.push(head).map_err(e)?;
        walk.hide(base).map_err(e)?;
        let mut out = Vec::new();
        for oid in walk.take(BRANCH_COMMITS_LIMIT) {
            let c = self.repo.find_commit(oid.map_err(e)?).map_err(e)?;
            out.push(String::from_utf8_lossy(c.message_raw_bytes()).into_owned());
        }
        Ok(out)
    }

    /// Refuses a push branch (`push`) holding, beyond `main`, a commit imagebump did not
    /// make: the same rule as a rebuild, for a branch about to be started again.
    pub(crate) fn check_push_branch_ours(&self, main: Oid, push: Oid) -> Result<(), GitError> {
        let e = |e: git2::Error| self.git_err("check the push branch", e);
        let mut walk = self.repo.revwalk().map_err(e)?;
        walk.push(push).map_err(e)?;
        walk.hide(main).map_err(e)?;
        for oid in walk {
            let c = self.repo.find_commit(oid.map_err(e)?).map_err(e)?;
            if let Some(why) = self.why_foreign(&c) {
                return Err(GitError::ForeignCommit {
                    url: self.display_url.clone(),
                    branch: self.push_branch.clone(),
                    commit: c.id().to_string(),
                    subject: String::from_utf8_lossy(c.message_raw_bytes())
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                    why,
                });
            }
        }
        Ok(())
    }
}
