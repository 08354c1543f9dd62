//! Issue 9, items 0, 13 and 14, through the engine's one write path
//! (`engine::write::write`) and the real binary: a human pushing in a loop against
//! imagebump on `file://`, smart HTTP and SSH loses no commit; a branch that keeps moving
//! is outlasted, with the reason for each wait; a symlinked target is edited through the
//! link; a second process on the same working copy fails naming the holder.
//! Real parts: bare repositories, nginx + git-http-backend, sshd, the git CLI.

mod support;

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use imagebump::engine::files::Tree;
use imagebump::engine::write::{write, WriteError, Written};
use imagebump_core::decision::{Decision, WaitReason};
use imagebump_core::edit::{Target, Update};
use imagebump_core::message::commit_message;
use imagebump_core::plan::{plan_set_image, Plan};
use imagebump_git::{GitAuth, GitConfig, RetryPolicy, WorkingCopy};
use support::cli::run;
use support::gitserver::{git, human_pusher, BareRepo, CliClone, HttpGitServer, SshGitServer};

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {image}\n"
    )
}

fn cfg(url: &str, auth: GitAuth) -> GitConfig {
    GitConfig {
        url: url.to_string(),
        branch: "main".into(),
        push_branch: None,
        author_name: "imagebump".into(),
        author_email: "imagebump@example.invalid".into(),
        auth,
        signer: None,
    }
}

/// One `set-image`-style write of `reference` into `file` through the engine's write path.
fn set(
    wc: &mut WorkingCopy,
    retry: &RetryPolicy,
    wait: &dyn Fn(&WaitReason) -> bool,
    reference: &str,
    file: &str,
    mut before_plan: impl FnMut(),
) -> Result<Written, WriteError> {
    let update = Update::parse(reference).unwrap();
    let paths = [PathBuf::from(file)];
    write(
        wc,
        retry,
        wait,
        &mut |files: &Tree<'_>, _: &WorkingCopy| {
            before_plan();
            plan_set_image(reference, &update, &Target::Auto, &paths, files)
        },
        &|p: &Plan| commit_message(None, p, "0.0.0-test"),
    )
}

/// A human pushes `N` commits with the git CLI (pull --rebase and push again when
/// refused) while imagebump writes through `engine::write::write`. The human announces the
/// first push of each commit and imagebump starts a write right then, so that both pushes
/// are in flight together (a channel, not timing). Every commit of both must be on
/// `main`, and the bare repository's reflog must hold only fast-forward steps, each
/// starting where the last ended.
fn race(origin: &BareRepo, human_url: &str, ours: GitConfig) {
    const N: usize = 20;
    origin.enable_reflog();
    let human = CliClone::new(human_url);
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), ours).unwrap();

    let (starting, push_started) = std::sync::mpsc::channel::<()>();
    let pusher = human_pusher(human, N, starting);

    // Short waits: the race resolves in milliseconds; the bound is generous.
    let retry = RetryPolicy {
        max_attempts: 100,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(8),
    };
    let waits = RefCell::new(0u32);
    let wait = |why: &WaitReason| {
        assert!(matches!(why, WaitReason::PushRace { .. }), "{why}");
        *waits.borrow_mut() += 1;
        std::thread::sleep(imagebump::engine::write::wait_time(why));
        true
    };
    let mut ours = Vec::new();
    let mut update = |i: usize| {
        let w = set(
            &mut wc,
            &retry,
            &wait,
            &format!("nginx:1.{}.0", i + 1),
            "deploy.yaml",
            || {},
        )
        .unwrap();
        ours.push(w.commit.expect("every write changes the tag"));
    };
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
        "{} imagebump writes, {} waits; {N} human pushes, {refusals} refusals",
        ours.len(),
        waits.borrow()
    );

    origin.assert_no_commit_lost(&ours, &theirs, 2 * N);
    assert_eq!(
        origin.read("main", "deploy.yaml").unwrap(),
        deployment(&format!("nginx:1.{N}.0"))
    );
}

fn files() -> Vec<(&'static str, String)> {
    vec![
        ("deploy.yaml", deployment("nginx:1.0.0")),
        ("README.md", "fleet\n".into()),
    ]
}

fn bare() -> BareRepo {
    let f = files();
    let refs: Vec<(&str, &str)> = f.iter().map(|(p, c)| (*p, c.as_str())).collect();
    BareRepo::with_files(&refs)
}

#[test]
fn racing_a_human_on_file_url_through_the_write_path_loses_no_commit() {
    let origin = bare();
    race(
        &origin,
        &origin.file_url(),
        cfg(&origin.file_url(), GitAuth::None),
    );
}

#[test]
fn racing_a_human_over_smart_http_through_the_write_path_loses_no_commit() {
    let srv = HttpGitServer::start("robot", "s3cret-Token-42");
    let f = files();
    let refs: Vec<(&str, &str)> = f.iter().map(|(p, c)| (*p, c.as_str())).collect();
    let origin = srv.create_repo("fleet", &refs);
    let auth = GitAuth::UserPass {
        username: "robot".into(),
        password: "s3cret-Token-42".into(),
    };
    race(
        &origin,
        &srv.url_with_credentials("fleet"),
        cfg(&srv.url("fleet"), auth),
    );
}

#[test]
fn racing_a_human_over_ssh_through_the_write_path_loses_no_commit() {
    let srv = SshGitServer::start();
    let origin = bare();
    let auth = GitAuth::SshKey {
        private_key: srv.client_key(),
        passphrase: None,
        known_hosts: Some(srv.known_hosts()),
    };
    // The human reaches the same bare repository directly.
    race(&origin, &origin.file_url(), cfg(&srv.url(&origin), auth));
}

/// The branch moves between imagebump's sync and its push on each of the first 10
/// attempts (the human pushes from inside the planner, which runs right after the sync):
/// with the default bound the write still lands, on top of every human commit, and
/// each wait carries its typed reason, rendered for `whyNotUpdated`.
#[test]
fn a_branch_that_moves_on_every_attempt_is_outlasted_and_each_wait_says_why() {
    const MOVES: u32 = 10;
    let origin = bare();
    let human = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    let retry = RetryPolicy::default();
    let reasons = RefCell::new(Vec::new());
    let wait = |why: &WaitReason| {
        reasons.borrow_mut().push(why.clone());
        true // no need to really wait: the next attempt is what is tested
    };
    let mut planned = 0u32;
    let w = set(&mut wc, &retry, &wait, "nginx:1.1.0", "deploy.yaml", || {
        planned += 1;
        if planned <= MOVES {
            human.commit_and_push(&[("human.txt", &format!("{planned}\n"))], "human");
        }
    })
    .unwrap_or_else(|e| panic!("gave up: {e}"));
    assert_eq!(w.attempts, MOVES + 1);
    assert_eq!(origin.head("main").unwrap(), w.commit.unwrap());
    assert_eq!(origin.commit_count("main"), 2 + MOVES as usize);
    let reasons = reasons.into_inner();
    assert_eq!(reasons.len(), MOVES as usize);
    for (i, r) in reasons.iter().enumerate() {
        let WaitReason::PushRace {
            branch,
            attempt,
            max_attempts,
            retry_in,
        } = r;
        assert_eq!((branch.as_str(), *attempt), ("main", i as u32 + 1));
        assert_eq!(*max_attempts, retry.max_attempts);
        assert!(*retry_in <= retry.max_backoff);
    }
    let why = Decision::Waiting {
        reason: reasons[2].clone(),
    }
    .why_not_updated()
    .unwrap();
    assert!(
        why.starts_with("waiting: another commit landed on main first (attempt 3 of "),
        "{why}"
    );
}

/// `apps/web.yaml` is a symlink to `base/web.yaml`: the write edits the file the link
/// points to, commits that path, and the link stays a link.
#[test]
fn a_symlinked_target_is_edited_through_the_link_and_committed_as_its_target() {
    let origin = bare();
    let human = CliClone::new(&origin.file_url());
    std::fs::create_dir_all(human.path().join("apps")).unwrap();
    std::fs::create_dir_all(human.path().join("base")).unwrap();
    std::fs::write(
        human.path().join("base/web.yaml"),
        deployment("nginx:1.0.0"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../base/web.yaml", human.path().join("apps/web.yaml")).unwrap();
    git(Some(human.path()), &["add", "-A"]);
    git(Some(human.path()), &["commit", "-q", "-m", "link"]);
    human.push();

    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    let w = set(
        &mut wc,
        &RetryPolicy::default(),
        &|_| true,
        "nginx:1.2.0",
        "apps/web.yaml",
        || {},
    )
    .unwrap();
    assert!(w.commit.is_some());
    assert_eq!(
        origin.read("main", "base/web.yaml").unwrap(),
        deployment("nginx:1.2.0")
    );
    assert_eq!(origin.tip_changed_files("main"), vec!["base/web.yaml"]);
    let tree = git(
        None,
        &[
            "--git-dir",
            origin.path().to_str().unwrap(),
            "ls-tree",
            "main",
            "apps/web.yaml",
        ],
    );
    assert!(tree.starts_with("120000 "), "no longer a symlink: {tree}");
}

/// Local `set-image` (no --git) on a symlink edits the file it points to.
#[test]
fn local_set_image_through_a_symlink_keeps_the_link() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("real.yaml"), deployment("nginx:1.0.0")).unwrap();
    std::os::unix::fs::symlink("real.yaml", d.path().join("link.yaml")).unwrap();
    let r = run(d.path(), &["set-image", "nginx:1.3.0", "link.yaml"], &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let md = std::fs::symlink_metadata(d.path().join("link.yaml")).unwrap();
    assert!(
        md.file_type().is_symlink(),
        "the link was replaced by a file"
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("real.yaml")).unwrap(),
        deployment("nginx:1.3.0")
    );
}

/// `set-image --git` while another process holds the same working copy (here: this test
/// process, as `run` would): it waits briefly, then exits 2 naming the holder's pid, and
/// the holder's live lock file is still there.
#[test]
fn set_image_git_beside_a_running_holder_fails_naming_it() {
    let origin = bare();
    let before = origin.head("main").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let holder = WorkingCopy::open(&state, cfg(&origin.file_url(), GitAuth::None)).unwrap();
    let live = holder.root().join(".git/index.lock");
    std::fs::write(&live, "").unwrap();
    let r = run(
        tmp.path(),
        &[
            "set-image",
            "--git",
            &origin.file_url(),
            "--state-dir",
            state.to_str().unwrap(),
            "nginx:1.4.0",
            "deploy.yaml",
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("in use by pid {}", std::process::id())),
        "{r:?}"
    );
    assert!(live.exists(), "the holder's live lock was deleted");
    assert_eq!(origin.head("main").unwrap(), before);
    drop(holder);
}
