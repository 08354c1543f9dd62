//! Fast by default (issue 13): coalescing without a fixed wait, and a cold `once` at
//! default registry settings, each figure next to a floor measured in the same run.
//!
//! Run (release, the figures to quote): `cargo bench --bench fast_default`; a quicker
//! check on the warm debug build: `cargo bench --profile dev --bench fast_default`.
//! Env: `FAST_BENCH_RUNS=N` (cold runs per size, default 3).
//!
//! What it does, with real parts only (CNCF Distribution registry, `file://` bare
//! repositories, the real binary, curl and the git CLI):
//! 1. **Burst coalescing.** A registry whose `notifications` endpoint is a running
//!    `imagebump run` (defaults, `poll: 1h`, so only webhooks cause work), 50 images at
//!    `1.0.0` in git and `1.0.1` in the registry: the start-up sync's commits are
//!    counted. Then one push (latency from the start of the manifest PUT to the bare
//!    repository's ref moving), then, 2 s later, 50 pushes of new tags started 14 ms
//!    apart: commits, first commit after the first PUT started, last change after the
//!    last PUT returned. Baseline: the git CLI's edit + commit + push of one file in an existing
//!    clone, and one `curl` of a tag list, measured in the same run.
//! 2. **Cold `once`.** 50 images × 20 tags, and 200 images, default settings (no
//!    `rateLimit`), a fresh state directory each run (so it clones), one commit. Floor,
//!    interleaved: the same tag-list requests by one `curl` process (sequential, one
//!    connection reused), then `git clone` + the same edits + `git commit` + `git push`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::gitserver::BareRepo;
use support::registry::{free_port, TestRegistry, TestRegistryOptions};

const SECRET: &str = "bench-webhook-secret";
use support::tagged::{put_tag, upload_blobs};

fn main() {
    let runs = std::env::var("FAST_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    let profile = if cfg!(debug_assertions) {
        "dev (debug build of the service)"
    } else {
        "release"
    };
    println!("fast_default bench: profile {profile}, {runs} cold runs per size");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    burst(&rt);
    for n in [50usize, 200] {
        cold_once(&rt, n, runs);
    }
}

// ------------------------------------------------------------------ 1. burst coalescing

fn burst(rt: &tokio::runtime::Runtime) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let registry = TestRegistry::start(TestRegistryOptions::default().with_notifications(
        &format!("http://127.0.0.1:{port}/hooks/registry"),
        Some(&format!("Bearer {SECRET}")),
    ));
    let host = registry.host();
    let n = 50;
    let apps: Vec<String> = (0..n).map(|i| format!("app{i:03}")).collect();
    let files: Vec<(String, String)> = apps
        .iter()
        .map(|a| {
            (
                format!("apps/{a}.yaml"),
                deployment(&format!("{host}/team/{a}:1.0.0")),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let bare = BareRepo::create_at(&tmp.path().join("gitops.git"), &refs);
    let mut bases = Vec::new();
    rt.block_on(async {
        for a in &apps {
            let base = upload_blobs(&registry, &format!("team/{a}")).await;
            put_tag(&registry, &format!("team/{a}"), &base, "1.0.0").await;
            put_tag(&registry, &format!("team/{a}"), &base, "1.0.1").await;
            bases.push(base);
        }
    });
    write_policies(&dir, &apps, &host);
    write_config(&dir, Some(port), &bare.file_url(), &host, "");
    let before = bare.commit_count("main");
    let t = Instant::now();
    let svc = Service::start(rt, &dir, port);
    let ready = t.elapsed();
    // Start-up sync: every file to 1.0.1.
    let synced = wait_until(Duration::from_secs(60), || all_at(&bare, &files, "1.0.1"));
    let startup_commits = bare.commit_count("main") - before;

    // Baseline: git CLI edit + commit + push of one file; one curl of a tag list.
    let clone_dir = tmp.path().join("floor");
    let floor_bare = BareRepo::create_at(&tmp.path().join("floor.git"), &refs);
    run_ok(
        floor_git(tmp.path())
            .args(["clone", "-q", &floor_bare.file_url()])
            .arg(&clone_dir),
    );
    let mut git_times = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        std::fs::write(
            clone_dir.join("apps/app000.yaml"),
            deployment(&format!("x:{i}")),
        )
        .unwrap();
        run_ok(floor_git(&clone_dir).args(["commit", "-qam", "floor"]));
        run_ok(floor_git(&clone_dir).args(["push", "-q", "origin", "HEAD:main"]));
        git_times.push(t.elapsed());
    }
    let url = format!("http://{host}/v2/team/app000/tags/list");
    let mut curl_times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        run_ok(Command::new("curl").args(["-sf", "-o", "/dev/null", &url]));
        curl_times.push(t.elapsed());
    }

    // Lone pushes, each to a quiet repository (1 s after the last commit: a push within
    // 0.5 s of a commit counts as part of a burst and is gathered for 0.2 s).
    let mut lone = Vec::new();
    for i in 0..5 {
        std::thread::sleep(Duration::from_secs(1));
        let tip = ref_tip(bare.path());
        // From the start of the manifest PUT: the registry may notify (and imagebump
        // commit) before the PUT's answer is back.
        let t0 = Instant::now();
        rt.block_on(put_tag(
            &registry,
            "team/app000",
            &bases[0],
            &format!("1.0.{}", 2 + i),
        ));
        if let Some(t) = wait_ref_change(bare.path(), &tip, Duration::from_secs(30)) {
            lone.push(t - t0);
        }
    }

    // The burst comes to a quiet repository (the lone push's commit is not part of it).
    std::thread::sleep(Duration::from_secs(2));
    let settle_from = bare.commit_count("main");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (path, stop) = (bare.path().to_path_buf(), stop.clone());
        std::thread::spawn(move || {
            let mut tip = ref_tip(&path);
            let mut changes = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let now_tip = ref_tip(&path);
                if now_tip != tip {
                    changes.push(Instant::now());
                    tip = now_tip;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            changes
        })
    };
    let (first_push, last_push) = rt.block_on(async {
        let start = Instant::now();
        let puts = apps.iter().enumerate().map(|(i, a)| {
            let (registry, base) = (&registry, &bases[i]);
            async move {
                let due = start + Duration::from_millis(14 * i as u64);
                tokio::time::sleep_until(due.into()).await;
                let started = Instant::now();
                put_tag(registry, &format!("team/{a}"), base, "1.0.9").await;
                (started, Instant::now())
            }
        });
        let done: Vec<(Instant, Instant)> = futures::future::join_all(puts).await;
        // The first PUT's start, the last PUT's answer.
        (
            done.iter().map(|d| d.0).min().unwrap(),
            done.iter().map(|d| d.1).max().unwrap(),
        )
    });
    // Until the fleet is at 1.0.3 and 3 s passed without a commit (or a minute).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last_count = bare.commit_count("main");
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let c = bare.commit_count("main");
        if c != last_count {
            (last_count, quiet_since) = (c, Instant::now());
        }
        if quiet_since.elapsed() > Duration::from_secs(3) && all_at(&bare, &files, "1.0.9") {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let changes = watcher.join().unwrap();
    let done = all_at(&bare, &files, "1.0.9");
    let burst_commits = bare.commit_count("main") - settle_from;
    drop(svc);

    println!(
        "\n== burst coalescing: {n} images, one GitOps repository, `imagebump run` at defaults =="
    );
    println!("ready after start                 {:>9.1} ms", ms(ready));
    println!(
        "start-up sync ({n} changes)        {:>9} commit(s), all at 1.0.1 after {:.0} ms",
        startup_commits,
        synced.map_or(f64::NAN, ms)
    );
    println!(
        "lone push → commit pushed          {:>9.1} ms median of {} (runs: {})   (baseline: git CLI edit+commit+push {:.1} ms, curl tag list {:.1} ms)",
        if lone.is_empty() { f64::NAN } else { ms(median(&mut lone)) },
        lone.len(),
        list(&lone),
        ms(median(&mut git_times)),
        ms(median(&mut curl_times))
    );
    println!(
        "{n} pushes over {:.0} ms           {:>9} commit(s){}",
        ms(last_push - first_push),
        burst_commits,
        if done { "" } else { "  (NOT all changed!)" }
    );
    if let (Some(first), Some(last)) = (changes.first(), changes.last()) {
        println!(
            "first commit after first push      {:>9.1} ms",
            ms(first.saturating_duration_since(first_push))
        );
        println!(
            "last change after last push        {:>9.1} ms",
            ms(last.saturating_duration_since(last_push))
        );
    }
}

// ------------------------------------------------------------------ 2. cold `once`

fn cold_once(rt: &tokio::runtime::Runtime, n: usize, runs: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let host = registry.host();
    let apps: Vec<String> = (0..n).map(|i| format!("app{i:03}")).collect();
    rt.block_on(async {
        for a in &apps {
            let digest = registry.push_image(&format!("team/{a}"), "1.0.0").await;
            let tags: Vec<String> = (1..20).map(|p| format!("1.0.{p}")).collect();
            registry.write_tag_links(&format!("team/{a}"), &digest, &tags);
        }
    });
    let files: Vec<(String, String)> = apps
        .iter()
        .map(|a| {
            (
                format!("apps/{a}.yaml"),
                deployment(&format!("{host}/team/{a}:1.0.0")),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let bare = BareRepo::create_at(&tmp.path().join("gitops.git"), &refs);
    let floor_bare = BareRepo::create_at(&tmp.path().join("floor.git"), &refs);
    let initial = ref_tip(bare.path()).unwrap();
    let floor_initial = ref_tip(floor_bare.path()).unwrap();
    let urls: Vec<String> = apps
        .iter()
        .map(|a| format!("http://{host}/v2/team/{a}/tags/list?n=100"))
        .collect();
    let mut once_times = Vec::new();
    let mut floor_times = Vec::new();
    let mut rss = Vec::new();
    // One cold `once`: (wall, peak RSS in kB).
    let once_run = |name: &str, extra: &str| -> (Duration, Option<u64>) {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write_policies(&dir, &apps, &host);
        write_config(&dir, None, &bare.file_url(), &host, extra);
        reset_ref(bare.path(), &initial);
        let t = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "maxrss_kb=%M"])
            .arg(env!("CARGO_BIN_EXE_imagebump"))
            .args(["once", "--config"])
            .arg(dir.join("imagebump.yaml"))
            .stdin(Stdio::null())
            .output()
            .expect("run imagebump once");
        let took = t.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "once failed: {}", tail(&err, 20));
        assert_eq!(bare.commit_count("main"), 2, "one commit expected");
        assert!(all_at(&bare, &files, "1.0.19"), "not every file at 1.0.19");
        let kb = err
            .lines()
            .find_map(|l| l.strip_prefix("maxrss_kb="))
            .and_then(|v| v.trim().parse::<u64>().ok());
        (took, kb)
    };
    for run in 0..runs {
        // imagebump once, cold: a new state directory (it clones).
        let (took, kb) = once_run(&format!("once{run}"), "");
        once_times.push(took);
        rss.extend(kb);

        // Floor: one curl process, the same requests in sequence over one connection,
        // then git clone + the same edits + commit + push.
        reset_ref(floor_bare.path(), &floor_initial);
        let clone_dir = tmp.path().join(format!("floor{run}"));
        let t = Instant::now();
        let mut curl = Command::new("curl");
        curl.arg("-sf");
        for u in &urls {
            curl.args(["-o", "/dev/null", u]);
        }
        run_ok(&mut curl);
        run_ok(
            floor_git(tmp.path())
                .args(["clone", "-q", &floor_bare.file_url()])
                .arg(&clone_dir),
        );
        for (path, content) in &files {
            std::fs::write(
                clone_dir.join(path),
                content.replace(":1.0.0\"", ":1.0.19\""),
            )
            .unwrap();
        }
        run_ok(floor_git(&clone_dir).args(["commit", "-qam", "floor"]));
        run_ok(floor_git(&clone_dir).args(["push", "-q", "origin", "HEAD:main"]));
        floor_times.push(t.elapsed());
    }
    // The old defaults (burst = rate = 20/s), once, for comparison.
    let (old, _) = once_run("old", "    rateLimit: 20\n");
    let once = median(&mut once_times);
    let floor = median(&mut floor_times);
    println!("\n== cold `once`: {n} images × 20 tags, default registry settings, {runs} runs (median) ==");
    println!(
        "imagebump once (clone, {n} listings, 1 commit, push) {:>9.1} ms   (runs: {})",
        ms(once),
        list(&once_times)
    );
    println!(
        "floor: curl ×{n} on one connection + git clone/edit/commit/push {:>9.1} ms   (runs: {})",
        ms(floor),
        list(&floor_times)
    );
    println!(
        "imagebump once at the old defaults (rateLimit 20, burst 20) {:>9.1} ms",
        ms(old)
    );
    println!(
        "ratio once / floor               {:>9.2}×   (goal ≤ 2×)",
        once.as_secs_f64() / floor.as_secs_f64()
    );
    if let Some(max) = rss.iter().max() {
        println!(
            "peak RSS of once                 {:>9.1} MB",
            *max as f64 / 1024.0
        );
    }
}

// ------------------------------------------------------------------ helpers

/// A running `imagebump run`; killed on drop.
struct Service {
    child: Child,
}

impl Service {
    fn start(rt: &tokio::runtime::Runtime, dir: &Path, port: u16) -> Service {
        let log = std::fs::File::create(dir.join("imagebump.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(["run", "--config"])
            .arg(dir.join("imagebump.yaml"))
            .env("BENCH_WEBHOOK_SECRET", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}/readyz");
        let ok = wait_until(Duration::from_secs(60), || {
            rt.block_on(async { reqwest::get(&url).await.ok().map(|r| r.status().as_u16()) })
                == Some(200)
        });
        assert!(ok.is_some(), "service not ready");
        Service { child }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `registry_extra`: more keys of the registry's entry (indented), e.g. a rate limit.
fn write_config(dir: &Path, port: Option<u16>, git_url: &str, host: &str, registry_extra: &str) {
    let mut y = format!(
        "stateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: {git_url}\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {host}\n    insecure: true\n{registry_extra}",
        d = dir.display()
    );
    if let Some(port) = port {
        y += &format!("listen: 127.0.0.1:{port}\nreceivers:\n  - name: registry\n    provider: distribution\n    secret: {{env: BENCH_WEBHOOK_SECRET}}\npoll: {{interval: 1h}}\n");
    }
    std::fs::write(dir.join("imagebump.yaml"), y).unwrap();
}

fn write_policies(dir: &Path, apps: &[String], host: &str) {
    let pdir = dir.join("policies");
    std::fs::create_dir_all(&pdir).unwrap();
    for a in apps {
        std::fs::write(
            pdir.join(format!("{a}.yaml")),
            format!(
                "application: {a}\nimages:\n  - repository: {host}/team/{a}\n    semver: \">=1.0.0\"\n    targets:\n      - manifest: apps/{a}.yaml\n"
            ),
        )
        .unwrap();
    }
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: \"{image}\"\n"
    )
}

fn all_at(bare: &BareRepo, files: &[(String, String)], tag: &str) -> bool {
    files.iter().all(|(p, _)| {
        bare.read("main", p)
            .is_some_and(|t| t.contains(&format!(":{tag}\"")))
    })
}

/// `refs/heads/main` of a bare repository: the loose ref, else `packed-refs`.
fn ref_tip(bare: &Path) -> Option<String> {
    if let Ok(s) = std::fs::read_to_string(bare.join("refs/heads/main")) {
        let s = s.trim();
        if s.len() >= 40 {
            return Some(s.to_string());
        }
    }
    let packed = std::fs::read_to_string(bare.join("packed-refs")).ok()?;
    packed.lines().find_map(|l| {
        let (oid, name) = l.split_once(' ')?;
        (name == "refs/heads/main").then(|| oid.to_string())
    })
}

fn wait_ref_change(bare: &Path, from: &Option<String>, timeout: Duration) -> Option<Instant> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ref_tip(bare) != *from {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    None
}

fn reset_ref(bare: &Path, to: &str) {
    run_ok(floor_git(bare).args(["update-ref", "refs/heads/main", to]));
}

fn floor_git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args([
            "-c",
            "user.name=floor",
            "-c",
            "user.email=floor@example.invalid",
        ]);
    c
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `f` every 20 ms until it holds; how long that took, or `None` at the timeout.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn list(v: &[Duration]) -> String {
    v.iter()
        .map(|d| format!("{:.0}", ms(*d)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
