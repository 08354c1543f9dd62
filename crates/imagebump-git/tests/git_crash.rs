//! Crash safety of the working copy: a writer process is really killed (SIGKILL) in the
//! middle of a write, or the copy is left in the states a crash leaves behind (dirty tree,
//! stale locks, a merge/rebase in progress, a detached HEAD, a broken index, a half-made
//! clone). Re-opening must converge to the remote head and the next write must succeed.
//!
//! The killed writer is this very test binary, re-executed with `crash_child` as filter
//! and `IMAGEBUMP_CRASH_CHILD` set; without that variable `crash_child` does nothing.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{cfg, fast_retry, land, land_file};
use imagebump_git::{GitAuth, WorkingCopy};
use imagebump_testbed::gitserver::{git, BareRepo, HttpGitServer};

const DEPLOY: &str = "image: ghcr.io/acme/app:1.0.0\n";

fn auth_from_env() -> GitAuth {
    match (
        std::env::var("IMAGEBUMP_USER"),
        std::env::var("IMAGEBUMP_PASS"),
    ) {
        (Ok(username), Ok(password)) => GitAuth::UserPass { username, password },
        _ => GitAuth::None,
    }
}

/// The writer that gets killed. Runs only when re-executed by a test below.
#[test]
fn crash_child() {
    let Ok(mode) = std::env::var("IMAGEBUMP_CRASH_CHILD") else {
        return;
    };
    let state = PathBuf::from(std::env::var("IMAGEBUMP_STATE").unwrap());
    let url = std::env::var("IMAGEBUMP_URL").unwrap();
    let ready = PathBuf::from(std::env::var("IMAGEBUMP_READY").unwrap());
    let mut wc = WorkingCopy::open(&state, cfg(&url, auth_from_env())).unwrap();
    match mode.as_str() {
        "block-in-edit" => {
            wc.sync().unwrap();
            // Half of an edit, a new file, then stall until killed.
            let root = wc.root();
            let p = root.join("apps/app/deploy.yaml");
            fs::write(&p, &DEPLOY.as_bytes()[..DEPLOY.len() / 2]).unwrap();
            fs::write(root.join("apps/app/new-half.yaml"), "image: gh").unwrap();
            fs::write(&ready, "ready").unwrap();
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        "loop" => {
            fs::write(&ready, "ready").unwrap();
            for i in 0u64.. {
                land(&mut wc, fast_retry(5), &format!("loop {i}"), |wc, _| {
                    let p = wc.root().join("apps/app/deploy.yaml");
                    // Write in two steps so a kill can land between them.
                    fs::write(&p, "image: ghcr.io/acme/app:").unwrap();
                    let mut f = fs::OpenOptions::new().append(true).open(&p).unwrap();
                    std::io::Write::write_all(&mut f, format!("{i}.0.0\n").as_bytes()).unwrap();
                    Ok(vec!["apps/app/deploy.yaml".into()])
                })
                .unwrap();
            }
        }
        other => panic!("unknown mode {other}"),
    }
}

fn spawn_child(
    mode: &str,
    state: &Path,
    url: &str,
    auth: Option<(&str, &str)>,
) -> (Child, PathBuf) {
    let ready = state.join(format!("ready-{}", rand_suffix()));
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("IMAGEBUMP_CRASH_CHILD", mode)
        .env("IMAGEBUMP_STATE", state)
        .env("IMAGEBUMP_URL", url)
        .env("IMAGEBUMP_READY", &ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((u, p)) = auth {
        cmd.env("IMAGEBUMP_USER", u).env("IMAGEBUMP_PASS", p);
    }
    let child = cmd.spawn().unwrap();
    (child, ready)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn wait_for(p: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !p.exists() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("child exited early: {st}");
        }
        assert!(Instant::now() < deadline, "child never got ready");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The copy is exactly the remote head: on the branch, clean (no untracked or ignored
/// files either), no lock files, no operation in progress.
fn assert_converged(root: &Path, origin: &BareRepo) {
    let status = git(Some(root), &["status", "--porcelain", "--ignored"]);
    assert_eq!(status, "", "working copy not clean");
    assert_eq!(
        git(Some(root), &["rev-parse", "HEAD"]).trim(),
        origin.head("main").unwrap()
    );
    assert_eq!(
        git(Some(root), &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    for name in [
        "MERGE_HEAD",
        "rebase-merge",
        "rebase-apply",
        "CHERRY_PICK_HEAD",
    ] {
        assert!(!root.join(".git").join(name).exists(), "{name} left");
    }
    let mut stack = vec![root.join(".git")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                assert!(
                    e.path().extension().is_none_or(|x| x != "lock"),
                    "lock left: {}",
                    e.path().display()
                );
            }
        }
    }
}

fn copy_root(state: &Path) -> PathBuf {
    let dirs: Vec<_> = fs::read_dir(state.join("git"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.into_iter().next().unwrap()
}

fn seeded() -> BareRepo {
    BareRepo::with_files(&[("README.md", "# fleet\n"), ("apps/app/deploy.yaml", DEPLOY)])
}

#[test]
fn writer_killed_inside_an_edit_then_reopen_converges() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let (mut child, ready) = spawn_child("block-in-edit", state.path(), &origin.file_url(), None);
    wait_for(&ready, &mut child);
    child.kill().unwrap(); // SIGKILL: no destructor, no cleanup
    child.wait().unwrap();
    fs::remove_file(&ready).unwrap();
    let root = copy_root(state.path());
    // The crash left a half-written tracked file and a new file behind...
    assert_ne!(
        fs::read_to_string(root.join("apps/app/deploy.yaml")).unwrap(),
        DEPLOY
    );
    assert!(root.join("apps/app/new-half.yaml").exists());
    // ...and pretend it also died while libgit2 held the index lock.
    fs::write(root.join(".git/index.lock"), "partial").unwrap();

    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    assert_eq!(wc.root(), root);
    assert_converged(&root, &origin);
    assert_eq!(
        fs::read_to_string(root.join("apps/app/deploy.yaml")).unwrap(),
        DEPLOY
    );
    land_file(
        &mut wc,
        "apps/app/deploy.yaml",
        "image: ghcr.io/acme/app:2.0.0\n",
        "after crash",
    )
    .unwrap()
    .unwrap();
    assert_eq!(origin.log_subjects("main"), vec!["after crash", "initial"]);
    assert_converged(&root, &origin);
}

#[test]
fn writer_killed_at_random_moments_never_corrupts_anything() {
    // Over HTTP, as in production: the server finishes or aborts a push on its own.
    let srv = HttpGitServer::start("u", "p4ss-word");
    let origin = srv.create_repo(
        "fleet",
        &[("README.md", "# fleet\n"), ("apps/app/deploy.yaml", DEPLOY)],
    );
    let state = tempfile::tempdir().unwrap();
    let url = srv.url("fleet");
    let auth = || GitAuth::UserPass {
        username: "u".into(),
        password: "p4ss-word".into(),
    };
    let mut delays = [7u64, 23, 41, 63, 89, 120, 150, 201];
    // Vary the order a bit between runs, deterministically enough to keep it debuggable.
    delays.rotate_left((std::process::id() % 8) as usize);
    for (round, ms) in delays.iter().enumerate() {
        let (mut child, ready) = spawn_child("loop", state.path(), &url, Some(("u", "p4ss-word")));
        wait_for(&ready, &mut child);
        std::thread::sleep(Duration::from_millis(*ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = fs::remove_file(&ready);
        // A push the child had fully sent is still being applied by the server
        // (git-http-backend does not stop when the client dies): let it settle, as the
        // next real writer would only see it on its next fetch anyway.
        wait_until_stable(&origin);
        let mut wc = WorkingCopy::open(state.path(), cfg(&url, auth()))
            .unwrap_or_else(|e| panic!("round {round} ({ms} ms): reopen failed: {e}"));
        assert_converged(wc.root(), &origin);
        let content = format!("image: ghcr.io/acme/app:round-{round}\n");
        land_file(
            &mut wc,
            "apps/app/deploy.yaml",
            &content,
            &format!("round {round}"),
        )
        .unwrap_or_else(|e| panic!("round {round}: write after crash failed: {e}"))
        .unwrap();
        assert_eq!(
            origin.read("main", "apps/app/deploy.yaml").unwrap(),
            content
        );
        assert_converged(wc.root(), &origin);
    }
    // The server side is sound and the history linear (no force push ever).
    git(
        None,
        &[
            "--git-dir",
            origin.path().to_str().unwrap(),
            "fsck",
            "--no-progress",
        ],
    );
    let merges = git(
        None,
        &[
            "--git-dir",
            origin.path().to_str().unwrap(),
            "rev-list",
            "--merges",
            "--count",
            "main",
        ],
    );
    assert_eq!(merges.trim(), "0");
    let subjects = origin.log_subjects("main");
    for round in 0..delays.len() {
        assert!(subjects.contains(&format!("round {round}")), "{subjects:?}");
    }
}

fn wait_until_stable(origin: &BareRepo) {
    let mut last = origin.head("main");
    let mut stable_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stable_since.elapsed() < Duration::from_millis(300) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let now = origin.head("main");
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
    }
}

#[test]
fn leftovers_of_an_interrupted_cli_session_are_cleared() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let root = {
        let wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
        wc.root().to_path_buf()
    };
    // Someone (or a crash) left: a local commit, a detached HEAD, a merge and a rebase
    // in progress, staged and unstaged changes, untracked and ignored files, locks.
    fs::write(root.join(".gitignore"), "*.tmp\n").unwrap();
    fs::write(root.join("apps/app/deploy.yaml"), "image: local\n").unwrap();
    git(Some(&root), &["add", "-A"]);
    git(Some(&root), &["commit", "-q", "-m", "local only"]);
    git(Some(&root), &["checkout", "-q", "--detach", "HEAD"]);
    fs::write(root.join("apps/app/deploy.yaml"), "image: dirty\n").unwrap();
    git(Some(&root), &["add", "apps/app/deploy.yaml"]);
    fs::write(root.join("README.md"), "unstaged\n").unwrap();
    fs::write(root.join("scratch.tmp"), "ignored\n").unwrap();
    fs::create_dir_all(root.join("newdir/deeper")).unwrap();
    fs::write(root.join("newdir/deeper/x"), "untracked\n").unwrap();
    let head = git(Some(&root), &["rev-parse", "HEAD"]);
    fs::write(root.join(".git/MERGE_HEAD"), &head).unwrap();
    fs::create_dir_all(root.join(".git/rebase-merge")).unwrap();
    fs::write(
        root.join(".git/rebase-merge/head-name"),
        "refs/heads/main\n",
    )
    .unwrap();
    fs::write(root.join(".git/index.lock"), "").unwrap();
    fs::write(root.join(".git/HEAD.lock"), "").unwrap();
    fs::write(root.join(".git/refs/heads/main.lock"), "").unwrap();

    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    assert_converged(&root, &origin);
    land_file(
        &mut wc,
        "apps/app/deploy.yaml",
        "image: ghcr.io/acme/app:3.0.0\n",
        "clean write",
    )
    .unwrap()
    .unwrap();
    assert_eq!(origin.log_subjects("main"), vec!["clean write", "initial"]);
    assert_eq!(origin.read("main", ".gitignore"), None);
}

#[test]
fn broken_index_half_made_clone_and_unusable_copy_are_recovered() {
    let origin = seeded();
    let state = tempfile::tempdir().unwrap();
    let root = {
        let wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
        wc.root().to_path_buf()
    };
    // 1. A torn index file.
    fs::write(root.join(".git/index"), b"DIRC\x00\x00\x00\x02garbage").unwrap();
    let wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    assert_converged(wc.root(), &origin);
    drop(wc);

    // 2. A clone that died before it was published (temp dir) is removed.
    let name = root.file_name().unwrap().to_string_lossy().to_string();
    let half = state.path().join("git").join(format!("{name}.tmp-abc123"));
    fs::create_dir_all(half.join(".git/objects")).unwrap();
    let wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    assert!(!half.exists());
    drop(wc);

    // 3. A copy with no valid HEAD / not a repository any more is cloned again.
    fs::remove_file(root.join(".git/HEAD")).unwrap();
    let wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    assert_converged(wc.root(), &origin);
    fs::remove_dir_all(root.join(".git")).unwrap();
    fs::write(root.join("stray"), "x").unwrap();
    // The copy is locked while open (one process per copy): let go of it first.
    drop(wc);
    let mut wc = WorkingCopy::open(state.path(), cfg(&origin.file_url(), GitAuth::None)).unwrap();
    assert_converged(wc.root(), &origin);
    land_file(&mut wc, "apps/app/deploy.yaml", "image: ok\n", "works")
        .unwrap()
        .unwrap();
    assert_eq!(origin.commit_count("main"), 2);
}
