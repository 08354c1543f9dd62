//! Reading policy files from disk: the I/O half of policy loading. Parsing and the checks
//! across files are pure and live in `imagebump_core::policy`; this module only finds the
//! files, reads them and hands their text over with the path as the name for errors.

use std::path::{Path, PathBuf};

use imagebump_core::policy::{self, LoadedPolicy, PolicyFile, Problem};

/// Reads and parses one policy file.
pub fn load_policy(path: &Path) -> Result<PolicyFile, Problem> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Problem::new(path, format!("cannot read: {e}")))?;
    policy::parse_policy(path, &text)
}

/// Loads every `*.yaml`/`*.yml` file under the given directories (or files), returning
/// the good ones and every problem found in the bad ones; also flags duplicated applications and
/// duplicated marker ids across files.
pub fn load_all(paths: &[PathBuf]) -> (Vec<LoadedPolicy>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        if p.is_dir() {
            collect_yaml(p, &mut files, &mut problems);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            problems.push(Problem::new(p, "no such file or directory"));
        }
    }
    files.sort();
    let mut parsed = Vec::new();
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::new(&f, format!("cannot read: {e}")));
                continue;
            }
        };
        // Every problem of the file, not only the first.
        match policy::parse_policy_all(&f, &text) {
            Ok(policy) => parsed.push(LoadedPolicy { path: f, policy }),
            Err(p) => problems.extend(p),
        }
    }
    let (loaded, clashes) = policy::check_set(parsed);
    problems.extend(clashes);
    (loaded, problems)
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Problem::new(dir, format!("cannot read directory: {e}")));
            return;
        }
    };
    for e in entries.flatten() {
        let p = e.path();
        // A Kubernetes ConfigMap volume holds the files twice more in `..data` and
        // `..<timestamp>` (swapped atomically on update): read only the visible links.
        if e.file_name().to_string_lossy().starts_with("..") {
            continue;
        }
        if p.is_dir() {
            collect_yaml(&p, out, problems);
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// Every target whose `git:` the service config's repositories (`names`) cannot satisfy,
/// at its line (read through `src`, the tree the policies were read from).
pub fn repository_problems(
    loaded: &[LoadedPolicy],
    names: &[String],
    src: &dyn imagebump_core::plan::FileSource,
) -> Vec<Problem> {
    policy::check_repositories(loaded, names)
        .into_iter()
        .map(|rp| {
            let mut p = Problem::new(&rp.file, rp.message);
            let text = src.read(&rp.file).ok().flatten();
            p.line = text
                .as_deref()
                .and_then(|t| imagebump_core::edit::locate::line_of(t, &rp.at));
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ConfigMap volume: `web.yaml -> ..data/web.yaml`, `..data -> ..2026_12_01…`.
    /// Read as one file, not three (three would be a duplicated application).
    #[test]
    fn a_configmap_volume_is_read_once_per_file() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let ts = d.join("..2026_12_01_00_00_00.1");
        std::fs::create_dir(&ts).unwrap();
        std::fs::write(
            ts.join("web.yaml"),
            "application: web\nimages:\n  - repository: r.example/web\n    semver: \"~1.0\"\n    targets:\n      - manifest: a.yaml\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("..2026_12_01_00_00_00.1", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/web.yaml", d.join("web.yaml")).unwrap();
        let (loaded, problems) = load_all(&[d.to_path_buf()]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].path, d.join("web.yaml"));
    }
}
