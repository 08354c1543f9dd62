//! Commit + push of one edit: imagebump's `WorkingCopy` (git2) against the git CLI, same
//! run, same machine, median over N iterations, on
//!   (a) a small repository, over file:// and over smart HTTP (nginx + git-http-backend),
//!   (b) a generated repository of 10,000 commits and 20,000 files (git fast-import).
//!
//! WorkingCopy always syncs (fetch + reset to the remote tip) before editing (it never writes from a
//! stale copy), so two CLI baselines are printed:
//!   cli-commit   edit, `git commit -qam`, `git push -q`            (no fetch: less work)
//!   cli-synced   `git fetch` + `git reset --hard origin/main`, edit, commit, push
//!                (the same work WorkingCopy does)
//!
//! Run: `cargo bench -p imagebump-git --bench git_push` (env: GIT_BENCH_ITERS=N, default 21;
//! GIT_BENCH_SKIP_SMALL=1 / GIT_BENCH_SKIP_LARGE=1 to skip (a) / (b);
//! GIT_BENCH_COMMITS / GIT_BENCH_FILES to resize (b); GIT_BENCH_LOG=1 for phase timings).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use imagebump_git::{GitAuth, GitConfig, WorkingCopy};
use imagebump_testbed::gitserver::{self, git, BareRepo, HttpGitServer};

const TARGET: &str = "apps/app-000/f000.yaml";

fn main() {
    if std::env::var_os("GIT_BENCH_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("imagebump_git=debug"))
            .with_writer(std::io::stderr)
            .init();
    }
    let iters: usize = std::env::var("GIT_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let total = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    println!("git_push bench: median of {iters} commit+push iterations per writer");
    println!("git CLI: {}", git(None, &["--version"]).trim());

    let small = tmp.path().join("small.git");
    BareRepo::create_at(
        &small,
        &[
            ("README.md", "# fleet\n"),
            (TARGET, "image: registry.example/app:1.0.0\n"),
            (
                "apps/other/deploy.yaml",
                "image: registry.example/other:1.0.0\n",
            ),
        ],
    );
    if std::env::var_os("GIT_BENCH_SKIP_SMALL").is_none() {
        run_file_scenario(
            "small (3 files, 1 commit), file://",
            &small,
            tmp.path(),
            iters,
        );
        run_http_scenario(
            "small (3 files, 1 commit), http+basic auth",
            tmp.path(),
            iters,
        );
    }

    if std::env::var_os("GIT_BENCH_SKIP_LARGE").is_none() {
        let env = |k: &str, d: usize| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let (commits, files) = (
            env("GIT_BENCH_COMMITS", 10_000),
            env("GIT_BENCH_FILES", 20_000),
        );
        let large = tmp.path().join("large.git");
        let t = Instant::now();
        generate_large(&large, commits, files);
        println!(
            "\ngenerated large repo ({commits} commits, {files} files) with git fast-import in {}",
            fmt(t.elapsed())
        );
        run_file_scenario(
            &format!("large ({files} files, {commits} commits), file://"),
            &large,
            tmp.path(),
            iters,
        );
    }
    println!("\ntotal bench time {}", fmt(total.elapsed()));
}

fn cfg(url: String, auth: GitAuth) -> GitConfig {
    GitConfig {
        url,
        branch: "main".into(),
        push_branch: None,
        author_name: "imagebump".into(),
        author_email: "imagebump@example.invalid".into(),
        auth,
        signer: None,
    }
}

fn copy_bare(src: &Path, dst: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()
        .unwrap();
    assert!(st.success());
}

struct Figures {
    clone_wc: Duration,
    clone_cli: Duration,
    wc: Vec<Duration>,
    cli_commit: Vec<Duration>,
    cli_synced: Vec<Duration>,
}

fn run_file_scenario(name: &str, bare: &Path, work: &Path, iters: usize) {
    let tag = bare.file_stem().unwrap().to_string_lossy().to_string();
    let (a, b) = (
        work.join(format!("{tag}-wc.git")),
        work.join(format!("{tag}-cli.git")),
    );
    copy_bare(bare, &a);
    copy_bare(bare, &b);
    let f = measure(
        &format!("file://{}", a.display()),
        &format!("file://{}", b.display()),
        GitAuth::None,
        work,
        &tag,
        iters,
    );
    report(name, &f);
}

fn run_http_scenario(name: &str, work: &Path, iters: usize) {
    let srv = HttpGitServer::start("bench", "bench-pass");
    let files: &[(&str, &str)] = &[
        ("README.md", "# fleet\n"),
        (TARGET, "image: registry.example/app:1.0.0\n"),
        (
            "apps/other/deploy.yaml",
            "image: registry.example/other:1.0.0\n",
        ),
    ];
    srv.create_repo("wc", files);
    srv.create_repo("cli", files);
    let auth = GitAuth::UserPass {
        username: "bench".into(),
        password: "bench-pass".into(),
    };
    let f = measure(
        &srv.url("wc"),
        &srv.url_with_credentials("cli"),
        auth,
        work,
        "http",
        iters,
    );
    report(name, &f);
}

fn measure(
    wc_url: &str,
    cli_url: &str,
    auth: GitAuth,
    work: &Path,
    tag: &str,
    iters: usize,
) -> Figures {
    // imagebump WorkingCopy
    let state = work.join(format!("{tag}-state"));
    let t = Instant::now();
    let mut wc = WorkingCopy::open(&state, cfg(wc_url.to_string(), auth)).unwrap();
    let clone_wc = t.elapsed();
    let mut wc_times = Vec::with_capacity(iters);
    for i in 0..iters {
        let t = Instant::now();
        // What the engine does per write (no race here: one writer per repository).
        let base = wc.sync().unwrap();
        wc.write_file(
            Path::new(TARGET),
            &format!("image: registry.example/app:{i}.0.0\n"),
        )
        .unwrap();
        let commit = wc
            .commit(&base, &[TARGET.into()], "chore(images): bench bump")
            .unwrap()
            .expect("a change");
        wc.push(&commit).unwrap();
        wc_times.push(t.elapsed());
    }

    // git CLI on an existing clone
    let clone = work.join(format!("{tag}-cli-clone"));
    let t = Instant::now();
    git(None, &["clone", "-q", cli_url, clone.to_str().unwrap()]);
    let clone_cli = t.elapsed();
    let mut cli_commit = Vec::with_capacity(iters);
    for i in 0..iters {
        let t = Instant::now();
        std::fs::write(
            clone.join(TARGET),
            format!("image: registry.example/app:cli-{i}\n"),
        )
        .unwrap();
        git(
            Some(&clone),
            &["commit", "-qam", "chore(images): bench bump"],
        );
        git(Some(&clone), &["push", "-q", "origin", "main"]);
        cli_commit.push(t.elapsed());
    }
    let mut cli_synced = Vec::with_capacity(iters);
    for i in 0..iters {
        let t = Instant::now();
        git(Some(&clone), &["fetch", "-q", "origin", "main"]);
        git(Some(&clone), &["reset", "-q", "--hard", "origin/main"]);
        std::fs::write(
            clone.join(TARGET),
            format!("image: registry.example/app:sync-{i}\n"),
        )
        .unwrap();
        git(
            Some(&clone),
            &["commit", "-qam", "chore(images): bench bump"],
        );
        git(Some(&clone), &["push", "-q", "origin", "main"]);
        cli_synced.push(t.elapsed());
    }
    Figures {
        clone_wc,
        clone_cli,
        wc: wc_times,
        cli_commit,
        cli_synced,
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn report(name: &str, f: &Figures) {
    let (wc, c, s) = (median(&f.wc), median(&f.cli_commit), median(&f.cli_synced));
    let min = |v: &[Duration]| *v.iter().min().unwrap();
    let max = |v: &[Duration]| *v.iter().max().unwrap();
    println!("\n== {name}");
    println!(
        "  initial clone:   WorkingCopy::open {:>9}   git clone {:>9}",
        fmt(f.clone_wc),
        fmt(f.clone_cli)
    );
    println!(
        "  WorkingCopy  (fetch+reset+edit+commit+push) median {:>9}  [min {}, max {}]",
        fmt(wc),
        fmt(min(&f.wc)),
        fmt(max(&f.wc))
    );
    println!(
        "  cli-commit   (edit+commit -am+push)         median {:>9}  [min {}, max {}]",
        fmt(c),
        fmt(min(&f.cli_commit)),
        fmt(max(&f.cli_commit))
    );
    println!(
        "  cli-synced   (fetch+reset+edit+commit+push) median {:>9}  [min {}, max {}]",
        fmt(s),
        fmt(min(&f.cli_synced)),
        fmt(max(&f.cli_synced))
    );
    println!(
        "  ratio WorkingCopy/cli-commit {:.2}x   WorkingCopy/cli-synced {:.2}x",
        wc.as_secs_f64() / c.as_secs_f64(),
        wc.as_secs_f64() / s.as_secs_f64()
    );
}

/// A bare repo whose first commit adds `files` files (200 per directory) and whose next
/// `commits - 1` commits each change one file, written with one `git fast-import` run.
fn generate_large(path: &Path, commits: usize, files: usize) {
    git(
        None,
        &["init", "-q", "--bare", "-b", "main", path.to_str().unwrap()],
    );
    let mut child = gitserver::git_cmd(Some(path))
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = std::io::BufWriter::new(child.stdin.take().unwrap());
    let file_path = |n: usize| format!("apps/app-{:03}/f{:03}.yaml", n / 200, n % 200);
    let content = |n: usize, v: usize| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{n}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example/app-{n}:{v}.0.0\n"
        )
    };
    let data = |w: &mut dyn Write, s: &str| write!(w, "data {}\n{}\n", s.len(), s).unwrap();
    let ts = 1_700_000_000u64;
    // Commit 1: all files.
    writeln!(w, "commit refs/heads/main").unwrap();
    writeln!(w, "committer Gen <gen@example.invalid> {ts} +0000").unwrap();
    data(&mut w, "initial: all files");
    for n in 0..files {
        writeln!(w, "M 100644 inline {}", file_path(n)).unwrap();
        data(&mut w, &content(n, 1));
    }
    // Then one file changed per commit (never the benchmark's target file).
    for c in 1..commits {
        let n = 1 + (c * 7919) % (files - 1);
        writeln!(w, "commit refs/heads/main").unwrap();
        writeln!(
            w,
            "committer Gen <gen@example.invalid> {} +0000",
            ts + c as u64
        )
        .unwrap();
        data(&mut w, &format!("bump app-{n} to {c}"));
        writeln!(w, "M 100644 inline {}", file_path(n)).unwrap();
        data(&mut w, &content(n, c + 1));
    }
    w.flush().unwrap();
    drop(w);
    assert!(child.wait().unwrap().success(), "fast-import failed");
    let count = git(
        None,
        &[
            "--git-dir",
            path.to_str().unwrap(),
            "rev-list",
            "--count",
            "main",
        ],
    );
    assert_eq!(count.trim(), commits.to_string());
}
