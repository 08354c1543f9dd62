//! Path safety: every path the copy writes or stages stays inside the repository.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::{io_err, GitError};

/// Check a path to write or stage: relative, no `..`, not inside `.git`, and not leaving
/// `root` through a symlink. Returns `root.join(rel)`.
/// [`WorkingCopy::write_file`](crate::WorkingCopy::write_file) and
/// [`WorkingCopy::commit`](crate::WorkingCopy::commit) call it on every path.
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
    if first {
        return Err(refuse("names the repository root"));
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

/// `rel` as the index spells it: `./a/b` → `a/b`. Only for paths `safe_join` accepted.
pub(crate) fn normalise(rel: &Path) -> PathBuf {
    rel.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(safe_join(root, Path::new(".")).is_err());
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        assert!(safe_join(root, Path::new("out/f.yaml")).is_err());
        fs::create_dir(root.join("in")).unwrap();
        std::os::unix::fs::symlink(root.join("in"), root.join("alias")).unwrap();
        assert!(safe_join(root, Path::new("alias/f.yaml")).is_ok());
        assert_eq!(normalise(Path::new("./a/./b")), PathBuf::from("a/b"));
    }
}
