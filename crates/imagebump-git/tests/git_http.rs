//! WorkingCopy against a real smart-HTTP git server (nginx + fcgiwrap + git-http-backend)
//! with basic auth: credentials, wrong password, server-side rejection, races.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{fast_retry, land, land_file};
use imagebump_git::{GitAuth, GitConfig, GitCredentialSource, GitError, WorkingCopy};
use imagebump_testbed::gitserver::{CliClone, HttpGitServer};

const USER: &str = "robot";
const PASS: &str = "s3cret-Token-42";

fn cfg(url: String, auth: GitAuth) -> GitConfig {
    common::cfg(&url, auth)
}

fn userpass(password: &str) -> GitAuth {
    GitAuth::UserPass {
        username: USER.into(),
        password: password.into(),
    }
}

fn bump(wc: &mut WorkingCopy, content: &str, message: &str) -> Option<common::Landed> {
    land_file(wc, "deploy.yaml", content, message).unwrap()
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn push_over_http_with_basic_auth() {
    let srv = HttpGitServer::start(USER, PASS);
    let origin = srv.create_repo("fleet", &[("deploy.yaml", "image: app:1\n")]);
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(srv.url("fleet"), userpass(PASS))).unwrap();
    let out = bump(&mut wc, "image: app:2\n", "bump over http").unwrap();
    assert_eq!(origin.head("main").unwrap(), out.pushed.commit);
    assert_eq!(
        origin.read("main", "deploy.yaml").unwrap(),
        "image: app:2\n"
    );
    // A second write on the same copy (fetch + push again) works too.
    bump(&mut wc, "image: app:3\n", "again").unwrap();
    assert_eq!(origin.commit_count("main"), 3);
    // The password is nowhere on disk.
    for p in all_files(state.path()) {
        assert!(!p.to_string_lossy().contains(PASS));
        if p.is_file() {
            let bytes = fs::read(&p).unwrap();
            assert!(
                !bytes.windows(PASS.len()).any(|w| w == PASS.as_bytes()),
                "password found in {}",
                p.display()
            );
        }
    }
}

#[test]
fn wrong_password_fails_cleanly_and_fast() {
    let srv = HttpGitServer::start(USER, PASS);
    srv.create_repo("fleet", &[("deploy.yaml", "image: app:1\n")]);
    let state = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let r = WorkingCopy::open(
        state.path(),
        cfg(srv.url("fleet"), userpass("wrong-password")),
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    let e = r.unwrap_err();
    assert!(matches!(e, GitError::Auth { .. }), "{e:?}");
    let msg = format!("{e} {e:?}");
    assert!(!msg.contains("wrong-password"), "{msg}");
    // No credentials at all: also an auth error, not a hang.
    let r = WorkingCopy::open(state.path(), cfg(srv.url("fleet"), GitAuth::None));
    assert!(matches!(r, Err(GitError::Auth { .. })), "{r:?}");
}

#[test]
fn wrong_password_on_push_after_a_good_clone() {
    let srv = HttpGitServer::start(USER, PASS);
    let origin = srv.create_repo("fleet", &[("deploy.yaml", "image: app:1\n")]);
    let state = tempfile::tempdir().unwrap();
    drop(WorkingCopy::open(state.path(), cfg(srv.url("fleet"), userpass(PASS))).unwrap());
    // The token was rotated: the existing copy is reused, the fetch is refused.
    let r = WorkingCopy::open(
        state.path(),
        cfg(srv.url("fleet"), userpass("rotated-away")),
    );
    assert!(matches!(r, Err(GitError::Auth { .. })), "{r:?}");
    assert_eq!(origin.commit_count("main"), 1);
    // The copy is still there and usable with the right password.
    let mut wc = WorkingCopy::open(state.path(), cfg(srv.url("fleet"), userpass(PASS))).unwrap();
    bump(&mut wc, "image: app:2\n", "ok").unwrap();
}

#[test]
fn credentials_in_the_url_are_used_but_never_stored_or_shown() {
    let srv = HttpGitServer::start(USER, PASS);
    let origin = srv.create_repo("fleet", &[("deploy.yaml", "image: app:1\n")]);
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(
        state.path(),
        cfg(srv.url_with_credentials("fleet"), GitAuth::None),
    )
    .unwrap();
    assert!(!wc.display_url().contains(PASS));
    assert!(!format!("{wc:?}").contains(PASS));
    assert!(!wc.root().to_string_lossy().contains(PASS));
    bump(&mut wc, "image: app:2\n", "via url creds").unwrap();
    assert_eq!(
        origin.read("main", "deploy.yaml").unwrap(),
        "image: app:2\n"
    );
    let config = fs::read_to_string(wc.root().join(".git/config")).unwrap();
    assert!(!config.contains(PASS), "{config}");
    assert!(config.contains(&srv.url("fleet")), "{config}");
}

#[test]
fn pre_receive_rejection_is_an_error_not_a_move() {
    let srv = HttpGitServer::start(USER, PASS);
    let origin = srv.create_repo("fleet", &[("deploy.yaml", "image: app:1\n")]);
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(srv.url("fleet"), userpass(PASS))).unwrap();
    origin.reject_pushes("protected branch: no direct pushes");
    let mut calls = 0;
    let r = land(&mut wc, fast_retry(5), "bump", |wc, _| {
        calls += 1;
        wc.write_file(Path::new("deploy.yaml"), "image: app:2\n")?;
        Ok(vec![PathBuf::from("deploy.yaml")])
    });
    match &r {
        Err(GitError::Rejected {
            reason, refname, ..
        }) => {
            assert_eq!(refname, "refs/heads/main");
            assert!(reason.contains("pre-receive"), "{reason}");
            // The hook's own words, as the server sent them.
            assert!(
                reason.contains("protected branch: no direct pushes"),
                "{reason}"
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(calls, 1, "a policy rejection is not retried");
    assert_eq!(origin.commit_count("main"), 1);
    origin.accept_pushes();
    bump(&mut wc, "image: app:2\n", "bump").unwrap();
    assert_eq!(origin.commit_count("main"), 2);
}

#[test]
fn race_over_http_both_commits_land_without_force() {
    let srv = HttpGitServer::start(USER, PASS);
    let origin = srv.create_repo(
        "fleet",
        &[("deploy.yaml", "image: app:1\n"), ("other.yaml", "x: 1\n")],
    );
    let other = CliClone::new(&srv.url_with_credentials("fleet"));
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(srv.url("fleet"), userpass(PASS))).unwrap();
    let out = land(&mut wc, fast_retry(5), "bump", |wc, attempt| {
        if attempt == 1 {
            other.commit_and_push(&[("other.yaml", "x: 2\n")], "human edit");
        }
        wc.write_file(Path::new("deploy.yaml"), "image: app:2\n")?;
        Ok(vec![PathBuf::from("deploy.yaml")])
    })
    .unwrap()
    .unwrap();
    assert_eq!(out.attempts, 2);
    assert_eq!(
        origin.log_subjects("main"),
        vec!["bump", "human edit", "initial"]
    );
    assert_eq!(origin.read("main", "other.yaml").unwrap(), "x: 2\n");
    assert_eq!(
        origin.read("main", "deploy.yaml").unwrap(),
        "image: app:2\n"
    );
}

/// Credentials that a test rotates, like a password file that kubelet replaces.
struct Rotating(Mutex<String>);

impl GitCredentialSource for Rotating {
    fn current(&self) -> (String, String) {
        (USER.into(), self.0.lock().unwrap().clone())
    }
}

#[test]
fn a_rotated_password_is_used_on_the_next_write_without_reopening() {
    let mut srv = HttpGitServer::start(USER, PASS);
    let origin = srv.create_repo("fleet", &[("deploy.yaml", "image: app:1\n")]);
    let state = tempfile::tempdir().unwrap();
    let creds = Arc::new(Rotating(Mutex::new(PASS.into())));
    let auth = GitAuth::UserPassFrom(creds.clone());
    let mut wc = WorkingCopy::open(state.path(), cfg(srv.url("fleet"), auth)).unwrap();
    bump(&mut wc, "image: app:2\n", "before rotation").unwrap();

    // The server rotates first: the old password is refused, as an auth error.
    srv.set_password("rotated-Token-43");
    let err = land_file(&mut wc, "deploy.yaml", "image: app:3\n", "during").unwrap_err();
    assert!(matches!(err, GitError::Auth { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("rotated-Token-43"));

    // Then the secret: the same copy fetches and pushes with the new one.
    *creds.0.lock().unwrap() = "rotated-Token-43".into();
    let out = bump(&mut wc, "image: app:3\n", "after rotation").unwrap();
    assert_eq!(origin.head("main").unwrap(), out.pushed.commit);
    assert_eq!(
        origin.read("main", "deploy.yaml").unwrap(),
        "image: app:3\n"
    );
}
