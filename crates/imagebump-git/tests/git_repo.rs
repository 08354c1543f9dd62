//! WorkingCopy against real bare repositories over file://: commit, push, races,
//! path rules, push branch, compaction.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{cfg, fast_retry, land, land_file};
use imagebump_git::{GitAuth, GitError, PushError, WorkingCopy, TRAILER};
use imagebump_testbed::gitserver::{git, BareRepo, CliClone};

const DEPLOY: &str = "image: ghcr.io/acme/app:1.0.0\n";

fn seeded() -> BareRepo {
    BareRepo::with_files(&[
        ("README.md", "# fleet\n"),
        ("apps/app/deploy.yaml", DEPLOY),
        ("apps/other/deploy.yaml", "image: other:1\n"),
    ])
}

fn open(origin: &BareRepo, state: &Path) -> WorkingCopy {
    WorkingCopy::open(state, cfg(&origin.file_url(), GitAuth::None)).unwrap()
}

#[test]
fn commit_and_push_over_file_url() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    assert!(wc.root().starts_with(state.path()));
    assert_eq!(wc.push_branch(), "main");
    assert_eq!(
        fs::read_to_string(wc.root().join("apps/app/deploy.yaml")).unwrap(),
        DEPLOY
    );

    let base = wc.sync().unwrap();
    assert_eq!(base.id(), origin.head("main").unwrap());
    wc.write_file(
        Path::new("apps/app/deploy.yaml"),
        "image: ghcr.io/acme/app:1.1.0\n",
    )
    .unwrap();
    let commit = wc
        .commit(
            &base,
            &["apps/app/deploy.yaml".into()],
            "chore(images): app 1.0.0 -> 1.1.0",
        )
        .unwrap()
        .expect("a commit");
    assert_eq!(commit.base(), &base);
    // Committed locally, not pushed yet.
    assert_eq!(origin.head("main").unwrap(), base.id());
    let out = wc.push(&commit).unwrap();
    assert_eq!(out.commit, commit.id());
    assert_eq!(out.branch, "main");
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
    // The remote repository is sound after our direct object and ref writes.
    git(
        None,
        &[
            "--git-dir",
            origin.path().to_str().unwrap(),
            "fsck",
            "--no-progress",
        ],
    );

    // Reopening reuses the same directory (no second clone).
    let root = wc.root().to_path_buf();
    fs::write(root.join(".git/imagebump-marker"), "x").unwrap();
    drop(wc);
    let wc2 = open(&origin, state.path());
    assert_eq!(wc2.root(), root);
    assert!(root.join(".git/imagebump-marker").exists());
    // Exactly one copy directory for (url, branch).
    assert_eq!(fs::read_dir(state.path().join("git")).unwrap().count(), 1);
}

#[test]
fn nothing_changed_means_no_commit() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    let before = origin.head("main").unwrap();
    let base = wc.sync().unwrap();
    // Empty list.
    assert_eq!(wc.commit(&base, &[], "m").unwrap(), None);
    // Listed, but the content is the same.
    wc.write_file(Path::new("apps/app/deploy.yaml"), DEPLOY)
        .unwrap();
    assert_eq!(
        wc.commit(&base, &["apps/app/deploy.yaml".into()], "m")
            .unwrap(),
        None
    );
    assert_eq!(origin.head("main").unwrap(), before);
    assert_eq!(origin.commit_count("main"), 1);
}

#[test]
fn a_commit_needs_the_base_the_copy_is_at() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    let old = wc.sync().unwrap();
    other.commit_and_push(&[("apps/other/deploy.yaml", "image: other:2\n")], "human");
    let new = wc.sync().unwrap();
    assert_ne!(old, new);
    wc.write_file(Path::new("apps/app/deploy.yaml"), "image: app:2\n")
        .unwrap();
    // Committing on the older base would build on a tree the index no longer holds.
    let r = wc.commit(&old, &["apps/app/deploy.yaml".into()], "stale");
    assert!(matches!(r, Err(GitError::NotAtBase { .. })), "{r:?}");
    let c = wc
        .commit(&new, &["apps/app/deploy.yaml".into()], "fresh")
        .unwrap()
        .unwrap();
    // One commit per base: the copy is now at the commit, not at the base.
    let r = wc.commit(&new, &["apps/app/deploy.yaml".into()], "twice");
    assert!(matches!(r, Err(GitError::NotAtBase { .. })), "{r:?}");
    wc.push(&c).unwrap();
    assert_eq!(
        origin.log_subjects("main"),
        vec!["fresh", "human", "initial"]
    );
}

#[test]
fn only_listed_paths_are_committed_and_leftovers_vanish() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    land(&mut wc, fast_retry(1), "only app", |wc, _| {
        let root = wc.root();
        fs::write(root.join("apps/app/deploy.yaml"), "image: app:2\n").unwrap();
        fs::write(root.join("apps/other/deploy.yaml"), "image: other:SNEAKY\n").unwrap();
        fs::write(root.join("untracked.txt"), "junk\n").unwrap();
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

    // The next sync brings the remote state: unlisted edits and junk are gone.
    wc.sync().unwrap();
    assert_eq!(
        fs::read_to_string(wc.root().join("apps/other/deploy.yaml")).unwrap(),
        "image: other:1\n"
    );
    assert!(!wc.root().join("untracked.txt").exists());
}

#[test]
fn listed_deleted_file_is_committed_as_deletion_and_new_files_are_added() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    land(&mut wc, fast_retry(1), "move", |wc, _| {
        fs::remove_file(wc.root().join("apps/other/deploy.yaml")).unwrap();
        wc.write_file(Path::new("apps/new/deploy.yaml"), "image: new:1\n")?;
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
    let mut wc = open(&origin, state.path());
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
        let base = wc.sync().unwrap();
        wc.write_file(Path::new("apps/app/deploy.yaml"), "image: changed\n")
            .unwrap();
        let mut paths = vec![PathBuf::from("apps/app/deploy.yaml")];
        paths.extend(f(wc.root()));
        let r = wc.commit(&base, &paths, "bad");
        assert!(
            matches!(r, Err(GitError::PathOutsideRepo { .. })),
            "case {i}: {r:?}"
        );
        // write_file refuses them too, before writing anything.
        let last = paths.last().unwrap();
        let w = wc.write_file(last, "x");
        assert!(
            matches!(w, Err(GitError::PathOutsideRepo { .. })),
            "case {i}: {w:?}"
        );
    }
    // A directory is not a file to stage.
    let base = wc.sync().unwrap();
    let r = wc.commit(&base, &["apps".into()], "dir");
    assert!(matches!(r, Err(GitError::NotAFile { .. })), "{r:?}");
    assert_eq!(origin.head("main").unwrap(), before);
    // And the copy still works afterwards (the symlink leftover is cleaned).
    land_file(&mut wc, "apps/app/deploy.yaml", "image: app:3\n", "ok")
        .unwrap()
        .unwrap();
    assert_eq!(origin.commit_count("main"), 2);
    assert!(!wc.root().join("apps/link").exists());
}

#[test]
fn race_with_another_writer_rebuilds_on_the_new_head() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    let out = land(&mut wc, fast_retry(5), "bump app", |wc, attempt| {
        if attempt == 1 {
            // Between our fetch and our push, someone else pushes.
            other.commit_and_push(
                &[("apps/other/deploy.yaml", "image: other:2\n")],
                "human edit",
            );
        } else {
            // The retry sees the fresh files.
            assert_eq!(
                fs::read_to_string(wc.root().join("apps/other/deploy.yaml")).unwrap(),
                "image: other:2\n"
            );
        }
        wc.write_file(Path::new("apps/app/deploy.yaml"), "image: app:9\n")?;
        Ok(vec!["apps/app/deploy.yaml".into()])
    })
    .unwrap()
    .unwrap();
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
    let theirs = git(Some(other.path()), &["rev-parse", "HEAD"]);
    assert!(origin.is_ancestor(theirs.trim(), "main"));
}

#[test]
fn endless_race_gives_up_after_bounded_attempts() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    let mut calls = 0u32;
    let r = land(&mut wc, fast_retry(3), "never lands", |wc, _| {
        calls += 1;
        let n = calls.to_string();
        other.commit_and_push(&[("counter", n.as_str())], "human");
        wc.write_file(Path::new("apps/app/deploy.yaml"), "image: app:x\n")?;
        Ok(vec!["apps/app/deploy.yaml".into()])
    });
    assert!(
        matches!(r, Err(GitError::Conflict { attempts: 3, .. })),
        "{r:?}"
    );
    assert_eq!(calls, 3);
    assert_eq!(origin.read("main", "apps/app/deploy.yaml").unwrap(), DEPLOY);
    assert_eq!(origin.commit_count("main"), 4);
}

// Server-side rejection (a pre-receive hook) is tested over smart HTTP in git_http.rs:
// over file:// the copy writes into the bare repository itself and runs no hooks.

#[test]
fn head_file_reads_the_current_remote_head() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    other.commit_and_push(&[("apps/app/deploy.yaml", "image: app:HUMAN\n")], "human");
    assert_eq!(
        wc.head_file(Path::new("apps/app/deploy.yaml"))
            .unwrap()
            .unwrap(),
        b"image: app:HUMAN\n"
    );
    assert_eq!(wc.head_file(Path::new("nope.yaml")).unwrap(), None);
    assert_eq!(wc.head_file(Path::new("apps")).unwrap(), None);
    let out = land(&mut wc, fast_retry(1), "bump", |wc, _| {
        assert_eq!(
            fs::read_to_string(wc.root().join("apps/app/deploy.yaml")).unwrap(),
            "image: app:HUMAN\n"
        );
        wc.write_file(Path::new("apps/app/deploy.yaml"), "image: app:7\n")?;
        Ok(vec!["apps/app/deploy.yaml".into()])
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        out.attempts, 1,
        "a sync before the write avoids the conflict"
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
    let mut c = cfg(&origin.file_url(), GitAuth::None);
    c.push_branch = Some("imagebump/updates".into());
    let mut wc = WorkingCopy::open(state.path(), c).unwrap();
    assert_eq!(wc.push_branch(), "imagebump/updates");
    let main_before = origin.head("main").unwrap();
    // imagebump's own commits (author and trailer) are what the push branch is built from.
    let one = format!("one\n\n{TRAILER}: 0.0.0-test\n");
    let two = format!("two\n\n{TRAILER}: 0.0.0-test\n");
    let a = land_file(&mut wc, "apps/app/deploy.yaml", "image: app:2\n", &one)
        .unwrap()
        .unwrap();
    assert_eq!(a.pushed.branch, "imagebump/updates");
    let b = land_file(&mut wc, "apps/other/deploy.yaml", "image: other:2\n", &two)
        .unwrap()
        .unwrap();
    assert_eq!(b.attempts, 1);
    assert_eq!(origin.head("main").unwrap(), main_before);
    assert_eq!(origin.head("imagebump/updates").unwrap(), b.pushed.commit);
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

/// Someone else creates the push branch between our sync and our push: the push is a
/// move, and since the branch now holds a commit imagebump did not make, the next write
/// stops with `ForeignCommit` instead of replacing it.
#[test]
fn push_branch_created_by_someone_else_first_is_a_move() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut c = cfg(&origin.file_url(), GitAuth::None);
    c.push_branch = Some("imagebump/updates".into());
    let mut wc = WorkingCopy::open(state.path(), c).unwrap();
    let base = wc.sync().unwrap();
    wc.write_file(Path::new("apps/app/deploy.yaml"), "image: app:2\n")
        .unwrap();
    let commit = wc
        .commit(&base, &["apps/app/deploy.yaml".into()], "ours")
        .unwrap()
        .unwrap();
    // The branch appears between our sync and our push.
    other.commit(&[("counter", "1")], "theirs");
    git(
        Some(other.path()),
        &["push", "-q", "origin", "HEAD:refs/heads/imagebump/updates"],
    );
    let r = wc.push(&commit);
    assert!(matches!(r, Err(PushError::Moved { .. })), "{r:?}");
    assert_eq!(
        origin.log_subjects("imagebump/updates"),
        vec!["theirs", "initial"]
    );
    let r = land_file(&mut wc, "apps/app/deploy.yaml", "image: app:2\n", "ours");
    assert!(matches!(r, Err(GitError::ForeignCommit { .. })), "{r:?}");
    assert_eq!(
        origin.log_subjects("imagebump/updates"),
        vec!["theirs", "initial"]
    );
}

#[test]
fn missing_branch_is_a_clear_error_and_leaves_nothing_behind() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut c = cfg(&origin.file_url(), GitAuth::None);
    c.branch = "does-not-exist".into();
    let r = WorkingCopy::open(state.path(), c);
    assert!(matches!(r, Err(GitError::BranchNotFound { .. })), "{r:?}");
    assert_eq!(fs::read_dir(state.path().join("git")).unwrap().count(), 0);
}

#[test]
fn an_edit_abandoned_before_commit_is_undone_by_the_next_sync() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    wc.sync().unwrap();
    // The caller's editor wrote half a file, then gave up (no commit).
    wc.write_file(Path::new("apps/app/deploy.yaml"), "half")
        .unwrap();
    fs::write(wc.root().join("apps/app/stray.yaml"), "x").unwrap();
    wc.sync().unwrap();
    assert_eq!(
        fs::read_to_string(wc.root().join("apps/app/deploy.yaml")).unwrap(),
        DEPLOY
    );
    assert!(!wc.root().join("apps/app/stray.yaml").exists());
}

#[test]
fn too_many_pack_files_trigger_a_compacting_reclone() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    let packs = wc.root().join(".git/objects/pack");
    fs::create_dir_all(&packs).unwrap();
    // What months of small fetches look like to the counter (libgit2 ignores packs
    // without an .idx, so these do not disturb the repository itself).
    for i in 0..200 {
        fs::write(packs.join(format!("pack-{i:040}.pack")), "").unwrap();
    }
    land_file(
        &mut wc,
        "apps/app/deploy.yaml",
        "image: app:c\n",
        "after compaction",
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
    land_file(
        &mut wc,
        "apps/app/deploy.yaml",
        "image: app:d\n",
        "and again",
    )
    .unwrap()
    .unwrap();
}

#[test]
fn a_copy_whose_caches_were_released_keeps_committing_and_pushing() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = open(&origin, state.path());
    for (round, tag) in ["1.1.0", "1.2.0"].iter().enumerate() {
        let base = wc.sync().unwrap();
        let text = format!("image: ghcr.io/acme/app:{tag}\n");
        wc.write_file(Path::new("apps/app/deploy.yaml"), &text)
            .unwrap();
        let commit = wc
            .commit(&base, &["apps/app/deploy.yaml".into()], "bump")
            .unwrap()
            .expect("a commit");
        wc.push(&commit).unwrap();
        assert_eq!(origin.read("main", "apps/app/deploy.yaml").unwrap(), text);
        assert_eq!(origin.commit_count("main"), 2 + round);
        // What the writer does after a large batch: the next round must not notice.
        wc.release_caches().unwrap();
    }
    git(
        None,
        &[
            "--git-dir",
            origin.path().to_str().unwrap(),
            "fsck",
            "--full",
        ],
    );
}
