//! WorkingCopy against a real smart-HTTP git server (nginx + fcgiwrap + git-http-backend)
//! with basic auth: credentials, wrong password, server-side rejection, races.

mod support;

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use imagebump::gitops::repo::{GitAuth, GitConfig, GitError, RetryPolicy, WorkingCopy};
use support::gitserver::{CliClone, HttpGitServer};

const USER: &str = "robot";
const PASS: &str = "s3cret-Token-42";

fn cfg(url: String, auth: GitAuth) -> GitConfig {
    GitConfig {
        url,
        branch: "main".into(),
        push_branch: None,
        author_name: "imagebump".into(),
        author_email: "imagebump@example.invalid".into(),
        auth,
    }
}

fn userpass(password: &str) -> GitAuth {
    GitAuth::UserPass {
        username: USER.into(),
        password: password.into(),
    }
}

fn bump(content: &'static str) -> impl FnMut(&Path) -> anyhow::Result<Vec<PathBuf>> {
    move |root: &Path| {
        fs::write(root.join("deploy.yaml"), content)?;
        Ok(vec!["deploy.yaml".into()])
    }
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
    let out = wc
        .commit_and_push("bump over http", bump("image: app:2\n"))
        .unwrap()
        .unwrap();
    assert_eq!(origin.head("main").unwrap(), out.commit);
    assert_eq!(
        origin.read("main", "deploy.yaml").unwrap(),
        "image: app:2\n"
    );
    // A second write on the same copy (fetch + push again) works too.
    wc.commit_and_push("again", bump("image: app:3\n"))
        .unwrap()
        .unwrap();
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
    wc.commit_and_push("ok", bump("image: app:2\n"))
        .unwrap()
        .unwrap();
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
    wc.commit_and_push("via url creds", bump("image: app:2\n"))
        .unwrap()
        .unwrap();
    assert_eq!(
        origin.read("main", "deploy.yaml").unwrap(),
        "image: app:2\n"
    );
    let config = fs::read_to_string(wc.root().join(".git/config")).unwrap();
    assert!(!config.contains(PASS), "{config}");
    assert!(config.contains(&srv.url("fleet")), "{config}");
}

#[test]
fn pre_receive_rejection_is_an_error_not_a_success() {
    let srv = HttpGitServer::start(USER, PASS);
    let origin = srv.create_repo("fleet", &[("deploy.yaml", "image: app:1\n")]);
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(srv.url("fleet"), userpass(PASS))).unwrap();
    origin.reject_pushes("protected branch: no direct pushes");
    let calls = Cell::new(0);
    let r = wc.commit_and_push("bump", |root: &Path| {
        calls.set(calls.get() + 1);
        bump("image: app:2\n")(root)
    });
    match &r {
        Err(GitError::Rejected {
            reason, refname, ..
        }) => {
            assert_eq!(refname, "refs/heads/main");
            assert!(reason.contains("pre-receive"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(calls.get(), 1, "a policy rejection is not retried");
    assert_eq!(origin.commit_count("main"), 1);
    origin.accept_pushes();
    wc.commit_and_push("bump", bump("image: app:2\n"))
        .unwrap()
        .unwrap();
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
    let mut wc = WorkingCopy::open(state.path(), cfg(srv.url("fleet"), userpass(PASS)))
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        });
    let calls = Cell::new(0);
    let out = wc
        .commit_and_push("bump", |root: &Path| {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                other.commit_and_push(&[("other.yaml", "x: 2\n")], "human edit");
            }
            bump("image: app:2\n")(root)
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
