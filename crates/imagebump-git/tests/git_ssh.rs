//! WorkingCopy over ssh:// against a real OpenSSH server: key authentication and
//! known_hosts checking.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::land_file;
use imagebump_git::{GitAuth, GitConfig, GitError, WorkingCopy};
use imagebump_testbed::gitserver::{BareRepo, SshGitServer};

fn cfg(url: String, private_key: PathBuf, known_hosts: Option<PathBuf>) -> GitConfig {
    GitConfig {
        url,
        branch: "main".into(),
        push_branch: None,
        author_name: "imagebump".into(),
        author_email: "imagebump@example.invalid".into(),
        auth: GitAuth::SshKey {
            private_key,
            passphrase: None,
            known_hosts,
        },
        signer: None,
    }
}

#[test]
fn push_over_ssh_with_key_and_known_hosts() {
    let srv = SshGitServer::start();
    let origin = BareRepo::with_files(&[("deploy.yaml", "image: app:1\n")]);
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(
        state.path(),
        cfg(srv.url(&origin), srv.client_key(), Some(srv.known_hosts())),
    )
    .unwrap();
    let out = land_file(&mut wc, "deploy.yaml", "image: app:2\n", "bump over ssh")
        .unwrap()
        .unwrap();
    assert_eq!(origin.head("main").unwrap(), out.pushed.commit);
    assert_eq!(
        origin.read("main", "deploy.yaml").unwrap(),
        "image: app:2\n"
    );
}

#[test]
fn unknown_host_key_is_refused() {
    let srv = SshGitServer::start();
    let origin = BareRepo::new();
    let state = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let r = WorkingCopy::open(
        state.path(),
        cfg(
            srv.url(&origin),
            srv.client_key(),
            Some(srv.wrong_known_hosts()),
        ),
    );
    assert!(t.elapsed() < Duration::from_secs(15));
    let e = r.unwrap_err();
    assert!(
        e.to_string().contains("known_hosts") || e.to_string().contains("host key"),
        "{e}"
    );
}

#[test]
fn unauthorised_key_is_an_auth_error_without_hanging() {
    let srv = SshGitServer::start();
    let origin = BareRepo::new();
    let state = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let r = WorkingCopy::open(
        state.path(),
        cfg(
            srv.url(&origin),
            srv.stranger_key(),
            Some(srv.known_hosts()),
        ),
    );
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    assert!(matches!(r, Err(GitError::Auth { .. })), "{r:?}");
}
