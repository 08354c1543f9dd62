//! The incremental sync of WorkingCopy: after a write, the next one fetches and updates only
//! the paths that differ between the last known commit and the remote head (no reset of the
//! whole tree). Its result must be exactly what a fresh checkout of the remote head gives,
//! also after another writer changed, deleted, retyped files, and after a failed push.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{fast_retry, land};
use imagebump_git::{GitAuth, GitConfig, GitError, PushError, SyncKind, WorkingCopy};
use imagebump_testbed::gitserver::{git, BareRepo, CliClone};

fn cfg(url: &str) -> GitConfig {
    common::cfg(url, GitAuth::None)
}

const DEPLOY: &str = "image: ghcr.io/acme/app:1.0.0\n";

fn seeded() -> BareRepo {
    BareRepo::with_files(&[
        ("README.md", "# fleet\n"),
        ("apps/app/deploy.yaml", DEPLOY),
        ("apps/other/deploy.yaml", "image: other:1\n"),
        ("apps/gone/deploy.yaml", "image: gone:1\n"),
        ("apps/becomes-dir", "a file for now\n"),
        ("apps/dir-becomes-file/x.yaml", "x: 1\n"),
        ("scripts/run.sh", "#!/bin/sh\necho hi\n"),
    ])
}

/// Everything a checkout produces under `root` (but `.git`): files with their content and
/// executable bit, symlinks with their target, empty directories.
#[derive(Debug, PartialEq, Eq)]
enum Node {
    File { content: Vec<u8>, exec: bool },
    Link(PathBuf),
    EmptyDir,
}

fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut empty = true;
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p == root.join(".git") {
                continue;
            }
            empty = false;
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let md = fs::symlink_metadata(&p).unwrap();
            if md.file_type().is_symlink() {
                out.insert(rel, Node::Link(fs::read_link(&p).unwrap()));
            } else if md.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    rel,
                    Node::File {
                        content: fs::read(&p).unwrap(),
                        exec: md.permissions().mode() & 0o111 != 0,
                    },
                );
            }
        }
        if empty && dir != root {
            let rel = dir
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(rel, Node::EmptyDir);
        }
    }
    out
}

/// Another writer changes, adds, deletes, retypes files and flips an executable bit.
fn other_writer_reshapes(other: &CliClone) {
    let p = other.path();
    other.pull();
    fs::write(p.join("apps/other/deploy.yaml"), "image: other:2\n").unwrap();
    fs::create_dir_all(p.join("apps/new")).unwrap();
    fs::write(p.join("apps/new/deploy.yaml"), "image: new:1\n").unwrap();
    fs::remove_dir_all(p.join("apps/gone")).unwrap();
    fs::remove_file(p.join("apps/becomes-dir")).unwrap();
    fs::create_dir_all(p.join("apps/becomes-dir")).unwrap();
    fs::write(p.join("apps/becomes-dir/inside.yaml"), "inside: 1\n").unwrap();
    fs::remove_dir_all(p.join("apps/dir-becomes-file")).unwrap();
    fs::write(p.join("apps/dir-becomes-file"), "now a file\n").unwrap();
    fs::set_permissions(p.join("scripts/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("../apps/app/deploy.yaml", p.join("scripts/link.yaml")).unwrap();
    other.commit(&[], "human reshapes the tree");
    other.push();
}

/// [`land`] with an edit that writes through the copy's root, as an editor does.
fn land_edit(
    wc: &mut WorkingCopy,
    message: &str,
    mut edit: impl FnMut(&Path) -> Vec<PathBuf>,
) -> Option<common::Landed> {
    land(wc, fast_retry(1), message, |wc, _| Ok(edit(wc.root()))).unwrap()
}

#[test]
fn next_write_updates_only_what_the_remote_changed_and_matches_a_fresh_checkout() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    land_edit(&mut wc, "one", |root| {
        fs::write(root.join("apps/app/deploy.yaml"), "image: app:2\n").unwrap();
        vec!["apps/app/deploy.yaml".into()]
    })
    .unwrap();

    other_writer_reshapes(&other);
    let fresh = CliClone::new(&origin.file_url());
    let expected = snapshot(fresh.path());

    land_edit(&mut wc, "two", |root| {
        // The edit starts from exactly the remote head: theirs and ours.
        assert_eq!(snapshot(root), expected);
        fs::write(root.join("apps/new/deploy.yaml"), "image: new:2\n").unwrap();
        vec!["apps/new/deploy.yaml".into()]
    })
    .unwrap();
    // Typed, not read from the log: a log captured per thread missed events when tests
    // ran in parallel (tracing's callsite interest is global), which made this flaky.
    assert_eq!(wc.last_sync(), Some(SyncKind::Incremental));

    assert_eq!(
        origin.log_subjects("main"),
        vec!["two", "human reshapes the tree", "one", "initial"]
    );
    assert_eq!(
        origin.tip_changed_files("main"),
        vec!["apps/new/deploy.yaml"]
    );
    assert_eq!(
        origin.read("main", "apps/other/deploy.yaml").unwrap(),
        "image: other:2\n"
    );
    assert_eq!(
        origin.read("main", "apps/app/deploy.yaml").unwrap(),
        "image: app:2\n"
    );
    // The copy's HEAD, index and tree agree with what was pushed (git's own view).
    let status = git(
        Some(wc.root()),
        &["status", "--porcelain", "--ignored", "-uall"],
    );
    assert_eq!(status, "", "working copy not clean");
    assert_eq!(
        git(Some(wc.root()), &["rev-parse", "HEAD"]).trim(),
        origin.head("main").unwrap()
    );
    // Another clone sees the same tree the copy now has.
    fresh.pull();
    assert_eq!(snapshot(wc.root()), snapshot(fresh.path()));

    // No remote change: nothing is touched at all.
    land_edit(&mut wc, "three", |root| {
        assert_eq!(snapshot(root), snapshot(fresh.path()));
        vec![]
    });
    assert_eq!(wc.last_sync(), Some(SyncKind::Unchanged));
}

#[test]
fn an_edit_whose_push_failed_is_replaced_by_the_remote_content() {
    let origin = seeded();
    let other = CliClone::new(&origin.file_url());
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();

    // 1. Every attempt loses the race: our edit is committed locally, never pushed.
    let mut calls = 0u32;
    let r = land(&mut wc, fast_retry(2), "never lands", |wc, _| {
        calls += 1;
        other.commit_and_push(&[("counter", calls.to_string().as_str())], "human wins");
        wc.write_file(Path::new("apps/app/deploy.yaml"), "image: app:LOST\n")?;
        Ok(vec!["apps/app/deploy.yaml".into()])
    });
    assert!(matches!(r, Err(GitError::Conflict { .. })), "{r:?}");

    // 2. The push fails outright (the remote vanished between commit and push).
    let base = wc.sync().unwrap();
    wc.write_file(Path::new("apps/other/deploy.yaml"), "image: other:LOST\n")
        .unwrap();
    let commit = wc
        .commit(&base, &["apps/other/deploy.yaml".into()], "fails")
        .unwrap()
        .unwrap();
    let parked = origin.path().with_extension("parked");
    fs::rename(origin.path(), &parked).unwrap();
    let r = wc.push(&commit);
    fs::rename(&parked, origin.path()).unwrap();
    assert!(matches!(r, Err(PushError::Failed(_))), "{r:?}");

    // 3. Someone else writes; our next write sees their files and none of our lost edits.
    other.commit_and_push(&[("README.md", "# fleet, edited\n")], "human again");
    let fresh = CliClone::new(&origin.file_url());
    let expected = snapshot(fresh.path());
    land_edit(&mut wc, "lands", |root| {
        assert_eq!(snapshot(root), expected);
        assert_eq!(
            fs::read_to_string(root.join("apps/app/deploy.yaml")).unwrap(),
            DEPLOY
        );
        fs::write(root.join("apps/app/deploy.yaml"), "image: app:3\n").unwrap();
        vec!["apps/app/deploy.yaml".into()]
    })
    .unwrap();
    assert_eq!(wc.last_sync(), Some(SyncKind::Incremental));
    assert_eq!(
        origin.read("main", "apps/other/deploy.yaml").unwrap(),
        "image: other:1\n"
    );
    assert_eq!(
        origin.read("main", "README.md").unwrap(),
        "# fleet, edited\n"
    );
    assert_eq!(
        origin.tip_changed_files("main"),
        vec!["apps/app/deploy.yaml"]
    );
    assert_eq!(
        git(
            Some(wc.root()),
            &["status", "--porcelain", "--ignored", "-uall"]
        ),
        ""
    );
}

#[test]
fn unlisted_changes_are_noticed_and_reset_even_on_the_fast_path() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    // Writes one listed and several unlisted changes (including an ignored file).
    land_edit(&mut wc, "only app", |root| {
        fs::write(root.join(".gitignore"), "*.tmp\n").unwrap();
        fs::write(root.join("apps/app/deploy.yaml"), "image: app:2\n").unwrap();
        fs::write(root.join("apps/other/deploy.yaml"), "image: other:SNEAKY\n").unwrap();
        fs::remove_file(root.join("README.md")).unwrap();
        fs::write(root.join("apps/junk.tmp"), "junk\n").unwrap();
        vec!["apps/app/deploy.yaml".into()]
    })
    .unwrap();
    let fresh = CliClone::new(&origin.file_url());
    let expected = snapshot(fresh.path());
    // The scan during the push noticed the unlisted changes: the next sync resets fully.
    land_edit(&mut wc, "look", |root| {
        assert_eq!(snapshot(root), expected);
        vec![]
    });
    assert_eq!(wc.last_sync(), Some(SyncKind::FullReset));
    // Now known clean again: the next sync touches nothing.
    wc.sync().unwrap();
    assert_eq!(wc.last_sync(), Some(SyncKind::Unchanged));
}

/// Commits build their tree from the base's and the changed paths only (not from the
/// whole index): git itself must see HEAD, the index and the files agree afterwards, and
/// an index another program changed must not be trusted for it.
#[test]
fn commits_leave_an_index_git_agrees_with_and_a_foreign_index_is_checked() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url())).unwrap();
    land_edit(&mut wc, "reshape", |root| {
        fs::write(root.join("apps/app/deploy.yaml"), "image: app:2\n").unwrap();
        fs::create_dir_all(root.join("apps/deep/er")).unwrap();
        fs::write(root.join("apps/deep/er/deploy.yaml"), "image: deep:1\n").unwrap();
        fs::remove_dir_all(root.join("apps/gone")).unwrap();
        fs::set_permissions(
            root.join("scripts/run.sh"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        vec![
            "apps/app/deploy.yaml".into(),
            "apps/deep/er/deploy.yaml".into(),
            "apps/gone/deploy.yaml".into(),
            "scripts/run.sh".into(),
        ]
    })
    .unwrap();
    let agrees = |wc: &WorkingCopy| {
        let root = Some(wc.root());
        assert_eq!(
            git(root, &["write-tree"]),
            git(root, &["rev-parse", "HEAD^{tree}"]),
            "the index's tree is not HEAD's"
        );
        assert_eq!(
            git(root, &["status", "--porcelain", "--ignored", "-uall"]),
            ""
        );
    };
    agrees(&wc);
    git(Some(origin.path()), &["fsck", "--strict", "--no-dangling"]);
    assert_eq!(
        origin.tip_changed_files("main"),
        vec![
            "apps/app/deploy.yaml",
            "apps/deep/er/deploy.yaml",
            "apps/gone/deploy.yaml",
            "scripts/run.sh"
        ]
    );
    // Another program drops a file from the index (HEAD still has it): the next sync
    // must notice and reset, and the file must stay in git.
    git(
        Some(wc.root()),
        &["rm", "--cached", "-q", "apps/other/deploy.yaml"],
    );
    land_edit(&mut wc, "again", |root| {
        fs::write(root.join("apps/app/deploy.yaml"), "image: app:3\n").unwrap();
        vec!["apps/app/deploy.yaml".into()]
    })
    .unwrap();
    assert_eq!(wc.last_sync(), Some(SyncKind::FullReset));
    agrees(&wc);
    assert_eq!(
        origin.read("main", "apps/other/deploy.yaml").unwrap(),
        "image: other:1\n"
    );
    assert_eq!(
        origin.tip_changed_files("main"),
        vec!["apps/app/deploy.yaml"]
    );
}
