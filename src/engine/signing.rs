//! `signing:` → a [`CommitSigner`] for the repository's working copy.
//!
//! The key (and passphrase) are resolved and checked at start-up, then followed like
//! other `{file: …}` secrets ([`LiveSecret`]): when the text changes, the key is parsed
//! again before the next commit; a rotated key that does not parse (or that the
//! passphrase does not unlock) keeps the last good one, with a warning. The crypto is the
//! git crate's ([`SshSigner`], [`OpenPgpSigner`]).

use std::sync::{Arc, Mutex};

use anyhow::Context;
use imagebump_git::{CommitSigner, OpenPgpSigner, SignKeyError, SshSigner};

use crate::config::{SigningFormat, SigningSection};
use crate::secret::{LiveSecret, Secret};

/// The signer a repository's `signing:` describes: its key (and passphrase) resolved now,
/// so a missing, unreadable or unusable key fails start-up, and followed afterwards.
pub fn signer(s: &SigningSection) -> anyhow::Result<Arc<dyn CommitSigner>> {
    let key = LiveSecret::new(&s.key).with_context(|| format!("key: {}", s.key.describe()))?;
    let passphrase = match &s.passphrase {
        Some(p) => {
            Some(LiveSecret::new(p).with_context(|| format!("passphrase: {}", p.describe()))?)
        }
        None => None,
    };
    let describe = format!("{} key ({})", format_name(s.format), key.describe());
    let texts = (key.current(), passphrase.as_ref().map(LiveSecret::current));
    let parsed = build(s.format, &texts.0, texts.1.as_ref())
        .with_context(|| format!("key: {}", key.describe()))?;
    Ok(Arc::new(LiveSigner {
        format: s.format,
        key,
        passphrase,
        describe,
        last: Mutex::new(Last { texts, parsed }),
    }))
}

fn format_name(f: SigningFormat) -> &'static str {
    match f {
        SigningFormat::Ssh => "SSH signing",
        SigningFormat::Openpgp => "OpenPGP signing",
    }
}

/// Parses the key text with the format's signer (which checks it can sign).
fn build(
    format: SigningFormat,
    key: &Secret,
    passphrase: Option<&Secret>,
) -> Result<Arc<dyn CommitSigner>, SignKeyError> {
    let pass = passphrase.map(Secret::expose);
    Ok(match format {
        SigningFormat::Ssh => Arc::new(SshSigner::new(key.expose(), pass)?),
        SigningFormat::Openpgp => Arc::new(OpenPgpSigner::new(key.expose(), pass)?),
    })
}

/// A signer that follows its key file.
struct LiveSigner {
    format: SigningFormat,
    key: LiveSecret,
    passphrase: Option<LiveSecret>,
    /// Safe to print: the format and where the key lives.
    describe: String,
    last: Mutex<Last>,
}

struct Last {
    /// The key and passphrase texts last parsed (good or bad), so a bad rotation is
    /// parsed, and warned about, once.
    texts: (Secret, Option<Secret>),
    /// The signer of the last good texts.
    parsed: Arc<dyn CommitSigner>,
}

impl LiveSigner {
    /// The signer for the key as of now.
    fn current(&self) -> Arc<dyn CommitSigner> {
        let texts = (
            self.key.current(),
            self.passphrase.as_ref().map(LiveSecret::current),
        );
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if texts != last.texts {
            match build(self.format, &texts.0, texts.1.as_ref()) {
                Ok(s) => {
                    tracing::info!(key = %self.describe, "signing with the rotated key");
                    last.parsed = s;
                }
                Err(e) => tracing::warn!(key = %self.describe, error = %e,
                    "cannot use the rotated signing key; keeping the previous one"),
            }
            last.texts = texts;
        }
        last.parsed.clone()
    }
}

impl CommitSigner for LiveSigner {
    fn sign(&self, commit: &[u8]) -> Result<String, String> {
        self.current()
            .sign(commit)
            .map_err(|e| format!("{}: {e}", self.describe))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::{Command, Stdio};

    use imagebump_testbed::signing::SshSigningKey;

    use super::*;
    use crate::secret::SecretRef;

    /// `ssh-keygen -Y verify` (what git runs): does `sig` sign `data` with `key` in the
    /// `git` namespace?
    fn checks(key: &SshSigningKey, data: &[u8], sig: &str, dir: &Path) -> bool {
        let sig_file = dir.join("sig");
        std::fs::write(&sig_file, sig).unwrap();
        let allowed = key.allowed_signers(&[key]);
        let mut child = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", "git", "-I"])
            .arg(imagebump_testbed::signing::SIGNER_EMAIL)
            .arg("-f")
            .arg(&allowed)
            .arg("-s")
            .arg(&sig_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(data).unwrap();
        child.wait().unwrap().success()
    }

    fn rotate(path: &Path, text: &str) {
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn a_rotated_key_signs_the_next_commit_and_a_bad_rotation_keeps_the_last_good_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        let old = SshSigningKey::generate("ed25519", "");
        std::fs::write(&file, old.private_text()).unwrap();
        let s = signer(&SigningSection {
            format: SigningFormat::Ssh,
            key: SecretRef::File(file.clone()),
            passphrase: None,
        })
        .unwrap();
        let data = b"tree 0\n\ncommit\n";
        assert!(checks(&old, data, &s.sign(data).unwrap(), dir.path()));

        let new = SshSigningKey::generate("ed25519", "");
        rotate(&file, &new.private_text());
        let sig = s.sign(data).unwrap();
        assert!(checks(&new, data, &sig, dir.path()));
        assert!(!checks(&old, data, &sig, dir.path()), "still the old key");

        rotate(&file, "garbage\n");
        let sig = s.sign(data).unwrap();
        assert!(checks(&new, data, &sig, dir.path()), "the last good key");
    }

    #[test]
    fn a_bad_key_fails_at_start_naming_the_reference_not_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "s3cret junk\n").unwrap();
        for format in [SigningFormat::Ssh, SigningFormat::Openpgp] {
            let e = signer(&SigningSection {
                format,
                key: SecretRef::File(file.clone()),
                passphrase: None,
            })
            .err()
            .expect("a bad key is refused");
            let text = format!("{e:#}");
            assert!(text.contains(&file.display().to_string()), "{text}");
            assert!(!text.contains("s3cret") && !text.contains('\n'), "{text}");
        }
        let missing = signer(&SigningSection {
            format: SigningFormat::Ssh,
            key: SecretRef::File(dir.path().join("absent")),
            passphrase: None,
        });
        assert!(format!("{:#}", missing.err().unwrap()).contains("absent"));
    }
}
