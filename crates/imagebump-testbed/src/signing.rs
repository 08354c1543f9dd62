//! Real signing keys and the git CLI's verdict on signed commits: SSH keys made with
//! `ssh-keygen`, OpenPGP keys with GnuPG in a throw-away `GNUPGHOME`, and
//! `git verify-commit` with `gpg.ssh.allowedSignersFile` or that keyring.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

use crate::gitserver::git_cmd;

/// The principal (and committer e-mail) signed commits are checked for.
pub const SIGNER_EMAIL: &str = "imagebump@example.invalid";

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("run a signing tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An SSH key pair made with `ssh-keygen`, and the allowed-signers file that trusts it.
pub struct SshSigningKey {
    dir: TempDir,
    /// The private key file (OpenSSH format).
    pub private_key: PathBuf,
    /// `<algorithm> <base64>` of the public key.
    pub public_key: String,
}

impl SshSigningKey {
    /// `ssh-keygen -t <kind> -N <passphrase>` (`kind`: `ed25519`, `rsa`, `ecdsa`).
    pub fn generate(kind: &str, passphrase: &str) -> SshSigningKey {
        let dir = tempfile::tempdir().unwrap();
        let private_key = dir.path().join("id");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", passphrase, "-C", SIGNER_EMAIL, "-f"])
            .arg(&private_key));
        let pubtext = std::fs::read_to_string(dir.path().join("id.pub")).unwrap();
        let public_key = pubtext
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        SshSigningKey {
            dir,
            private_key,
            public_key,
        }
    }

    /// The private key's text.
    pub fn private_text(&self) -> String {
        std::fs::read_to_string(&self.private_key).unwrap()
    }

    /// A `gpg.ssh.allowedSignersFile` trusting these keys for [`SIGNER_EMAIL`] in the
    /// `git` namespace, in this key's directory.
    pub fn allowed_signers(&self, keys: &[&SshSigningKey]) -> PathBuf {
        let path = self.dir.path().join("allowed_signers");
        let lines: String = keys
            .iter()
            .map(|k| format!("{SIGNER_EMAIL} namespaces=\"git\" {}\n", k.public_key))
            .collect();
        std::fs::write(&path, lines).unwrap();
        path
    }
}

/// `git verify-commit <rev>` in `clone` with SSH signatures trusted per `allowed_signers`.
pub fn verify_ssh(clone: &Path, allowed_signers: &Path, rev: &str) -> Output {
    git_cmd(Some(clone))
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!(
            "gpg.ssh.allowedSignersFile={}",
            allowed_signers.display()
        ))
        .args(["verify-commit", "--raw", rev])
        .stdin(Stdio::null())
        .output()
        .expect("run git verify-commit")
}

/// A GnuPG home with one key (its agent is stopped on drop).
pub struct GpgHome {
    dir: TempDir,
    /// The key's fingerprint.
    pub fingerprint: String,
}

impl GpgHome {
    /// `gpg --quick-gen-key` for `imagebump <SIGNER_EMAIL>` with `passphrase` ("" for
    /// none), default algorithm.
    pub fn generate(passphrase: &str) -> GpgHome {
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut home = GpgHome {
            dir,
            fingerprint: String::new(),
        };
        run(home
            .gpg(passphrase)
            .args(["--quick-gen-key"])
            .arg(format!("imagebump <{SIGNER_EMAIL}>"))
            .args(["default", "default", "never"]));
        let listing = run(home.gpg("").args(["--with-colons", "--list-secret-keys"]));
        home.fingerprint = String::from_utf8_lossy(&listing.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .and_then(|l| l.split(':').find(|f| !f.is_empty()))
            .expect("a fingerprint")
            .to_string();
        home
    }

    /// The home directory (`GNUPGHOME`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn gpg(&self, passphrase: &str) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.dir.path())
            .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
            .args(["--passphrase", passphrase]);
        c
    }

    /// `gpg --export-secret-keys --armor` (the passphrase unlocks the export).
    pub fn export_secret(&self, passphrase: &str) -> String {
        let out =
            run(self
                .gpg(passphrase)
                .args(["--armor", "--export-secret-keys", &self.fingerprint]));
        String::from_utf8(out.stdout).unwrap()
    }

    /// `git verify-commit <rev>` in `clone` with this keyring.
    pub fn verify(&self, clone: &Path, rev: &str) -> Output {
        git_cmd(Some(clone))
            .env("GNUPGHOME", self.dir.path())
            .args(["verify-commit", "--raw", rev])
            .stdin(Stdio::null())
            .output()
            .expect("run git verify-commit")
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        // gpg started an agent for this home; it would outlive the test otherwise.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.dir.path())
            .args(["--kill", "gpg-agent"])
            .stdin(Stdio::null())
            .output();
    }
}
