//! The file sources plans read through: a git working tree, or the local file system for
//! `set-image` without `--git`. Both refuse paths that leave their root.

use std::path::{Path, PathBuf};

use imagebump_core::plan::{FileSource, ReadError};
use imagebump_git::{safe_join, yaml_files};

/// Reads files of a directory tree, refusing paths that leave it (`..`, symlinks). With
/// an empty root, paths are taken as given (relative to the current directory).
pub struct Tree<'a>(pub &'a Path);

impl Tree<'_> {
    fn full(&self, rel: &Path) -> Result<PathBuf, String> {
        if self.0.as_os_str().is_empty() {
            Ok(rel.to_path_buf())
        } else if rel.as_os_str().is_empty() || rel == Path::new(".") {
            // The whole tree (`set-image --git` without a path).
            Ok(self.0.to_path_buf())
        } else {
            safe_join(self.0, rel).map_err(|e| e.to_string())
        }
    }
}

impl FileSource for Tree<'_> {
    fn read(&self, rel: &Path) -> Result<Option<String>, ReadError> {
        let p = self.full(rel).map_err(ReadError::Other)?;
        match std::fs::read(&p) {
            Ok(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|_| ReadError::NotText(rel.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ReadError::Other(format!("{}: {e}", rel.display()))),
        }
    }

    fn list(&self, rel: &Path) -> Result<Vec<PathBuf>, String> {
        let p = self.full(rel)?;
        let mut out = Vec::new();
        if p.is_file() {
            out.push(rel.to_path_buf());
        } else if p.is_dir() {
            for f in yaml_files(&p).map_err(|e| format!("{}: {e}", rel.display()))? {
                let shown = if self.0.as_os_str().is_empty() {
                    f
                } else {
                    f.strip_prefix(self.0)
                        .map_err(|e| e.to_string())?
                        .to_path_buf()
                };
                out.push(shown);
            }
        } else {
            return Err(format!("{}: no such file or directory", rel.display()));
        }
        out.sort();
        Ok(out)
    }
}
