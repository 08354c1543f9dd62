//! A file's recent history, for telling a person's change from imagebump's own: the
//! versions of one path along the first-parent line from HEAD (the base the last sync
//! brought the copy to), newest first, only commits that changed the path, bounded.
//!
//! Nothing is stored outside git: what imagebump last wrote and who changed it since are
//! read from the commits themselves (author + [`TRAILER`], as for the push branch), so
//! the answer is the same after a restart and on another replica.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use git2::{Commit, ErrorCode, ObjectType, Oid, Repository, Tree};

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
    /// compared with its first parent once (along the wanted paths, descending only into
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
        // Only the wanted paths are compared, level by level: a subtree whose id is the
        // same in the commit and its parent is not read at all. (libgit2's tree diff with
        // a path list still reads and parses every directory on a wanted path at every
        // commit: with 1,000 applications under `apps/`, a 35 KB tree twice per commit,
        // ~0.5 s for the 500 commits of a lone update's walk.)
        let wanted = Trie::of(rels);
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
            // Each changed wanted path → its blob in this commit (`None`: deleted).
            let mut changed: HashMap<PathBuf, Option<Oid>> = HashMap::new();
            wanted
                .changes(&self.repo, old_tree.as_ref(), Some(&cur_tree), &mut changed)
                .map_err(e)?;
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

/// The wanted paths as a tree of names, to compare two trees along them only.
#[derive(Default)]
struct Trie {
    children: BTreeMap<Vec<u8>, Trie>,
    /// The wanted paths (as given) that end here.
    paths: Vec<PathBuf>,
}

impl Trie {
    fn of(rels: &[PathBuf]) -> Trie {
        use std::os::unix::ffi::OsStrExt;
        let mut root = Trie::default();
        for rel in rels {
            let mut node = &mut root;
            // `a/./b` and `a//b` name `a/b`, as in git's own path lists.
            for c in rel
                .components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
            {
                node = node
                    .children
                    .entry(c.as_os_str().as_bytes().to_vec())
                    .or_default();
            }
            node.paths.push(rel.clone());
        }
        root
    }

    /// Every wanted path whose entry (id or mode) differs between `old` and `new` →
    /// its blob in `new` (`None`: gone, a directory or a submodule there now). A name
    /// with the same entry on both sides is not descended into.
    fn changes(
        &self,
        repo: &Repository,
        old: Option<&Tree<'_>>,
        new: Option<&Tree<'_>>,
        out: &mut HashMap<PathBuf, Option<Oid>>,
    ) -> Result<(), git2::Error> {
        for (name, child) in &self.children {
            let o = old.and_then(|t| t.get_name_bytes(name));
            let n = new.and_then(|t| t.get_name_bytes(name));
            let key = |e: &Option<git2::TreeEntry<'_>>| e.as_ref().map(|e| (e.id(), e.filemode()));
            if key(&o) == key(&n) {
                continue;
            }
            let blob = n
                .as_ref()
                .filter(|e| e.kind() == Some(ObjectType::Blob))
                .map(|e| e.id());
            // A directory on both sides (or appearing from nothing) is no file version,
            // as in a tree diff, which lists files only.
            let file = |e: &Option<git2::TreeEntry<'_>>| {
                e.as_ref()
                    .is_some_and(|e| e.kind() != Some(ObjectType::Tree))
            };
            if file(&o) || file(&n) {
                for path in &child.paths {
                    out.insert(path.clone(), blob);
                }
            }
            if !child.children.is_empty() {
                let sub = |e: &Option<git2::TreeEntry<'_>>| match e {
                    Some(e) if e.kind() == Some(ObjectType::Tree) => {
                        repo.find_tree(e.id()).map(Some)
                    }
                    _ => Ok(None),
                };
                let (o, n) = (sub(&o)?, sub(&n)?);
                child.changes(repo, o.as_ref(), n.as_ref(), out)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree_edit::tree_from_index as tree;

    /// The pruned comparison names exactly the wanted paths libgit2's full diff names,
    /// with the same new blobs.
    #[test]
    fn wanted_path_changes_match_a_full_tree_diff() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repository::init(d.path()).unwrap();
        let f = 0o100644;
        let old = tree(
            &repo,
            &[
                ("apps/a/w.yaml", "1", f),
                ("apps/b/w.yaml", "1", f),
                ("apps/c/w.yaml", "1", f),
                ("apps/d", "file", f),
                ("apps/e/x.yaml", "dir", f),
                ("run.sh", "x", f),
                ("other/o.txt", "1", f),
            ],
        );
        let new = tree(
            &repo,
            &[
                ("apps/a/w.yaml", "2", f),
                ("apps/b/w.yaml", "1", f),
                ("apps/d/inner.yaml", "now a dir", f),
                ("apps/e", "now a file", f),
                ("apps/new.yaml", "added", f),
                ("run.sh", "x", 0o100755),
                ("other/o.txt", "2", f),
            ],
        );
        let wanted: Vec<PathBuf> = [
            "apps/a/w.yaml",
            "apps/b/w.yaml",
            "apps/c/w.yaml",
            "apps/d",
            "apps/d/inner.yaml",
            "apps/e",
            "apps/e/x.yaml",
            "apps/new.yaml",
            "run.sh",
            "absent/z.yaml",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let (old, new) = (repo.find_tree(old).unwrap(), repo.find_tree(new).unwrap());
        let mut got = HashMap::new();
        Trie::of(&wanted)
            .changes(&repo, Some(&old), Some(&new), &mut got)
            .unwrap();
        let mut want = HashMap::new();
        let diff = repo
            .diff_tree_to_tree(
                Some(&old),
                Some(&new),
                Some(git2::DiffOptions::new().include_typechange(true)),
            )
            .unwrap();
        for delta in diff.deltas() {
            let n = delta.new_file();
            let blob = (delta.status() != git2::Delta::Deleted).then(|| n.id());
            for side in [delta.old_file(), n] {
                let p = side.path().unwrap().to_path_buf();
                if wanted.contains(&p) {
                    want.insert(p, blob);
                }
            }
        }
        assert_eq!(got, want);
        assert_eq!(got.len(), 8, "{got:?}");
        // From nothing (a root commit): every wanted path present is new.
        let mut from_root = HashMap::new();
        Trie::of(&wanted)
            .changes(&repo, None, Some(&new), &mut from_root)
            .unwrap();
        assert_eq!(from_root.len(), 6, "{from_root:?}");
    }
}
