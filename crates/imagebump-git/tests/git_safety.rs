//! Working-copy safety against real bare repositories over file:// and the git CLI:
//! symlinked targets (issue 9 item 13) and one process per copy (item 14).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{cfg, land};
use imagebump_git::{GitAuth, GitError, WorkingCopy, LOCK_WAIT};
use imagebump_testbed::gitserver::{git, BareRepo, CliClone};

/// A repository whose `apps/web.yaml` is a relative symlink to `base/web.yaml`, plus links
/// that must stay refused: one out of the repository, one into `.git`, one dangling.
fn with_links() -> BareRepo {
    let origin = BareRepo::with_files(&[("base/web.yaml", "image: web:1\n"), ("README.md", "x\n")]);
    let human = CliClone::new(&origin.file_url());
    let p = human.path();
    fs::create_dir_all(p.join("apps")).unwrap();
    std::os::unix::fs::symlink("../base/web.yaml", p.join("apps/web.yaml")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", p.join("apps/out.yaml")).unwrap();
    std::os::unix::fs::symlink("../.git/config", p.join("apps/git.yaml")).unwrap();
    std::os::unix::fs::symlink("../base/gone.yaml", p.join("apps/dangling.yaml")).unwrap();
    git(Some(p), &["add", "-A"]);
    git(Some(p), &["commit", "-q", "-m", "links"]);
    human.push();
    origin
}

/// `git ls-tree` mode of `path` at the tip of main (`120000` for a symlink).
fn mode(origin: &BareRepo, path: &str) -> String {
    let out = git(
        None,
        &[
            "--git-dir",
            origin.path().to_str().unwrap(),
            "ls-tree",
            "main",
            path,
        ],
    );
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_symlinked_target_edits_the_file_it_points_to_and_the_link_stays() {
    let origin = with_links();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    let landed = land(&mut wc, common::fast_retry(3), "bump", |wc, _| {
        let written = wc.write_file(Path::new("apps/web.yaml"), "image: web:2\n")?;
        assert_eq!(written, PathBuf::from("base/web.yaml"));
        // The link is still a link in the working tree.
        let md = fs::symlink_metadata(wc.root().join("apps/web.yaml")).unwrap();
        assert!(
            md.file_type().is_symlink(),
            "the link was replaced by a file"
        );
        Ok(vec![written])
    })
    .unwrap()
    .expect("a commit");
    assert_eq!(origin.head("main").unwrap(), landed.pushed.commit);
    assert_eq!(
        origin.read("main", "base/web.yaml").unwrap(),
        "image: web:2\n"
    );
    assert_eq!(
        mode(&origin, "apps/web.yaml"),
        "120000",
        "still a symlink on main"
    );
    assert_eq!(origin.tip_changed_files("main"), vec!["base/web.yaml"]);
}

#[test]
fn symlinks_out_of_the_repository_into_git_or_to_nothing_are_refused() {
    let origin = with_links();
    let before = origin.head("main").unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    wc.sync().unwrap();
    for (link, want) in [
        ("apps/out.yaml", "leaves the repository"),
        ("apps/git.yaml", ".git"),
        ("apps/dangling.yaml", "dangling"),
    ] {
        let err = wc.write_file(Path::new(link), "image: evil\n").unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                GitError::PathOutsideRepo { .. } | GitError::NotAFile { .. }
            ),
            "{link}: {err:?}"
        );
        assert!(msg.contains(link) && msg.contains(want), "{link}: {msg}");
        let md = fs::symlink_metadata(wc.root().join(link)).unwrap();
        assert!(md.file_type().is_symlink(), "{link} was replaced");
    }
    assert!(!fs::read_to_string(wc.root().join(".git/config"))
        .unwrap()
        .contains("evil"));
    assert_eq!(origin.head("main").unwrap(), before);
}

/// Two openers of one copy (as two processes sharing a state directory): the second waits
/// up to `LOCK_WAIT`, then fails naming the holder, and it has not touched the holder's
/// live `*.lock` files. Once the first is gone, the copy opens.
#[test]
fn a_second_opener_waits_then_fails_naming_the_holder_and_leaves_its_locks() {
    let origin = BareRepo::with_files(&[("a.yaml", "image: a:1\n")]);
    let state = tempfile::tempdir().unwrap();
    let first = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    // A lock the first holder is using right now (as during a ref update).
    let live = first.root().join(".git/refs/heads/main.lock");
    fs::write(&live, "in use").unwrap();

    let t = Instant::now();
    let err = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap_err();
    let waited = t.elapsed();
    let msg = err.to_string();
    assert!(matches!(err, GitError::Busy { .. }), "{err:?}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(waited >= LOCK_WAIT, "gave up after {waited:?}");
    assert!(
        waited < LOCK_WAIT + Duration::from_secs(5),
        "waited {waited:?}"
    );
    assert!(live.exists(), "the holder's live lock file was deleted");

    fs::remove_file(&live).unwrap();
    drop(first);
    let again = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None));
    assert!(again.is_ok(), "{again:?}");
}
