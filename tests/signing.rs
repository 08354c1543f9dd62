//! Signed commits end to end (issue 12), from the user's side: the real binary, a real
//! CNCF Distribution registry, a `file://` bare repository, keys made by `ssh-keygen`
//! and `gpg`, and `git verify-commit` as the judge. `once` with `signing:` signs its
//! commit, and so does `imagebump run`, with a key file rotated while it runs (and the
//! last good key when the rotated one is no key); `hold`/`release` sign theirs;
//! `set-image --git` signs with the `IMAGEBUMP_SIGNING_*` variables; a bad key fails
//! start-up naming the key, never showing it.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imagebump_testbed::signing::{verify_ssh, GpgHome, SshSigningKey, SIGNER_EMAIL};
use support::cli::Run;
use support::gitserver::{BareRepo, CliClone};
use support::registry::{free_port, TestRegistry, TestRegistryOptions};

fn imagebump(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec![("IMAGEBUMP_LOG", "warn")];
    all.extend_from_slice(env);
    support::cli::run(cwd, args, &all)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The fleet of `support::fleet::web_fleet`, its config rewritten to commit as
/// [`SIGNER_EMAIL`] and sign with `signing` (a YAML flow map).
fn signed_fleet(dir: &Path, host: &str, signing: &str) -> BareRepo {
    let app = format!("kind: Pod\nspec:\n  containers:\n    - image: {host}/team/web:1.1.0\n");
    let repo = support::fleet::web_fleet(dir, host, &app);
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "stateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  author: {{name: imagebump, email: {SIGNER_EMAIL}}}\n  signing: {signing}\nregistries:\n  - host: {host}\n    insecure: true\n",
            d = dir.display()
        ),
    )
    .unwrap();
    repo
}

/// Wait (bounded) until `f` holds, checking every 20 ms.
fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `imagebump run`, killed on drop.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Replace `path` the way a Kubernetes Secret update does: a new file renamed over it.
fn rotate(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn once_signs_its_commits_with_the_configured_ssh_key_and_follows_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let h = registry.host();
    rt().block_on(async {
        registry.push_image("team/web", "1.1.0").await;
        registry.push_image("team/web", "1.2.0").await;
    });
    let old = SshSigningKey::generate("ed25519", "");
    let key_file = dir.join("signing_key");
    std::fs::write(&key_file, old.private_text()).unwrap();
    let repo = signed_fleet(
        dir,
        &h,
        &format!("{{format: ssh, key: {{file: {}}}}}", key_file.display()),
    );
    let cfg = dir.join("imagebump.yaml");
    let cfg = cfg.to_str().unwrap();

    let r = imagebump(dir, &["once", "--config", cfg], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(repo.commit_count("main"), 2, "{r:?}");
    let human = CliClone::new(&repo.file_url());
    let out = verify_ssh(human.path(), &old.allowed_signers(&[&old]), "HEAD");
    assert!(out.status.success(), "{}", said(&out));

    // The key is rotated: the next commit is signed with the new one, which the old
    // key's allowed-signers file does not accept.
    let new = SshSigningKey::generate("ed25519", "");
    rotate(&key_file, &new.private_text());
    rt().block_on(registry.push_image("team/web", "1.3.0"));
    let r = imagebump(dir, &["once", "--config", cfg], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(repo.commit_count("main"), 3, "{r:?}");
    human.pull();
    let out = verify_ssh(human.path(), &new.allowed_signers(&[&new]), "HEAD");
    assert!(out.status.success(), "{}", said(&out));
    let out = verify_ssh(human.path(), &old.allowed_signers(&[&old]), "HEAD");
    assert!(
        !out.status.success(),
        "signed with the old key: {}",
        said(&out)
    );

    // `hold` and `release` commit through the same signer.
    let holds: [&[&str]; 2] = [
        &["hold", "shop/web", "--reason", "incident", "--config", cfg],
        &["release", "shop/web", "--config", cfg],
    ];
    for args in holds {
        let before = repo.commit_count("main");
        let r = imagebump(dir, args, &[]);
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(repo.commit_count("main"), before + 1, "{r:?}");
        human.pull();
        let out = verify_ssh(human.path(), &new.allowed_signers(&[&new]), "HEAD");
        assert!(out.status.success(), "{args:?}: {}", said(&out));
    }
    let commits = repo.commit_count("main");

    // A key file that is not a key fails start-up, naming the file, not showing it.
    rotate(&key_file, "not-a-key s3cret-bytes\n");
    rt().block_on(registry.push_image("team/web", "1.4.0"));
    let r = imagebump(dir, &["once", "--config", cfg], &[]);
    assert_eq!(r.code, 2, "{r:?}");
    let text = format!("{}{}", r.stdout, r.stderr);
    assert!(
        text.contains("signing") && text.contains("signing_key"),
        "{r:?}"
    );
    assert!(text.contains("not an OpenSSH private key"), "{r:?}");
    assert!(!text.contains("s3cret"), "{r:?}");
    assert_eq!(
        repo.commit_count("main"),
        commits,
        "committed without a signature"
    );
}

#[test]
fn set_image_git_signs_with_a_passphrase_protected_openpgp_key_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = BareRepo::create_at(
        &dir.join("fleet.git"),
        &[("apps/web.yaml", "image: nginx:1.26.0\n")],
    );
    let home = GpgHome::generate("open sesame");
    let key_file = dir.join("pgp.asc");
    std::fs::write(&key_file, home.export_secret("open sesame")).unwrap();
    let pass_file = dir.join("pgp.pass");
    std::fs::write(&pass_file, "open sesame\n").unwrap();
    let url = repo.file_url();
    let state = dir.join("state");
    let args = [
        "set-image",
        "--git",
        &url,
        "--state-dir",
        state.to_str().unwrap(),
        "nginx:1.27.0",
        "apps",
    ];
    let key = key_file.to_str().unwrap();

    // Half the settings is an error, not an unsigned commit.
    let r = imagebump(dir, &args, &[("IMAGEBUMP_SIGNING_KEY_FILE", key)]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("IMAGEBUMP_SIGNING_FORMAT"), "{r:?}");
    let r = imagebump(
        dir,
        &args,
        &[
            ("IMAGEBUMP_SIGNING_FORMAT", "openpgp"),
            ("IMAGEBUMP_SIGNING_KEY_FILE", key),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("passphrase"), "{r:?}");
    assert_eq!(repo.commit_count("main"), 1);

    let pass = pass_file.to_str().unwrap();
    let r = imagebump(
        dir,
        &args,
        &[
            ("IMAGEBUMP_SIGNING_FORMAT", "openpgp"),
            ("IMAGEBUMP_SIGNING_KEY_FILE", key),
            ("IMAGEBUMP_SIGNING_PASSPHRASE_FILE", pass),
            ("IMAGEBUMP_GIT_AUTHOR_EMAIL", SIGNER_EMAIL),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(repo.commit_count("main"), 2, "{r:?}");
    let human = CliClone::new(&url);
    let out = home.verify(human.path(), "HEAD");
    assert!(out.status.success(), "{}", said(&out));
}

#[test]
fn the_service_signs_with_a_key_rotated_while_it_runs_and_keeps_the_last_good_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let h = registry.host();
    rt().block_on(async {
        registry.push_image("team/web", "1.1.0").await;
        registry.push_image("team/web", "1.2.0").await;
    });
    let old = SshSigningKey::generate("ed25519", "");
    let key_file = dir.join("signing_key");
    std::fs::write(&key_file, old.private_text()).unwrap();
    let repo = signed_fleet(
        dir,
        &h,
        &format!("{{format: ssh, key: {{file: {}}}}}", key_file.display()),
    );
    // The service: listening on a free port, polling every second.
    let cfg = dir.join("imagebump.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "listen: 127.0.0.1:{}\npoll: {{interval: 1s}}\n{text}",
            free_port()
        ),
    )
    .unwrap();
    let log_file = dir.join("imagebump.log");
    let _service = Service(
        Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env("IMAGEBUMP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_file).unwrap())
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(&log_file).unwrap_or_default();
    let commits = |n: usize| {
        wait_until(&format!("commit {n}"), Duration::from_secs(60), || {
            repo.commit_count("main") >= n
        });
        assert_eq!(repo.commit_count("main"), n, "{}", log());
    };
    let human = CliClone::new(&repo.file_url());
    let verifies = |key: &SshSigningKey| {
        human.pull();
        verify_ssh(human.path(), &key.allowed_signers(&[key]), "HEAD")
            .status
            .success()
    };

    // The start-up sync's commit, with the key it started with.
    commits(2);
    assert!(verifies(&old), "{}", log());

    // Rotated while it runs: the next commit is signed with the new key.
    let new = SshSigningKey::generate("ed25519", "");
    rotate(&key_file, &new.private_text());
    rt().block_on(registry.push_image("team/web", "1.3.0"));
    commits(3);
    assert!(verifies(&new), "{}", log());
    assert!(!verifies(&old), "still the old key");

    // Rotated to something that is not a key: the last good key signs, with a warning.
    rotate(&key_file, "not a key\n");
    rt().block_on(registry.push_image("team/web", "1.4.0"));
    commits(4);
    assert!(verifies(&new), "{}", log());
    assert!(
        log().contains("cannot use the rotated signing key; keeping the previous one"),
        "{}",
        log()
    );
    // The lines holding the private half (the first only says "openssh-key-v1").
    for key in [&old, &new] {
        for line in key
            .private_text()
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with("-----"))
        {
            assert!(!log().contains(line), "the key reached the log");
        }
    }
}
