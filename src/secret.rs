//! Secret references (`{env: NAME}` or `{file: /path}`) and the values they resolve to.
//!
//! Config files never hold secrets inline; they point at them. Resolving reads the
//! environment or a file, so it lives here and not in the pure core, which only has the
//! value type: a resolved [`Secret`] prints as `***` in `Debug` and `Display`, so a stray
//! `{:?}` in a log line cannot leak it.

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
/// file's metadata (modification time, length, inode) changes — a rotated password
/// file, or a Kubernetes Secret update, which swaps the file under a symlink — so the
/// next request uses the new value without a restart. An `{env: …}` secret is fixed.
/// Checking costs one `stat` per use.
#[derive(Debug)]
pub struct LiveSecret {
    source: SecretRef,
    /// The file's metadata when last read, and the value read then.
    last: Mutex<(Option<Stamp>, Secret)>,
}

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode: m.ino(),
    })
}

impl LiveSecret {
    /// Resolves the secret now (failing like [`SecretRef::resolve`]) and keeps
    /// following it.
    pub fn new(source: &SecretRef) -> Result<LiveSecret, SecretError> {
        let st = match source {
            SecretRef::File(p) => stamp(p),
            SecretRef::Env(_) => None,
        };
        let value = source.resolve()?;
        Ok(LiveSecret {
            source: source.clone(),
            last: Mutex::new((st, value)),
        })
    }

    /// The value as of now: re-read when the file changed. A file that cannot be read
    /// (mid-rotation, removed) keeps the last value, with a warning, and is tried again
    /// on the next use.
    pub fn current(&self) -> Secret {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let SecretRef::File(p) = &self.source {
            let now = stamp(p);
            if now.is_some() && now != last.0 {
                match self.source.resolve() {
                    Ok(v) => *last = (now, v),
                    Err(e) => tracing::warn!(error = %e, "keeping the previous secret value"),
                }
            }
        }
        last.1.clone()
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
