//! Finding the YAML and JSON files under a path, and writing files atomically.

use std::path::{Path, PathBuf};

/// True for the file names the editors handle: `*.yaml`, `*.yml`, `*.json`, in any case
/// (`*.YAML` is common in repositories edited on Windows and macOS).
pub fn is_yaml_or_json(p: &Path) -> bool {
    p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
        ["yaml", "yml", "json"]
            .iter()
            .any(|e| x.eq_ignore_ascii_case(e))
    })
}

/// Every YAML/JSON file under `dir`, recursively, sorted. Symlinks are not followed (a
/// link could lead out of a repository) and `.git` is skipped.
pub fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        let ft = e.file_type()?;
        if ft.is_symlink() || p.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if ft.is_dir() {
            walk(&p, out)?;
        } else if is_yaml_or_json(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Writes `text` to a temporary file beside `path` and renames it over, so a crash never
/// leaves a half-written file. Keeps the old file's permissions. When `path` is a symlink,
/// the file it resolves to is written and the link stays (renaming over the link would
/// replace it with a regular file and leave its target unchanged); a dangling link is an
/// error. Callers that must stay inside a directory check the link first (as
/// [`WorkingCopy::write_file`](crate::WorkingCopy::write_file) does).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let resolved;
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved = path.canonicalize()?;
            resolved.as_path()
        }
        _ => path,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_match_in_any_case() {
        for n in ["a.yaml", "a.YAML", "a.Yml", "a.JSON", "dir/b.yml"] {
            assert!(is_yaml_or_json(Path::new(n)), "{n}");
        }
        for n in ["a.txt", "yaml", "a.yaml.bak", "a.YAM"] {
            assert!(!is_yaml_or_json(Path::new(n)), "{n}");
        }
    }

    #[test]
    fn walks_upper_case_extensions_and_skips_git() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("x/.git")).unwrap();
        for f in ["x/A.YAML", "x/b.yml", "x/c.txt", "x/.git/d.yaml"] {
            std::fs::write(d.path().join(f), "a: 1\n").unwrap();
        }
        let got = yaml_files(&d.path().join("x")).unwrap();
        assert_eq!(
            got,
            vec![d.path().join("x/A.YAML"), d.path().join("x/b.yml")]
        );
    }
}
