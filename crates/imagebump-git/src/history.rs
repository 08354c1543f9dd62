//! A file's recent history, for telling a person's change from imagebump's own: the
//! versions of one path along the first-parent line from HEAD (the base the last sync
//! brought the copy to), newest first, only commits that changed the path, bounded.
//!
//! Nothing is stored outside git: what imagebump last wrote and who changed it since are
//! read from the commits themselves (author + [`TRAILER`], as for the push branch), so
//! the answer is the same after a restart and on another replica.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::{Commit, Delta, DiffOptions, ErrorCode, FileMode, ObjectType, Oid, Tree};

use crate::copy::WorkingCopy;
use crate::error::GitError;
#[cfg(doc)]
use crate::rebuild::TRAILER;

/// The trailer of a commit that ends a manual-change hold of an image; its value is the
/// image id (`application/name`). The same key as `imagebump_core::message::RELEASE_TRAILER`.
pub const RELEASE_TRAILER: &str = "Imagebump-Release";

/// Commits walked at most by [`WorkingCopy::file_history`] (first parent, from HEAD),
/// whether or not they touched the path.
pub const HISTORY_WALK_LIMIT: usize = 500;

/// One version of a file: the commit that produced it and the text it had then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    /// The commit (full hex id).
    pub commit: String,
    /// Its author, `Name <email>`.
    pub author: String,
    /// Made by imagebump (configured author, trailer, one parent).
    pub is_imagebump: bool,
    /// The values of its [`RELEASE_TRAILER`] lines (image ids whose hold it ends).
    pub releases: Vec<String>,
    /// The file's text after the commit; `None` when the commit deleted it or it is not
    /// UTF-8 text.
    pub text: Option<String>,
}

impl WorkingCopy {
    /// The last `max_versions` versions of `rel` along the first-parent line from HEAD,
    /// newest first: each commit whose version of `rel` differs from its first parent's,
    /// and each commit carrying a [`RELEASE_TRAILER`] (with the text it has). At most
    /// [`HISTORY_WALK_LIMIT`] commits are walked.
    pub fn file_history(
        &self,
        rel: &Path,
        max_versions: usize,
    ) -> Result<Vec<FileVersion>, GitError> {
        let mut all = self.files_history(&[rel.to_path_buf()], max_versions)?;
        Ok(all.remove(rel).unwrap_or_default())
    }

    /// [`file_history`](Self::file_history) of several paths in one walk: each commit is
    /// compared with its first parent once (a tree diff, which only descends into
    /// subtrees that differ), so many paths cost about what one does, also in a large
    /// repository with a long history.
    pub fn files_history(
        &self,
        rels: &[PathBuf],
        max_versions: usize,
    ) -> Result<HashMap<PathBuf, Vec<FileVersion>>, GitError> {
        let e = |e: git2::Error| self.git_err("read the file history", e);
        let mut out: HashMap<PathBuf, Vec<FileVersion>> =
            rels.iter().map(|r| (r.clone(), Vec::new())).collect();
        let mut cur = match self.repo.head() {
            Ok(h) => h.peel_to_commit().map_err(e)?,
            Err(err) if err.code() == ErrorCode::UnbornBranch => return Ok(out),
            Err(err) => return Err(e(err)),
        };
        // Only the wanted paths are compared (a path list, not patterns): the tree
        // iterators then skip every subtree no wanted path runs through, and a subtree
        // whose id did not change is not read at all. A full tree diff read the trees
        // the commit changed elsewhere — in a 20k-file repository with a long history,
        // deltified trees rebuilt for each of the 500 commits, ~10 s per write.
        let mut dopts = DiffOptions::new();
        // A typechange (file ↔ symlink) as one delta, not a deletion and an addition.
        dopts.disable_pathspec_match(true).include_typechange(true);
        for r in rels {
            dopts.pathspec(r);
        }
        for _ in 0..HISTORY_WALK_LIMIT {
            if out.values().all(|v| v.len() >= max_versions) {
                break;
            }
            let parent = cur.parents().next();
            // A release may not touch the file, yet it ends a hold of what the file holds.
            let release = has_release(&cur);
            let cur_tree = cur.tree().map_err(e)?;
            let old_tree = match &parent {
                Some(p) => Some(p.tree().map_err(e)?),
                // The root commit: every path it holds is new (a diff from nothing).
                None => None,
            };
            let diff = self
                .repo
                .diff_tree_to_tree(old_tree.as_ref(), Some(&cur_tree), Some(&mut dopts))
                .map_err(e)?;
            // Each changed wanted path → its blob in this commit (`None`: deleted).
            let mut changed: HashMap<PathBuf, Option<Oid>> = HashMap::new();
            for d in diff.deltas() {
                let new = d.new_file();
                let blob = (d.status() != Delta::Deleted && new.mode() != FileMode::Commit)
                    .then(|| new.id())
                    .filter(|id| !id.is_zero());
                for f in [d.old_file(), new] {
                    if let Some(path) = f.path() {
                        changed.insert(path.to_path_buf(), blob);
                    }
                }
            }
            for (rel, versions) in out.iter_mut() {
                if versions.len() >= max_versions {
                    continue;
                }
                let blob = match changed.get(rel) {
                    Some(b) => *b,
                    None if release => blob_at(&cur_tree, rel).map_err(e)?,
                    None => continue,
                };
                versions.push(self.version(&cur, blob).map_err(e)?);
            }
            match parent {
                Some(p) => cur = p,
                None => break,
            }
        }
        Ok(out)
    }

    fn version(&self, c: &Commit<'_>, blob: Option<Oid>) -> Result<FileVersion, git2::Error> {
        let msg = String::from_utf8_lossy(c.message_raw_bytes());
        let releases = msg
            .lines()
            .filter_map(|l| l.strip_prefix(RELEASE_TRAILER)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let text = match blob {
            Some(id) => String::from_utf8(self.repo.find_blob(id)?.content().to_vec()).ok(),
            None => None,
        };
        let a = c.author();
        Ok(FileVersion {
            commit: c.id().to_string(),
            author: format!(
                "{} <{}>",
                String::from_utf8_lossy(a.name_bytes()),
                String::from_utf8_lossy(a.email_bytes())
            ),
            is_imagebump: self.why_foreign(c).is_none(),
            releases,
            text,
        })
    }
}

fn has_release(c: &Commit<'_>) -> bool {
    String::from_utf8_lossy(c.message_raw_bytes())
        .lines()
        .any(|l| {
            l.strip_prefix(RELEASE_TRAILER)
                .is_some_and(|r| r.starts_with(':'))
        })
}

/// The blob `rel` names in `tree` (`None`: absent or not a file).
fn blob_at(tree: &Tree<'_>, rel: &Path) -> Result<Option<Oid>, git2::Error> {
    match tree.get_path(rel) {
        Ok(entry) if entry.kind() == Some(ObjectType::Blob) => Ok(Some(entry.id())),
        Ok(_) => Ok(None),
        Err(err) if err.code() == ErrorCode::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}
