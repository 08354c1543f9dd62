//! Signed commits (issue 12): every commit the working copy makes — a plain write and a
//! push-branch commit replayed onto a new base — carries a signature the real git CLI
//! accepts: `git verify-commit` with `gpg.ssh.allowedSignersFile` for SSH keys made by
//! `ssh-keygen`, and with a GnuPG keyring for OpenPGP keys made by `gpg`. Tampered,
//! unsigned and foreign-key commits fail the same check.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{cfg, fast_retry, land, land_file};
use imagebump_git::{
    CommitSigner, GitAuth, GitError, OpenPgpSigner, SignKeyError, SshSigner, WorkingCopy, TRAILER,
};
use imagebump_testbed::gitserver::{git, git_cmd, BareRepo, CliClone};
use imagebump_testbed::signing::{verify_ssh, GpgHome, SshSigningKey, SIGNER_EMAIL};

const FILES: &[(&str, &str)] = &[("apps/app/deploy.yaml", "image: app:1\n")];

fn msg(subject: &str) -> String {
    format!("{subject}\n\n{TRAILER}: 0.0.0-test\n")
}

/// A working copy of `origin` that signs with `signer`, committing as [`SIGNER_EMAIL`].
fn signing_copy(
    state: &Path,
    origin: &BareRepo,
    signer: Arc<dyn CommitSigner>,
    push_branch: Option<&str>,
) -> WorkingCopy {
    let mut c = cfg(&origin.file_url(), GitAuth::None);
    c.author_email = SIGNER_EMAIL.into();
    c.push_branch = push_branch.map(str::to_string);
    c.signer = Some(signer);
    WorkingCopy::open(state, c).unwrap()
}

fn write_one(wc: &mut WorkingCopy, text: &str, subject: &str) -> String {
    land_file(wc, "apps/app/deploy.yaml", text, &msg(subject))
        .unwrap()
        .expect("a commit")
        .pushed
        .commit
}

fn ok(out: &std::process::Output) -> bool {
    out.status.success()
}

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The commit `rev` in `clone` with its message changed, written as a new object with
/// the old signature header: what a forger would try.
fn tampered(clone: &Path, rev: &str) -> String {
    let raw = git(Some(clone), &["cat-file", "commit", rev]);
    assert!(raw.contains("gpgsig "), "not signed: {raw}");
    let forged = raw.replacen("\n\nupdate", "\n\nforged update", 1);
    assert_ne!(forged, raw);
    let file = clone.join("../forged");
    std::fs::write(&file, forged).unwrap();
    git(
        Some(clone),
        &["hash-object", "-t", "commit", "-w", file.to_str().unwrap()],
    )
    .trim()
    .to_string()
}

#[test]
fn ssh_signed_commits_verify_with_git_and_forgeries_do_not() {
    let key = SshSigningKey::generate("ed25519", "");
    let other = SshSigningKey::generate("ed25519", "");
    let allowed = key.allowed_signers(&[&key]);
    let origin = BareRepo::with_files(FILES);
    let state = tempfile::tempdir().unwrap();
    let signer = Arc::new(SshSigner::new(&key.private_text(), None).unwrap());
    let mut wc = signing_copy(state.path(), &origin, signer, None);
    let commit = write_one(&mut wc, "image: app:2\n", "update app to 2");
    assert_eq!(origin.head("main").unwrap(), commit);

    let human = CliClone::new(&origin.file_url());
    let out = verify_ssh(human.path(), &allowed, "HEAD");
    assert!(ok(&out), "{}", said(&out));
    assert!(
        said(&out).contains(&format!("Good \"git\" signature for {SIGNER_EMAIL}")),
        "{}",
        said(&out)
    );
    // The object is what git itself writes: the signature header's continuation lines
    // and nothing more, and fsck finds nothing to say.
    let raw = git(Some(human.path()), &["cat-file", "commit", "HEAD"]);
    assert!(
        raw.contains("\ngpgsig -----BEGIN SSH SIGNATURE-----\n "),
        "{raw}"
    );
    assert!(
        raw.contains(" -----END SSH SIGNATURE-----\n\nupdate app to 2"),
        "{raw}"
    );
    assert!(!raw.contains("\n \n"), "{raw}");
    git(Some(origin.path()), &["fsck", "--strict", "--no-dangling"]);
    // Another key is not trusted; a changed message breaks the signature; the seed
    // commit (made by the CLI, unsigned) has none.
    let out = verify_ssh(human.path(), &other.allowed_signers(&[&other]), "HEAD");
    assert!(!ok(&out), "verified with an untrusted key: {}", said(&out));
    let forged = tampered(human.path(), "HEAD");
    let out = verify_ssh(human.path(), &allowed, &forged);
    assert!(!ok(&out), "a forged commit verified: {}", said(&out));
    let out = verify_ssh(human.path(), &allowed, "HEAD~1");
    assert!(!ok(&out), "an unsigned commit verified: {}", said(&out));
}

#[test]
fn rsa_ecdsa_and_passphrase_protected_ssh_keys_sign_too() {
    for (kind, pass) in [("rsa", ""), ("ecdsa", ""), ("ed25519", "correct horse")] {
        let key = SshSigningKey::generate(kind, pass);
        let text = key.private_text();
        if !pass.is_empty() {
            assert_eq!(
                SshSigner::new(&text, None).unwrap_err(),
                SignKeyError::NeedsPassphrase
            );
            assert_eq!(
                SshSigner::new(&text, Some("wrong")).unwrap_err(),
                SignKeyError::WrongPassphrase
            );
        }
        let signer = SshSigner::new(&text, Some(pass).filter(|p| !p.is_empty())).unwrap();
        let origin = BareRepo::with_files(FILES);
        let state = tempfile::tempdir().unwrap();
        let mut wc = signing_copy(state.path(), &origin, Arc::new(signer), None);
        write_one(&mut wc, "image: app:2\n", "update app to 2");
        let human = CliClone::new(&origin.file_url());
        let out = verify_ssh(human.path(), &key.allowed_signers(&[&key]), "HEAD");
        assert!(ok(&out), "{kind}: {}", said(&out));
    }
}

#[test]
fn replayed_push_branch_commits_are_signed_anew() {
    const PUSH: &str = "imagebump/updates";
    let key = SshSigningKey::generate("ed25519", "");
    let allowed = key.allowed_signers(&[&key]);
    let origin = BareRepo::with_files(&[
        ("apps/app/deploy.yaml", "image: app:1\n"),
        ("apps/other/deploy.yaml", "image: other:1\n"),
    ]);
    let human = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let signer = Arc::new(SshSigner::new(&key.private_text(), None).unwrap());
    let mut wc = signing_copy(state.path(), &origin, signer, Some(PUSH));
    let a = write_one(&mut wc, "image: app:2\n", "update app to 2");

    // main moves on: the next write replays A onto it (a new commit, signed again).
    human.commit_and_push(&[("human.txt", "1\n")], "human 1");
    let m = msg("update other to 2");
    let b = land(&mut wc, fast_retry(5), &m, |wc, _| {
        wc.write_file(Path::new("apps/other/deploy.yaml"), "image: other:2\n")?;
        Ok(vec![PathBuf::from("apps/other/deploy.yaml")])
    })
    .unwrap()
    .unwrap()
    .pushed
    .commit;
    assert_eq!(
        origin.log_subjects(PUSH),
        ["update other to 2", "update app to 2", "human 1", "initial"]
    );
    git(Some(human.path()), &["fetch", "-q", "origin", PUSH]);
    let replayed = git(Some(human.path()), &["rev-parse", "FETCH_HEAD~1"]);
    assert_ne!(replayed.trim(), a, "A was not replayed");
    for rev in [b.as_str(), replayed.trim()] {
        let out = verify_ssh(human.path(), &allowed, rev);
        assert!(ok(&out), "{rev}: {}", said(&out));
    }
}

#[test]
fn openpgp_signed_commits_verify_with_gnupg() {
    let home = GpgHome::generate("");
    let signer = OpenPgpSigner::new(&home.export_secret(""), None).unwrap();
    let origin = BareRepo::with_files(FILES);
    let state = tempfile::tempdir().unwrap();
    let mut wc = signing_copy(state.path(), &origin, Arc::new(signer), None);
    write_one(&mut wc, "image: app:2\n", "update app to 2");
    let human = CliClone::new(&origin.file_url());
    let out = home.verify(human.path(), "HEAD");
    assert!(ok(&out), "{}", said(&out));
    assert!(
        said(&out).contains("GOODSIG") && said(&out).contains(&home.fingerprint),
        "{}",
        said(&out)
    );
    let forged = tampered(human.path(), "HEAD");
    let out = home.verify(human.path(), &forged);
    assert!(!ok(&out), "a forged commit verified: {}", said(&out));
    // A keyring without the key cannot vouch for it.
    let stranger = GpgHome::generate("");
    let out = stranger.verify(human.path(), "HEAD");
    assert!(!ok(&out), "verified without the key: {}", said(&out));
}

#[test]
fn passphrase_protected_openpgp_key() {
    let home = GpgHome::generate("open sesame");
    let text = home.export_secret("open sesame");
    assert!(text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    assert_eq!(
        OpenPgpSigner::new(&text, None).unwrap_err(),
        SignKeyError::NeedsPassphrase
    );
    let wrong = OpenPgpSigner::new(&text, Some("open barley")).unwrap_err();
    assert_eq!(wrong, SignKeyError::WrongPassphrase);
    assert!(!wrong.to_string().contains("barley"));
    let signer = OpenPgpSigner::new(&text, Some("open sesame")).unwrap();
    let origin = BareRepo::with_files(FILES);
    let state = tempfile::tempdir().unwrap();
    let mut wc = signing_copy(state.path(), &origin, Arc::new(signer), None);
    write_one(&mut wc, "image: app:2\n", "update app to 2");
    let human = CliClone::new(&origin.file_url());
    let out = home.verify(human.path(), "HEAD");
    assert!(ok(&out), "{}", said(&out));
}

/// A signer that refuses, as a rotated-away key or a broken agent would.
struct Refusing;

impl CommitSigner for Refusing {
    fn sign(&self, _: &[u8]) -> Result<String, String> {
        Err("the key is gone".into())
    }
}

#[test]
fn a_signing_failure_commits_nothing_and_says_so() {
    let origin = BareRepo::with_files(FILES);
    let before = origin.head("main").unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut wc = signing_copy(state.path(), &origin, Arc::new(Refusing), None);
    let err = land_file(&mut wc, "apps/app/deploy.yaml", "image: app:2\n", &msg("x")).unwrap_err();
    assert!(matches!(err, GitError::Sign { .. }), "{err:?}");
    assert!(err.to_string().contains("the key is gone"), "{err}");
    assert_eq!(origin.head("main").unwrap(), before);
    // Nothing half-made is left behind: the copy's branch still points at the base.
    let local = git_cmd(Some(wc.root()))
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&local.stdout).trim(), before);
}
