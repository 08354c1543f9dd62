//! A separate push branch (issue 9 item 11) is always the base branch's tip plus
//! imagebump's own commits, rebuilt on each write and replaced with a force-with-lease
//! only over commits imagebump made; a foreign commit there stops writing. Real bare
//! repositories over file:// and smart HTTP (nginx + git-http-backend); the human is the
//! git CLI.

mod common;

use std::path::{Path, PathBuf};

use common::{cfg, fast_retry, land};
use imagebump_git::{GitAuth, GitError, WorkingCopy, TRAILER};
use imagebump_testbed::gitserver::{git, BareRepo, CliClone, HttpGitServer};

const PUSH: &str = "imagebump/updates";
const FILES: &[(&str, &str)] = &[
    ("apps/app/deploy.yaml", "image: app:1\n"),
    ("apps/other/deploy.yaml", "image: other:1\n"),
];

/// An imagebump commit message: subject, trailer.
fn msg(subject: &str) -> String {
    format!("{subject}\n\n{TRAILER}: 0.0.0-test\n")
}

fn write(
    wc: &mut WorkingCopy,
    path: &str,
    text: &str,
    subject: &str,
) -> Result<Option<String>, GitError> {
    let m = msg(subject);
    land(wc, fast_retry(5), &m, |wc, _| {
        wc.write_file(Path::new(path), text)?;
        Ok(vec![PathBuf::from(path)])
    })
    .map(|l| l.map(|l| l.pushed.commit))
}

fn subjects(origin: &BareRepo, branch: &str) -> Vec<String> {
    origin.log_subjects(branch)
}

fn scenario(wc: &mut WorkingCopy, origin: &BareRepo, human: &CliClone) {
    let a = write(wc, "apps/app/deploy.yaml", "image: app:2\n", "A")
        .unwrap()
        .unwrap();
    assert_eq!(origin.head(PUSH).unwrap(), a);
    assert_eq!(subjects(origin, PUSH), ["A", "initial"]);

    // The base branch moves on: the next write is built on its new tip, with A replayed.
    human.commit_and_push(&[("human.txt", "1\n")], "human 1");
    let main1 = origin.head("main").unwrap();
    let b = write(wc, "apps/other/deploy.yaml", "image: other:2\n", "B")
        .unwrap()
        .unwrap();
    assert_eq!(origin.head(PUSH).unwrap(), b);
    assert!(
        origin.is_ancestor(&main1, PUSH),
        "the push branch went stale"
    );
    assert_eq!(subjects(origin, PUSH), ["B", "A", "human 1", "initial"]);
    assert_eq!(
        origin.read(PUSH, "apps/app/deploy.yaml").unwrap(),
        "image: app:2\n"
    );
    assert_eq!(origin.read(PUSH, "human.txt").unwrap(), "1\n");
    assert_eq!(origin.head("main").unwrap(), main1, "main is never written");

    // The base branch takes A's change itself and moves on again; nothing new to write:
    // the push branch is still rebuilt (A dropped, it is in main) and pushed.
    human.commit_and_push(&[("apps/app/deploy.yaml", "image: app:2\n")], "human 2");
    let main2 = origin.head("main").unwrap();
    let rebuilt = land(wc, fast_retry(5), &msg("unused"), |_, _| Ok(vec![]))
        .unwrap()
        .expect("the rebuilt branch is pushed");
    assert_eq!(origin.head(PUSH).unwrap(), rebuilt.pushed.commit);
    assert!(origin.is_ancestor(&main2, PUSH));
    assert_eq!(
        subjects(origin, PUSH),
        ["B", "human 2", "human 1", "initial"]
    );
    // And up to date: nothing to push at all.
    assert!(land(wc, fast_retry(5), &msg("unused"), |_, _| Ok(vec![]))
        .unwrap()
        .is_none());

    // Someone else commits on the push branch: imagebump stops and says so, and the
    // branch is left as it is.
    git(Some(human.path()), &["fetch", "-q", "origin", PUSH]);
    git(
        Some(human.path()),
        &["checkout", "-q", "-B", "side", "FETCH_HEAD"],
    );
    human.commit(&[("review.txt", "fix\n")], "review fix");
    git(
        Some(human.path()),
        &["push", "-q", "origin", &format!("HEAD:{PUSH}")],
    );
    let foreign = origin.head(PUSH).unwrap();
    move_main(human);
    let err = write(wc, "apps/other/deploy.yaml", "image: other:3\n", "C").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, GitError::ForeignCommit { .. }), "{err:?}");
    assert!(
        text.contains(&foreign[..12]) || text.contains(&foreign),
        "{text}"
    );
    assert!(text.contains("review fix") && text.contains(PUSH), "{text}");
    assert_eq!(
        origin.head(PUSH).unwrap(),
        foreign,
        "a foreign commit was replaced"
    );
}

/// Move main on as well (so that a rebuild would be needed), from a fresh main.
fn move_main(human: &CliClone) {
    git(Some(human.path()), &["fetch", "-q", "origin", "main"]);
    git(
        Some(human.path()),
        &["checkout", "-q", "-B", "main", "FETCH_HEAD"],
    );
    human.commit(&[("human.txt", "3\n")], "human 3");
    git(Some(human.path()), &["push", "-q", "origin", "HEAD:main"]);
}

#[test]
fn push_branch_follows_the_base_branch_over_file_url() {
    let origin = BareRepo::with_files(FILES);
    let human = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut c = cfg(&origin.file_url(), GitAuth::None);
    c.push_branch = Some(PUSH.into());
    let mut wc = WorkingCopy::open(state.path(), c).unwrap();
    scenario(&mut wc, &origin, &human);
}

#[test]
fn push_branch_follows_the_base_branch_over_smart_http() {
    let srv = HttpGitServer::start("robot", "s3cret-Token-42");
    let origin = srv.create_repo("fleet", FILES);
    let human = CliClone::new(&srv.url_with_credentials("fleet"));
    let state = tempfile::tempdir().unwrap();
    let auth = GitAuth::UserPass {
        username: "robot".into(),
        password: "s3cret-Token-42".into(),
    };
    let mut c = cfg(&srv.url("fleet"), auth);
    c.push_branch = Some(PUSH.into());
    let mut wc = WorkingCopy::open(state.path(), c).unwrap();
    scenario(&mut wc, &origin, &human);
}
