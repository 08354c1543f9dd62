//! The push branch (`GitConfig::push_branch`, a pull-request-style branch) is always the
//! base branch's tip plus imagebump's own changes, rebuilt on each sync: when `branch`
//! moved on, imagebump's commits on the push branch are replayed onto its new tip (a
//! commit whose change is already in `branch`, or that no longer applies, is dropped: the
//! next scan plans it again if it is still wanted), and the push replaces the push branch
//! with a force-with-lease (a compare-and-swap against the value seen at sync).
//!
//! Only commits imagebump made may be replaced: each commit on the push branch that is not
//! in `branch` must carry the [`TRAILER`] and the configured author. Anything else is a
//! foreign commit ([`GitError::ForeignCommit`]): nothing is written until a person deals
//! with it.

use git2::{Commit, Oid, Signature, Sort};

use crate::copy::WorkingCopy;
use crate::error::GitError;
use crate::sign::Made;

/// The commit-message trailer that marks imagebump's commits; the same key as
/// `imagebump_core::message::TRAILER` (this crate does not depend on the core; a test in
/// the `imagebump` package checks that they agree).
pub const TRAILER: &str = "Imagebump-Version";

impl WorkingCopy {
    /// The base for a change on the push branch, given the remote tips of `branch`
    /// (`main`) and of the push branch (`push`): `push` when it already contains `main`,
    /// else `main` plus imagebump's commits from `push`, replayed. Refuses a push branch
    /// holding a commit imagebump did not make.
    pub(crate) fn push_branch_base(&self, main: Oid, push: Oid) -> Result<Oid, GitError> {
        let e = |e: git2::Error| self.git_err("rebuild the push branch", e);
        let mut walk = self.repo.revwalk().map_err(e)?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)
            .map_err(e)?;
        walk.push(push).map_err(e)?;
        walk.hide(main).map_err(e)?;
        let mut ours = Vec::new();
        for oid in walk {
            let c = self.repo.find_commit(oid.map_err(e)?).map_err(e)?;
            self.check_ours(&c)?;
            ours.push(c);
        }
        if push == main || self.repo.graph_descendant_of(push, main).map_err(e)? {
            return Ok(push);
        }
        let mut cur = self.repo.find_commit(main).map_err(e)?;
        let committer = Signature::now(&self.author_name, &self.author_email)
            .map_err(|e| GitError::Config(format!("invalid author: {}", e.message())))?;
        let mut replayed = 0usize;
        for c in &ours {
            let mut index = self.repo.cherrypick_commit(c, &cur, 0, None).map_err(e)?;
            if index.has_conflicts() {
                tracing::info!(url = %self.display_url, branch = %self.push_branch, commit = %c.id(),
                    "dropping an imagebump commit that no longer applies on the base branch");
                continue;
            }
            let tree_id = index.write_tree_to(&self.repo).map_err(e)?;
            if tree_id == cur.tree_id() {
                continue; // its change is already in the base branch
            }
            let tree = self.repo.find_tree(tree_id).map_err(e)?;
            let msg = c.message_raw_bytes();
            // Signed anew (when signing is on): the old signature covered another parent.
            let oid = self.make_commit(
                Made::Replayed,
                &c.author(),
                &committer,
                &String::from_utf8_lossy(msg),
                &tree,
                &cur,
            )?;
            cur = self.repo.find_commit(oid).map_err(e)?;
            replayed += 1;
        }
        tracing::info!(url = %self.display_url, branch = %self.push_branch, base = %main,
            replayed, dropped = ours.len() - replayed, "rebuilt the push branch on the base branch");
        Ok(cur.id())
    }

    /// A commit imagebump made: the configured author, the trailer, one parent.
    fn check_ours(&self, c: &Commit<'_>) -> Result<(), GitError> {
        match self.why_foreign(c) {
            None => Ok(()),
            Some(why) => Err(GitError::ForeignCommit {
                url: self.display_url.clone(),
                branch: self.push_branch.clone(),
                commit: c.id().to_string(),
                subject: String::from_utf8_lossy(c.message_raw_bytes())
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                why,
            }),
        }
    }

    /// Why `c` is not a commit imagebump made (the configured author, the [`TRAILER`],
    /// one parent); `None` when it is. Shared by the push branch and the file history.
    pub(crate) fn why_foreign(&self, c: &Commit<'_>) -> Option<String> {
        let author = c.author();
        let msg = String::from_utf8_lossy(c.message_raw_bytes());
        let trailer = msg
            .lines()
            .any(|l| l.strip_prefix(TRAILER).is_some_and(|r| r.starts_with(':')));
        if author.name_bytes() != self.author_name.as_bytes()
            || author.email_bytes() != self.author_email.as_bytes()
        {
            Some(format!(
                "its author is {} <{}>, not {} <{}>",
                String::from_utf8_lossy(author.name_bytes()),
                String::from_utf8_lossy(author.email_bytes()),
                self.author_name,
                self.author_email
            ))
        } else if !trailer {
            Some(format!("its message has no {TRAILER} trailer"))
        } else if c.parent_count() != 1 {
            Some("it is a merge commit".to_string())
        } else {
            None
        }
    }
}
