//! WorkingCopy against real bare repositories over file://: commit, push, races,
//! server-side rejection, path rules, push branch.

mod support;

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use imagebump::gitops::repo::{GitAuth, GitConfig, GitError, RetryPolicy, WorkingCopy};
use support::gitserver::{BareRepo, CliClone};

fn cfg(url: &str) -> GitConfig {
    GitConfig {
        url: url.to_string(),
        branch: "main".into(),
        push_branch: None,
        author_name: "imagebump".into(),
        author_email: "imagebump@example.invalid".into(),
        auth: GitAuth::None,
    }
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    }
}

/// An `apply` that writes `content` to `path` and lists it.
fn write(
    path: &'static str,
    content: &'static str,
) -> impl FnMut(&Path) -> anyhow::Result<Vec<PathBuf>> {
    move |root: &Path| {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap())?;
        fs::write(p, content)?;
        Ok(vec![PathBuf::from(path)])
    }
}

const DEPLOY: &str = "image: ghcr.io/acme/app:1.0.0\n";

fn seeded() -> BareRepo {
    BareRepo::with_files(&[
        ("README.md", "# fleet\n"),
        ("apps/app/deploy.yaml", DEPLOY),
        ("apps/other/deploy.yaml", "image: other:1\n"),
    ])
}

#[test]
fn commit_and_push_over_file_url() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    assert!(wc.root().starts_with(state.path()));
    assert_eq!(
        fs::read_to_string(wc.root().join("apps/app/deploy.yaml")).unwrap(),
        DEPLOY
    );

    let out = wc
        .commit_and_push(
            "chore(images): app 1.0.0 -> 1.1.0",
            write("apps/app/deploy.yaml", "image: ghcr.io/acme/app:1.1.0\n"),
        )
        .unwrap()
        .expect("a commit");
    assert_eq!(out.attempts, 1);
    assert_eq!(origin.head("main").unwrap(), out.commit);
    assert_eq!(
        origin.read("main", "apps/app/deploy.yaml").unwrap(),
        "image: ghcr.io/acme/app:1.1.0\n"
    );
    assert_eq!(origin.commit_count("main"), 2);
    assert_eq!(
        origin.log_subjects("main")[0],
        "chore(images): app 1.0.0 -> 1.1.0"
    );
    assert_eq!(
        origin.tip_author("main"),
        "imagebump <imagebump@example.invalid>"
    );
    assert_eq!(
        origin.tip_changed_files("main"),
        vec!["apps/app/deploy.yaml"]
    );

    // Reopening reuses the same directory (no second clone).
    let root = wc.root().to_path_buf();
    fs::write(root.join(".git/imagebump-marker"), "x").unwrap();
    drop(wc);
    let wc2 = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    assert_eq!(wc2.root(), root);
    assert!(root.join(".git/imagebump-marker").exists());
    // Exactly one copy directory for (url, branch).
    assert_eq!(fs::read_dir(state.path().join("git")).unwrap().count(), 1);
}

#[test]
fn nothing_changed_means_no_commit() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    let before = origin.head("main").unwrap();
    // Empty list.
    assert_eq!(
        wc.commit_and_push("m", |_: &Path| Ok(vec![])).unwrap(),
        None
    );
    // Listed, but the content is the same.
    assert_eq!(
        wc.commit_and_push("m", write("apps/app/deploy.yaml", DEPLOY))
            .unwrap(),
        None
    );
    assert_eq!(origin.head("main").unwrap(), before);
    assert_eq!(origin.commit_count("main"), 1);
}

#[test]
fn only_listed_paths_are_committed_and_leftovers_vanish() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    wc.commit_and_push("only app", |root: &Path| {
        fs::write(root.join("apps/app/deploy.yaml"), "image: app:2\n")?;
        fs::write(root.join("apps/other/deploy.yaml"), "image: other:SNEAKY\n")?;
        fs::write(root.join("untracked.txt"), "junk\n")?;
        Ok(vec!["apps/app/deploy.yaml".into()])
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        origin.read("main", "apps/app/deploy.yaml").unwrap(),
        "image: app:2\n"
    );
    assert_eq!(
        origin.read("main", "apps/other/deploy.yaml").unwrap(),
        "image: other:1\n"
    );
    assert_eq!(origin.read("main", "untracked.txt"), None);
    assert_eq!(
        origin.tip_changed_files("main"),
        vec!["apps/app/deploy.yaml"]
    );

    // The next write starts from the remote state: unlisted edits and junk are gone.
    wc.commit_and_push("look", |root: &Path| {
        assert_eq!(
            fs::read_to_string(root.join("apps/other/deploy.yaml"))?,
            "image: other:1\n"
        );
        assert!(!root.join("untracked.txt").exists());
        Ok(vec![])
    })
    .unwrap();
}

#[test]
fn listed_deleted_file_is_committed_as_deletion_and_new_files_are_added() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    wc.commit_and_push("move", |root: &Path| {
        fs::remove_file(root.join("apps/other/deploy.yaml"))?;
        fs::create_dir_all(root.join("apps/new"))?;
        fs::write(root.join("apps/new/deploy.yaml"), "image: new:1\n")?;
        Ok(vec![
            "apps/other/deploy.yaml".into(),
            "./apps/new/deploy.yaml".into(),
        ])
    })
    .unwrap()
    .unwrap();
    assert_eq!(origin.read("main", "apps/other/deploy.yaml"), None);
    assert_eq!(
        origin.read("main", "apps/new/deploy.yaml").unwrap(),
        "image: new:1\n"
    );
}

#[test]
fn paths_outside_the_repository_are_refused() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let outside_path = outside.path().to_path_buf();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    let before = origin.head("main").unwrap();
    type BadPaths = Box<dyn Fn(&Path) -> Vec<PathBuf>>;
    let bad: Vec<BadPaths> = vec![
        Box::new(|_| vec!["../escape.yaml".into()]),
        Box::new(|_| vec!["apps/../../escape.yaml".into()]),
        Box::new(|_| vec!["/etc/passwd".into()]),
        Box::new(|_| vec![".git/config".into()]),
        Box::new(move |root| {
            std::os::unix::fs::symlink(&outside_path, root.join("apps/link")).unwrap();
            fs::write(root.join("apps/link/deploy.yaml"), "x").unwrap();
            vec!["apps/link/deploy.yaml".into()]
        }),
    ];
    for (i, f) in bad.iter().enumerate() {
        let r = wc.commit_and_push("bad", |root: &Path| {
            fs::write(root.join("apps/app/deploy.yaml"), "image: changed\n")?;
            let mut v = vec![PathBuf::from("apps/app/deploy.yaml")];
            v.extend(f(root));
            Ok(v)
        });
        assert!(
            matches!(r, Err(GitError::PathOutsideRepo { .. })),
            "case {i}: {r:?}"
        );
    }
    assert_eq!(origin.head("main").unwrap(), before);
    // And the copy still works afterwards (the symlink leftover is cleaned).
    wc.commit_and_push("ok", write("apps/app/deploy.yaml", "image: app:3\n"))
        .unwrap()
        .unwrap();
    assert_eq!(origin.commit_count("main"), 2);
}

#[test]
fn race_with_another_writer_rebuilds_on_the_new_head() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url()))
        .unwrap()
        .with_retry(fast_retry(5));
    let calls = Cell::new(0);
    let out = wc
        .commit_and_push("bump app", |root: &Path| {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                // Between our fetch and our push, someone else pushes.
                other.commit_and_push(
                    &[("apps/other/deploy.yaml", "image: other:2\n")],
                    "human edit",
                );
            } else {
                // The retry sees the fresh files.
                assert_eq!(
                    fs::read_to_string(root.join("apps/other/deploy.yaml"))?,
                    "image: other:2\n"
                );
            }
            fs::write(root.join("apps/app/deploy.yaml"), "image: app:9\n")?;
            Ok(vec!["apps/app/deploy.yaml".into()])
        })
        .unwrap()
        .unwrap();
    assert_eq!(calls.get(), 2);
    assert_eq!(out.attempts, 2);
    assert_eq!(
        origin.log_subjects("main"),
        vec!["bump app", "human edit", "initial"]
    );
    assert_eq!(
        origin.read("main", "apps/other/deploy.yaml").unwrap(),
        "image: other:2\n"
    );
    assert_eq!(
        origin.read("main", "apps/app/deploy.yaml").unwrap(),
        "image: app:9\n"
    );
    // Nothing was force-pushed: the other writer's commit is an ancestor of ours.
    let theirs = git_rev(&other, "HEAD");
    assert!(origin.is_ancestor(&theirs, "main"));
}

fn git_rev(c: &CliClone, rev: &str) -> String {
    support::gitserver::git(Some(c.path()), &["rev-parse", rev])
        .trim()
        .to_string()
}

#[test]
fn endless_race_gives_up_after_bounded_attempts() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url()))
        .unwrap()
        .with_retry(fast_retry(3));
    let calls = Cell::new(0u32);
    let r = wc.commit_and_push("never lands", |root: &Path| {
        calls.set(calls.get() + 1);
        let n = calls.get().to_string();
        other.commit_and_push(&[("counter", n.as_str())], "human");
        fs::write(root.join("apps/app/deploy.yaml"), "image: app:x\n")?;
        Ok(vec!["apps/app/deploy.yaml".into()])
    });
    assert!(
        matches!(r, Err(GitError::Conflict { attempts: 3, .. })),
        "{r:?}"
    );
    assert_eq!(calls.get(), 3);
    assert_eq!(origin.read("main", "apps/app/deploy.yaml").unwrap(), DEPLOY);
    assert_eq!(origin.commit_count("main"), 4);
}

// Server-side rejection (a pre-receive hook) is tested over smart HTTP in git_http.rs:
// libgit2's file:// transport writes into the bare repository itself and runs no hooks.

#[test]
fn each_write_starts_from_the_current_remote_head() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    other.commit_and_push(&[("apps/app/deploy.yaml", "image: app:HUMAN\n")], "human");
    assert_eq!(
        wc.head_file(Path::new("apps/app/deploy.yaml"))
            .unwrap()
            .unwrap(),
        b"image: app:HUMAN\n"
    );
    assert_eq!(wc.head_file(Path::new("nope.yaml")).unwrap(), None);
    let out = wc
        .commit_and_push("bump", |root: &Path| {
            assert_eq!(
                fs::read_to_string(root.join("apps/app/deploy.yaml"))?,
                "image: app:HUMAN\n"
            );
            write("apps/app/deploy.yaml", "image: app:7\n")(root)
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        out.attempts, 1,
        "a fetch before the write avoids the conflict"
    );
    assert_eq!(
        origin.log_subjects("main"),
        vec!["bump", "human", "initial"]
    );
}

#[test]
fn push_branch_is_created_then_built_upon_and_main_is_untouched() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut c = cfg(&origin.file_url());
    c.push_branch = Some("imagebump/updates".into());
    let mut wc = WorkingCopy::open(state.path(), c).unwrap();
    let main_before = origin.head("main").unwrap();
    let a = wc
        .commit_and_push("one", write("apps/app/deploy.yaml", "image: app:2\n"))
        .unwrap()
        .unwrap();
    assert_eq!(a.branch, "imagebump/updates");
    let b = wc
        .commit_and_push("two", write("apps/other/deploy.yaml", "image: other:2\n"))
        .unwrap()
        .unwrap();
    assert_eq!(b.attempts, 1);
    assert_eq!(origin.head("main").unwrap(), main_before);
    assert_eq!(origin.head("imagebump/updates").unwrap(), b.commit);
    assert_eq!(
        origin.log_subjects("imagebump/updates"),
        vec!["two", "one", "initial"]
    );
    assert_eq!(
        origin
            .read("imagebump/updates", "apps/app/deploy.yaml")
            .unwrap(),
        "image: app:2\n"
    );
}

#[test]
fn missing_branch_is_a_clear_error_and_leaves_nothing_behind() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut c = cfg(&origin.file_url());
    c.branch = "does-not-exist".into();
    let r = WorkingCopy::open(state.path(), c);
    assert!(matches!(r, Err(GitError::BranchNotFound { .. })), "{r:?}");
    assert_eq!(fs::read_dir(state.path().join("git")).unwrap().count(), 0);
}

#[test]
fn apply_error_is_reported_and_the_copy_recovers() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    let r = wc.commit_and_push("x", |root: &Path| {
        fs::write(root.join("apps/app/deploy.yaml"), "half")?;
        anyhow::bail!("editor blew up")
    });
    assert!(matches!(&r, Err(GitError::Apply(_))), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("editor blew up"));
    wc.commit_and_push("y", |root: &Path| {
        assert_eq!(
            fs::read_to_string(root.join("apps/app/deploy.yaml"))?,
            DEPLOY
        );
        Ok(vec![])
    })
    .unwrap();
}

#[test]
fn too_many_pack_files_trigger_a_compacting_reclone() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    let packs = wc.root().join(".git/objects/pack");
    fs::create_dir_all(&packs).unwrap();
    // What months of small fetches look like to the counter (libgit2 ignores packs
    // without an .idx, so these do not disturb the repository itself).
    for i in 0..200 {
        fs::write(packs.join(format!("pack-{i:040}.pack")), "").unwrap();
    }
    wc.commit_and_push(
        "after compaction",
        write("apps/app/deploy.yaml", "image: app:c\n"),
    )
    .unwrap()
    .unwrap();
    let left = fs::read_dir(&packs).map(|rd| rd.count()).unwrap_or(0);
    assert!(left < 10, "{left} files left in the pack dir");
    assert_eq!(
        origin.log_subjects("main"),
        vec!["after compaction", "initial"]
    );
    // Nothing but the copy itself is left in the state directory.
    assert_eq!(fs::read_dir(state.path().join("git")).unwrap().count(), 1);
    wc.commit_and_push("and again", write("apps/app/deploy.yaml", "image: app:d\n"))
        .unwrap()
        .unwrap();
}
