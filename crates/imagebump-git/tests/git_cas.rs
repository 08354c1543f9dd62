//! The push is a compare-and-swap of the remote branch against the commit's base, on every
//! transport: when the branch moved (forwards or backwards) between `sync` and `push`, the
//! push fails with `PushError::Moved`, the other writer's commits stay, and the caller's
//! retry lands on top. Real servers: a bare repository over file://, smart HTTP (nginx +
//! git-http-backend) and SSH (OpenSSH); the other writer is the git CLI.
//!
//! The race test pits the copy against a human pushing in a loop on file://, where
//! libgit2's own push sets the ref without comparing its old value (commits got lost).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{cfg, land, land_file};
use imagebump_git::{GitAuth, PushError, RetryPolicy, WorkingCopy};
use imagebump_testbed::gitserver::{
    git, human_pusher, BareRepo, CliClone, HttpGitServer, SshGitServer,
};

const FILES: &[(&str, &str)] = &[("deploy.yaml", "image: app:1\n"), ("other.yaml", "x: 1\n")];

/// Between our sync and our push, `other` pushes: the push is refused as `Moved`, their
/// commit stays the tip, and the retry (sync → write → commit → push) lands on top.
fn remote_moves_between_sync_and_push(wc: &mut WorkingCopy, origin: &BareRepo, other: &CliClone) {
    let base = wc.sync().unwrap();
    wc.write_file(Path::new("deploy.yaml"), "image: app:2\n")
        .unwrap();
    let commit = wc
        .commit(&base, &[PathBuf::from("deploy.yaml")], "ours")
        .unwrap()
        .unwrap();
    other.commit_and_push(&[("other.yaml", "x: 2\n")], "theirs");
    let theirs = origin.head("main").unwrap();
    let r = wc.push(&commit);
    assert!(matches!(r, Err(PushError::Moved { .. })), "{r:?}");
    assert_eq!(
        origin.head("main").unwrap(),
        theirs,
        "their commit is the tip"
    );

    let out = land_file(wc, "deploy.yaml", "image: app:2\n", "ours")
        .unwrap()
        .unwrap();
    assert_eq!(out.attempts, 1);
    assert_eq!(
        origin.log_subjects("main"),
        vec!["ours", "theirs", "initial"]
    );
    assert!(origin.is_ancestor(&theirs, "main"));
    assert_eq!(origin.read("main", "other.yaml").unwrap(), "x: 2\n");
    assert_eq!(
        origin.read("main", "deploy.yaml").unwrap(),
        "image: app:2\n"
    );
}

/// The branch is rewound (a force push back to its parent) between our sync and our push.
/// Our commit would be a fast-forward of the rewound branch, so a push that only checks
/// fast-forward would succeed and bring the dropped commit back; the compare-and-swap
/// refuses it.
fn remote_rewound_between_sync_and_push(wc: &mut WorkingCopy, origin: &BareRepo, other: &CliClone) {
    other.commit_and_push(&[("other.yaml", "x: dropped\n")], "to be dropped");
    let base = wc.sync().unwrap();
    assert_eq!(base.id(), origin.head("main").unwrap());
    wc.write_file(Path::new("deploy.yaml"), "image: app:3\n")
        .unwrap();
    let commit = wc
        .commit(&base, &[PathBuf::from("deploy.yaml")], "ours")
        .unwrap()
        .unwrap();
    git(
        Some(other.path()),
        &["push", "-q", "--force", "origin", "HEAD~1:main"],
    );
    let rewound = origin.head("main").unwrap();
    let r = wc.push(&commit);
    assert!(matches!(r, Err(PushError::Moved { .. })), "{r:?}");
    assert_eq!(origin.head("main").unwrap(), rewound);

    land_file(wc, "deploy.yaml", "image: app:3\n", "ours")
        .unwrap()
        .unwrap();
    let subjects = origin.log_subjects("main");
    assert_eq!(subjects[0], "ours");
    assert!(
        !subjects.contains(&"to be dropped".to_string()),
        "{subjects:?}"
    );
    assert!(origin.is_ancestor(&rewound, "main"));
}

#[test]
fn file_remote_moved_between_sync_and_push() {
    let origin = BareRepo::with_files(FILES);
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    remote_moves_between_sync_and_push(&mut wc, &origin, &other);
    remote_rewound_between_sync_and_push(&mut wc, &origin, &other);
}

#[test]
fn plain_path_remote_moved_between_sync_and_push() {
    let origin = BareRepo::with_files(FILES);
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let url = origin.path().to_str().unwrap().to_string();
    let mut wc = WorkingCopy::open(state.path(), cfg(&url, GitAuth::None)).unwrap();
    remote_moves_between_sync_and_push(&mut wc, &origin, &other);
}

#[test]
fn http_remote_moved_between_sync_and_push() {
    let srv = HttpGitServer::start("robot", "s3cret-Token-42");
    let origin = srv.create_repo("fleet", FILES);
    let other = CliClone::new(&srv.url_with_credentials("fleet"));
    let state = tempfile::tempdir().unwrap();
    let auth = GitAuth::UserPass {
        username: "robot".into(),
        password: "s3cret-Token-42".into(),
    };
    let mut wc = WorkingCopy::open(state.path(), cfg(&srv.url("fleet"), auth)).unwrap();
    remote_moves_between_sync_and_push(&mut wc, &origin, &other);
    remote_rewound_between_sync_and_push(&mut wc, &origin, &other);
}

#[test]
fn ssh_remote_moved_between_sync_and_push() {
    let srv = SshGitServer::start();
    let origin = BareRepo::with_files(FILES);
    // The other writer reaches the same bare repository directly.
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let auth = GitAuth::SshKey {
        private_key: srv.client_key(),
        passphrase: None,
        known_hosts: Some(srv.known_hosts()),
    };
    let mut wc = WorkingCopy::open(state.path(), cfg(&srv.url(&origin), auth)).unwrap();
    remote_moves_between_sync_and_push(&mut wc, &origin, &other);
    remote_rewound_between_sync_and_push(&mut wc, &origin, &other);
}

/// A human pushes `N` commits with the git CLI (rebasing and pushing again when refused)
/// while the copy lands updates through sync/write/commit/push with retries, on the
/// same file:// bare repository. Every commit of both must end up on the branch, and the
/// branch's reflog must show only fast-forward steps, each starting where the last ended.
#[test]
fn racing_a_human_pusher_on_file_url_loses_no_commit() {
    const N: usize = 30;
    let origin = BareRepo::with_files(FILES);
    origin.enable_reflog();
    let human = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();

    // The human tells the copy when it starts the first push of each commit, and the
    // copy starts an update right then: the two pushes are in flight together (a channel,
    // not timing, makes them overlap). The human's retries go unannounced, so that it is
    // not starved by the faster copy.
    let (starting, push_started) = std::sync::mpsc::channel::<()>();
    let pusher = human_pusher(human, N, starting);

    let policy = RetryPolicy {
        max_attempts: 100,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(8),
    };
    let mut ours = Vec::new();
    let mut retries = 0;
    let mut update = |i: usize| {
        let text = format!("image: app:{}\n", i + 2);
        let landed = land(&mut wc, policy, &format!("imagebump {i}"), |wc, _| {
            wc.write_file(Path::new("deploy.yaml"), &text)?;
            Ok(vec![PathBuf::from("deploy.yaml")])
        })
        .unwrap()
        .unwrap();
        retries += landed.attempts - 1;
        ours.push(landed.pushed.commit);
    };
    // One update per human commit (the loop ends when the human is done), then enough
    // alone to reach N.
    let mut i = 0;
    for () in push_started {
        update(i);
        i += 1;
    }
    while i < N {
        update(i);
        i += 1;
    }
    let (theirs, refusals) = pusher.join().unwrap();
    eprintln!(
        "{} imagebump pushes, {retries} retries; {N} human pushes, {refusals} refusals",
        ours.len()
    );

    origin.assert_no_commit_lost(&ours, &theirs, 2 * N);

    assert_eq!(
        origin.reflog_steps("main").last().unwrap().1,
        origin.head("main").unwrap()
    );
}
