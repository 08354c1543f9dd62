//! Secret references (`{env: NAME}` or `{file: /path}`) and the values they resolve to.
//!
//! Config files never hold secrets inline; they point at them. Resolving reads the
//! environment or a file, so it lives here and not in the pure core, which only has the
//! value type: a resolved [`Secret`] prints as `***` in `Debug` and `Display`, so a stray
//! `{:?}` in a log line cannot leak it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Deserialize;

pub use imagebump_core::secret::Secret;

/// Where a secret lives. Exactly one of `env` or `file`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSecretRef")]
pub enum SecretRef {
    /// The value of an environment variable.
    Env(String),
    /// The contents of a file, without a trailing newline.
    File(PathBuf),
}

/// The YAML shape; serde_norway maps enums to YAML tags, so a plain map is read here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecretRef {
    env: Option<String>,
    file: Option<PathBuf>,
}

impl TryFrom<RawSecretRef> for SecretRef {
    type Error = String;
    fn try_from(r: RawSecretRef) -> Result<Self, String> {
        match (r.env, r.file) {
            (Some(e), None) if !e.is_empty() => Ok(SecretRef::Env(e)),
            (None, Some(f)) if !f.as_os_str().is_empty() => Ok(SecretRef::File(f)),
            (Some(_), Some(_)) => Err("a secret reference takes env or file, not both".into()),
            _ => Err("a secret reference needs {env: NAME} or {file: /path}".into()),
        }
    }
}

/// A secret reference that could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set (or not valid UTF-8).
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// The file could not be read.
    #[error("cannot read secret file {path}: {reason}")]
    File {
        /// The file named by the reference.
        path: PathBuf,
        /// The I/O error, in words.
        reason: String,
    },
}

impl SecretRef {
    /// Reads the secret now. Files lose one trailing newline (`\n` or `\r\n`), since
    /// `echo token > file` is how most of them are written.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            SecretRef::Env(name) => std::env::var(name)
                .map(Secret::new)
                .map_err(|_| SecretError::MissingEnv(name.clone())),
            SecretRef::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| SecretError::File {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                let text = text
                    .strip_suffix("\r\n")
                    .or_else(|| text.strip_suffix('\n'))
                    .unwrap_or(&text);
                Ok(Secret::new(text))
            }
        }
    }

    /// Where the secret comes from, safe to print.
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Env(n) => format!("env {n}"),
            SecretRef::File(p) => format!("file {}", p.display()),
        }
    }
}

/// A resolved secret that follows its file: a `{file: …}` secret is read again when the
/// file's metadata (modification or change time, length, inode) changes — a rotated
/// password file, or a Kubernetes Secret update, which swaps the file under a symlink —
/// so the next request uses the new value without a restart. An `{env: …}` secret is
/// fixed. Checking costs one `stat` per use.
///
/// A file that cannot be read (mid-rotation, removed, no longer readable) keeps the last
/// good value: once per version of the file that fails, it warns (naming the file, never
/// the value) and counts a read error (see [`read_errors`]), then is tried again when
/// the file changes.
#[derive(Debug)]
pub struct LiveSecret {
    source: SecretRef,
    describe: String,
    last: Mutex<Last>,
}

#[derive(Debug)]
struct Last {
    /// The file's metadata when last looked at (read or failed).
    seen: Option<Stamp>,
    /// The last value read.
    value: Secret,
}

/// What identifies one version of a file (`ctime` so that a `chmod` that makes it
/// readable again counts as a change).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    changed: (i64, i64),
    len: u64,
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        changed: (m.ctime(), m.ctime_nsec()),
        len: m.len(),
        inode: m.ino(),
    })
}

/// Read errors by secret description (`file /run/x`), for
/// `imagebump_secret_read_errors_total`. Process-wide because secrets are resolved in
/// several places (registry client, git, receivers, notifications); bounded by the
/// number of configured `{file: …}` secrets.
static READ_ERRORS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

fn count_errors(describe: &str, add: u64) {
    let mut m = READ_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
    *m.entry(describe.to_string()).or_insert(0) += add;
}

/// Read errors of followed secret files so far, by the reference's description (never
/// the value); every followed file is listed, at 0 until it fails.
pub fn read_errors() -> BTreeMap<String, u64> {
    READ_ERRORS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// [`read_errors`] as an OpenMetrics counter family, `imagebump_secret_read_errors`.
pub fn read_errors_metrics() -> String {
    let mut out = String::from(
        "# HELP imagebump_secret_read_errors Secret files that could not be read after they changed (the previous value is kept).\n# TYPE imagebump_secret_read_errors counter\n",
    );
    for (secret, n) in read_errors() {
        let label = secret
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        out.push_str(&format!(
            "imagebump_secret_read_errors_total{{secret=\"{label}\"}} {n}\n"
        ));
    }
    out
}

impl LiveSecret {
    /// Resolves the secret now (failing like [`SecretRef::resolve`]) and keeps
    /// following it.
    pub fn new(source: &SecretRef) -> Result<LiveSecret, SecretError> {
        let seen = match source {
            SecretRef::File(p) => stamp(p),
            SecretRef::Env(_) => None,
        };
        let value = source.resolve()?;
        let describe = source.describe();
        if let SecretRef::File(_) = source {
            count_errors(&describe, 0);
        }
        Ok(LiveSecret {
            source: source.clone(),
            describe,
            last: Mutex::new(Last { seen, value }),
        })
    }

    /// Where the secret comes from, safe to print.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// The value as of now: re-read when the file changed; the last good value when it
    /// cannot be read.
    pub fn current(&self) -> Secret {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let SecretRef::File(p) = &self.source {
            let now = stamp(p);
            if now != last.seen {
                last.seen = now;
                match self.source.resolve() {
                    Ok(v) => last.value = v,
                    Err(e) => {
                        count_errors(&self.describe, 1);
                        tracing::warn!(secret = %self.describe, error = %e,
                            "cannot read the rotated secret; keeping the previous value");
                    }
                }
            }
        }
        last.value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_secret_follows_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "old\n").unwrap();
        let s = LiveSecret::new(&SecretRef::File(p.clone())).unwrap();
        assert_eq!(s.current().expose(), "old");
        // Like a Kubernetes Secret update: a new file renamed over the old one.
        let tmp = dir.path().join("pw.new");
        std::fs::write(&tmp, "rotated\n").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(s.current().expose(), "rotated");
        std::fs::remove_file(&p).unwrap();
        assert_eq!(
            s.current().expose(),
            "rotated",
            "a missing file keeps the value"
        );
    }

    #[test]
    fn an_unreadable_rotated_file_keeps_the_value_and_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tok");
        std::fs::write(&p, "good\n").unwrap();
        let r = SecretRef::File(p.clone());
        let s = LiveSecret::new(&r).unwrap();
        let errors = || read_errors().get(&r.describe()).copied();
        assert_eq!(errors(), Some(0), "listed at 0 from the start");
        // Rotated to something that is not a file of text (reading fails, stat works:
        // root may read any mode, so permissions cannot make it fail here).
        std::fs::remove_file(&p).unwrap();
        std::fs::create_dir(&p).unwrap();
        assert_eq!(s.current().expose(), "good");
        assert_eq!(s.current().expose(), "good");
        assert_eq!(errors(), Some(1), "one failed version, one error");
        let text = read_errors_metrics();
        let line = format!(
            "imagebump_secret_read_errors_total{{secret=\"file {}\"}} 1\n",
            p.display()
        );
        assert!(text.contains(&line), "{text}");
        assert!(!text.contains("good"));
        // Fixed: the next use reads it.
        std::fs::remove_dir(&p).unwrap();
        std::fs::write(&p, "fixed\n").unwrap();
        assert_eq!(s.current().expose(), "fixed");
        assert_eq!(errors(), Some(1));
    }

    #[test]
    fn parses_both_forms_and_rejects_others() {
        let e: SecretRef = serde_norway::from_str("{env: TOKEN}").unwrap();
        assert_eq!(e, SecretRef::Env("TOKEN".into()));
        let f: SecretRef = serde_norway::from_str("file: /run/x").unwrap();
        assert_eq!(f, SecretRef::File("/run/x".into()));
        assert!(serde_norway::from_str::<SecretRef>("{value: abc}").is_err());
        assert!(serde_norway::from_str::<SecretRef>("plaintext").is_err());
    }

    #[test]
    fn resolves_file_without_trailing_newline_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tok");
        std::fs::write(&p, "s3cret\n").unwrap();
        let s = SecretRef::File(p).resolve().unwrap();
        assert_eq!(s.expose(), "s3cret");
        assert!(!format!("{s:?} {s}").contains("s3cret"));
        let missing = SecretRef::Env("IMAGEBUMP_SURELY_UNSET_VAR".into()).resolve();
        assert_eq!(
            missing,
            Err(SecretError::MissingEnv("IMAGEBUMP_SURELY_UNSET_VAR".into()))
        );
    }
}
