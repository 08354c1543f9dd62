//! A commit's tree built from its base's tree and the paths that changed, reading and
//! writing only the trees on those paths.
//!
//! libgit2's `git_index_write_tree` writes the changed trees from the index, and then
//! reads every tree of the result back to rebuild the index's tree cache. In a
//! repository of 20,000 files that is every directory's tree, deltified in the pack: a
//! full pass through the pack's 16 MB delta-base cache for each commit (most of the
//! time and memory of a write there). Here only the directories a changed path runs
//! through are read; every other subtree is kept by id.
//!
//! The result is the tree git would write from the same index: entries come from the
//! index (blob id and mode as staged), tree builders order them as git does, and a
//! directory left empty is dropped, as `git write-tree` never writes an empty subtree.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Component, Path};

use git2::{FileMode, ObjectType, Oid, Repository, Tree};

/// A path's entry in the new tree: its staged blob and mode, or `None` when it is gone.
pub(crate) type Entry = Option<(Oid, i32)>;

/// Changes below one directory: by name, either the entry itself or deeper changes.
#[derive(Default)]
struct Dir {
    leaves: BTreeMap<OsString, Entry>,
    subdirs: BTreeMap<OsString, Dir>,
}

/// The id of `base` with each `(path, entry)` applied (paths relative to the root, with
/// normal components only). The root tree is written even when it ends up empty.
pub(crate) fn tree_with(
    repo: &Repository,
    base: &Tree<'_>,
    changes: &[(&Path, Entry)],
) -> Result<Oid, git2::Error> {
    let mut root = Dir::default();
    for (path, entry) in changes {
        let names: Vec<OsString> = path
            .components()
            .map(|c| match c {
                Component::Normal(n) => Ok(n.to_os_string()),
                _ => Err(git2::Error::from_str("not a normalised relative path")),
            })
            .collect::<Result<_, _>>()?;
        let Some((leaf, dirs)) = names.split_last() else {
            return Err(git2::Error::from_str("an empty path"));
        };
        let mut dir = &mut root;
        for d in dirs {
            dir = dir.subdirs.entry(d.clone()).or_default();
        }
        dir.leaves.insert(leaf.clone(), *entry);
    }
    match write_dir(repo, Some(base), &root)? {
        Some(id) => Ok(id),
        None => repo.treebuilder(None)?.write(),
    }
}

/// Writes `tree` with `dir`'s changes; `None` when nothing is left in it.
fn write_dir(
    repo: &Repository,
    tree: Option<&Tree<'_>>,
    dir: &Dir,
) -> Result<Option<Oid>, git2::Error> {
    let mut b = repo.treebuilder(tree)?;
    for (name, sub) in &dir.subdirs {
        // A path through a name that is a file (or absent) starts a new directory there,
        // as the index does when a file becomes a directory.
        let old = match b.get(name.as_os_str().as_encoded_bytes())? {
            Some(e) if e.kind() == Some(ObjectType::Tree) => Some(repo.find_tree(e.id())?),
            _ => None,
        };
        match write_dir(repo, old.as_ref(), sub)? {
            Some(id) => {
                b.insert(
                    name.as_os_str().as_encoded_bytes(),
                    id,
                    FileMode::Tree.into(),
                )?;
            }
            None => remove(&mut b, name)?,
        }
    }
    for (name, entry) in &dir.leaves {
        match entry {
            Some((id, mode)) => {
                b.insert(name.as_os_str().as_encoded_bytes(), *id, *mode)?;
            }
            None => {
                // Only a file is removed by a removed path: a directory of that name
                // (a subdirectory change above) stays.
                let is_tree = b
                    .get(name.as_os_str().as_encoded_bytes())?
                    .is_some_and(|e| e.kind() == Some(ObjectType::Tree));
                if !is_tree {
                    remove(&mut b, name)?;
                }
            }
        }
    }
    if b.is_empty() {
        return Ok(None);
    }
    b.write().map(Some)
}

/// Removes `name` if present (libgit2 reports a missing name as a generic error).
fn remove(b: &mut git2::TreeBuilder<'_>, name: &OsString) -> Result<(), git2::Error> {
    let name = name.as_os_str().as_encoded_bytes();
    if b.get(name)?.is_some() {
        b.remove(name)?;
    }
    Ok(())
}

/// The tree git writes from an index holding `files` (path, text, mode): what a
/// built tree is compared with in this crate's tests.
#[cfg(test)]
pub(crate) fn tree_from_index(repo: &Repository, files: &[(&str, &str, u32)]) -> Oid {
    let mut index = git2::Index::new().unwrap();
    for (path, text, mode) in files {
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: *mode,
            uid: 0,
            gid: 0,
            file_size: 0,
            id: repo.blob(text.as_bytes()).unwrap(),
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index.add(&entry).unwrap();
    }
    index.write_tree_to(repo).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A repository with a committed tree of `files` (path → text), via an index, as git
    /// would write it; returns it and the tree id.
    fn repo_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Repository, Oid) {
        let d = tempfile::tempdir().unwrap();
        let repo = Repository::init(d.path()).unwrap();
        let id = index_tree(&repo, files);
        (d, repo, id)
    }

    fn index_tree(repo: &Repository, files: &[(&str, &str)]) -> Oid {
        let with_modes: Vec<(&str, &str, u32)> = files
            .iter()
            .map(|(p, t)| {
                (
                    *p,
                    *t,
                    if p.ends_with(".sh") {
                        0o100755
                    } else {
                        0o100644
                    },
                )
            })
            .collect();
        tree_from_index(repo, &with_modes)
    }

    fn apply(repo: &Repository, base: Oid, changes: &[(&str, Option<&str>)]) -> Oid {
        let tree = repo.find_tree(base).unwrap();
        let owned: Vec<(PathBuf, Entry)> = changes
            .iter()
            .map(|(p, t)| {
                let mode = if p.ends_with(".sh") {
                    0o100755
                } else {
                    0o100644
                };
                (
                    PathBuf::from(p),
                    t.map(|t| (repo.blob(t.as_bytes()).unwrap(), mode)),
                )
            })
            .collect();
        let refs: Vec<(&Path, Entry)> = owned.iter().map(|(p, e)| (p.as_path(), *e)).collect();
        tree_with(repo, &tree, &refs).unwrap()
    }

    #[test]
    fn matches_the_tree_git_writes_from_the_same_index() {
        let before = [
            ("a.yaml", "a"),
            ("apps/api/deploy.yaml", "api 1"),
            ("apps/api/run.sh", "run"),
            ("apps/web/deploy.yaml", "web 1"),
            ("apps/web/x/y/z.yaml", "deep"),
            ("z/only.yaml", "only"),
        ];
        let (_d, repo, base) = repo_with(&before);
        // Modify, add in a new nested directory, remove a file and a directory's last
        // file, keep an executable bit.
        let got = apply(
            &repo,
            base,
            &[
                ("apps/api/deploy.yaml", Some("api 2")),
                ("apps/api/run.sh", Some("run 2")),
                ("apps/new/sub/n.yaml", Some("new")),
                ("apps/web/x/y/z.yaml", None),
                ("z/only.yaml", None),
                ("b.yaml", Some("b")),
            ],
        );
        let want = index_tree(
            &repo,
            &[
                ("a.yaml", "a"),
                ("apps/api/deploy.yaml", "api 2"),
                ("apps/api/run.sh", "run 2"),
                ("apps/new/sub/n.yaml", "new"),
                ("apps/web/deploy.yaml", "web 1"),
                ("b.yaml", "b"),
            ],
        );
        assert_eq!(got, want);
    }

    #[test]
    fn an_unchanged_entry_gives_the_same_tree_and_removing_everything_the_empty_tree() {
        let (_d, repo, base) = repo_with(&[("d/a.yaml", "a"), ("b.yaml", "b")]);
        assert_eq!(apply(&repo, base, &[("d/a.yaml", Some("a"))]), base);
        // A missing path removed is no change.
        assert_eq!(apply(&repo, base, &[("d/none.yaml", None)]), base);
        let empty = apply(&repo, base, &[("d/a.yaml", None), ("b.yaml", None)]);
        assert_eq!(empty, index_tree(&repo, &[]));
    }

    #[test]
    fn a_file_can_become_a_directory() {
        let (_d, repo, base) = repo_with(&[("d", "file"), ("e.yaml", "e")]);
        let got = apply(&repo, base, &[("d", None), ("d/inner.yaml", Some("i"))]);
        assert_eq!(
            got,
            index_tree(&repo, &[("d/inner.yaml", "i"), ("e.yaml", "e")])
        );
    }
}
