//! The scale case of issue 13: 10,000 images over 2,000 registry repositories and five
//! GitOps repositories — one of them 20,000 files and 10,000 commits — in one
//! `imagebump run` at default settings. Real parts only (CNCF Distribution registry, `file://` bare repositories built with `git fast-import`, the
//! real binary).
//!
//! Run: `cargo bench --bench fast_scale` (release; about 3 minutes). Prints: ready time, full-sync time
//! (start to the last start-up commit), commits per repository, registry requests
//! (from `/metrics`) next to distinct repositories × pages, peak RSS (VmHWM), and the
//! push → commit time in the large repository next to a tiny one's.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use support::registry::{free_port, TestRegistry, TestRegistryOptions};

const SECRET: &str = "bench-webhook-secret";
use support::tagged::{put_tag, upload_blobs, MANIFEST};
const REPOS: usize = 2000;
const PER_REPO: usize = 5;
/// Applications `0..large_apps()` target the large repository (500 images by default),
/// the rest the tiny ones; `FAST_SCALE_LARGE_APPS=1000` puts 5,000 images there.
fn large_apps() -> usize {
    std::env::var("FAST_SCALE_LARGE_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}
const TINY: usize = 4;
/// Files in the large repository: the targets plus filler (issue 13: 20k files).
const LARGE_FILES: usize = 20_000;
const COMMITS: usize = 10_000;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let port = free_port();
    // No registry notifications: the set-up's 2,000 pushes would be delivered (queued
    // and retried by the registry) once the service is up, doubling the start-up work.
    // The bench posts the registry's webhook itself for the push → commit figures.
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let host = registry.host();
    let t = Instant::now();
    rt.block_on(async {
        futures::stream::iter(0..REPOS)
            .map(|i| {
                let registry = &registry;
                async move {
                    let repo = format!("team/r{i:04}");
                    let digest = registry.push_image(&repo, "1.0.0").await;
                    let tags: Vec<String> = (1..=3).map(|p| format!("1.0.{p}")).collect();
                    registry.write_tag_links(&repo, &digest, &tags);
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
    });
    println!(
        "set-up: {REPOS} registry repositories in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // GitOps repositories: `large` (targets of 5,000 images + 15,000 other files, 10,000
    // commits) and four tiny ones (1,250 targets each, one commit).
    let t = Instant::now();
    let mut targets: Vec<Vec<(String, String)>> = vec![Vec::new(); 1 + TINY];
    for i in 0..REPOS {
        let g = git_of(i);
        for j in 0..PER_REPO {
            targets[g].push((
                format!("apps/app{i:04}/w{j}.yaml"),
                deployment(&format!("{host}/team/r{i:04}:1.0.0")),
            ));
        }
    }
    let names: Vec<String> = (0..=TINY)
        .map(|g| {
            if g == 0 {
                "large".into()
            } else {
                format!("tiny{g}")
            }
        })
        .collect();
    for (g, name) in names.iter().enumerate() {
        let filler_files = LARGE_FILES - large_apps() * PER_REPO;
        let (filler, commits) = if g == 0 {
            (filler_files, COMMITS)
        } else {
            (0, 1)
        };
        fast_import(
            &tmp.path().join(format!("{name}.git")),
            &targets[g],
            filler,
            commits,
        );
    }
    println!(
        "set-up: GitOps repositories in {:.1} s (large: {} files, {COMMITS} commits)",
        t.elapsed().as_secs_f64(),
        targets[0].len() + LARGE_FILES - large_apps() * PER_REPO
    );
    for i in 0..REPOS {
        let mut y = format!("application: app{i:04}\nimages:\n");
        for j in 0..PER_REPO {
            y += &format!(
                "  - name: w{j}\n    repository: {host}/team/r{i:04}\n    semver: \">=1.0.0\"\n    targets:\n      - {{manifest: apps/app{i:04}/w{j}.yaml, git: {}}}\n",
                names[git_of(i)]
            );
        }
        std::fs::write(dir.join(format!("policies/app{i:04}.yaml")), y).unwrap();
    }
    let mut cfg = format!(
        "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\ngit:\n",
        d = dir.display()
    );
    for n in &names {
        cfg += &format!(
            "  - name: {n}\n    url: file://{}/{n}.git\n    branch: main\n    author: {{name: imagebump, email: bot@example.com}}\n",
            tmp.path().display()
        );
    }
    cfg += &format!("registries:\n  - host: {host}\n    insecure: true\nreceivers:\n  - name: registry\n    provider: distribution\n    secret: {{env: BENCH_WEBHOOK_SECRET}}\npoll: {{interval: 1h}}\n");
    std::fs::write(dir.join("imagebump.yaml"), cfg).unwrap();

    let bares: Vec<std::path::PathBuf> = names
        .iter()
        .map(|n| tmp.path().join(format!("{n}.git")))
        .collect();
    let tips: Vec<Option<String>> = bares.iter().map(|b| ref_tip(b)).collect();
    let started = Instant::now();
    let log = std::fs::File::create(dir.join("imagebump.log")).unwrap();
    // `FAST_SCALE_WRAP="heaptrack -o /tmp/ht"` runs the service under a profiler (the
    // RSS figures are then the wrapper's).
    let wrap = std::env::var("FAST_SCALE_WRAP").unwrap_or_default();
    let mut wrap = wrap.split_whitespace();
    let mut cmd = match wrap.next() {
        Some(w) => {
            let mut c = Command::new(w);
            c.args(wrap).arg(env!("CARGO_BIN_EXE_imagebump"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_imagebump")),
    };
    let child = cmd
        .args(["run", "--config"])
        .arg(dir.join("imagebump.yaml"))
        .env("BENCH_WEBHOOK_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let svc = Killed(child);
    let get = |path: &str| -> Option<String> {
        let url = format!("http://127.0.0.1:{port}{path}");
        rt.block_on(async { reqwest::get(url).await.ok()?.text().await.ok() })
    };
    let ready_url = format!("http://127.0.0.1:{port}/readyz");
    let mut ready = None;
    // The high-water mark when the service became ready: what loading cost, before any
    // scan or commit.
    let mut ready_rss = 0;
    // The largest resident set seen while polling, split into heap/stacks and mapped
    // files, and when: shows which phase makes the peak.
    let mut peak_seen = (0u64, 0u64, 0u64, Duration::ZERO);
    // Every repository's ref moved once (the start-up sync); poll the ref files.
    let mut moved: Vec<Option<Duration>> = vec![None; bares.len()];
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline && moved.iter().any(Option::is_none) {
        if ready.is_none()
            && rt.block_on(async {
                reqwest::get(&ready_url)
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200)
            })
        {
            ready = Some(started.elapsed());
            ready_rss = proc_kb(svc.0.id(), "VmHWM").unwrap_or(0);
        }
        if let Some(rss) = proc_kb(svc.0.id(), "VmRSS") {
            if rss > peak_seen.0 {
                let anon = proc_kb(svc.0.id(), "RssAnon").unwrap_or(0);
                let file = proc_kb(svc.0.id(), "RssFile").unwrap_or(0);
                peak_seen = (rss, anon, file, started.elapsed());
                if let Ok(path) = std::env::var("FAST_SCALE_SMAPS") {
                    let _ = std::fs::copy(format!("/proc/{}/smaps", svc.0.id()), path);
                }
            }
        }
        for (k, b) in bares.iter().enumerate() {
            if moved[k].is_none() && ref_tip(b) != tips[k] {
                moved[k] = Some(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give late commits a moment, then count them.
    std::thread::sleep(Duration::from_secs(3));
    let commits: Vec<usize> = bares.iter().map(|b| commit_count(b)).collect();
    let metrics = get("/metrics").unwrap_or_default();
    let requests: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("imagebump_registry_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let hwm = proc_kb(svc.0.id(), "VmHWM");
    // What the resident set is at that point: heap and stacks vs mapped files (the
    // binary's text, the packs libgit2 maps).
    let (anon, file) = (
        proc_kb(svc.0.id(), "RssAnon"),
        proc_kb(svc.0.id(), "RssFile"),
    );

    // Push → commit, large vs tiny, alternating (1 s apart: each to a quiet repository).
    let mut large = Vec::new();
    let mut tiny = Vec::new();
    let bases = rt.block_on(async {
        (
            upload_blobs(&registry, "team/r0000").await,
            upload_blobs(&registry, &format!("team/r{:04}", large_apps())).await,
        )
    });
    for round in 0..3 {
        for (k, repo, base, out) in [
            (0usize, "team/r0000".to_string(), &bases.0, &mut large),
            (1, format!("team/r{:04}", large_apps()), &bases.1, &mut tiny),
        ] {
            std::thread::sleep(Duration::from_secs(1));
            let tip = ref_tip(&bares[k]);
            let t0 = Instant::now();
            let tag = format!("1.0.{}", 4 + round);
            rt.block_on(async {
                put_tag(&registry, &repo, base, &tag).await;
                webhook(port, &host, &repo, &tag).await;
            });
            let until = Instant::now() + Duration::from_secs(60);
            while ref_tip(&bares[k]) == tip && Instant::now() < until {
                std::thread::sleep(Duration::from_micros(200));
            }
            out.push(t0.elapsed());
        }
    }
    drop(svc);
    // `FAST_SCALE_LOG=FILE` keeps the service's log (with `IMAGEBUMP_LOG=debug`: each
    // write's fetch, reset, commit and push times).
    if let Ok(keep) = std::env::var("FAST_SCALE_LOG") {
        let _ = std::fs::copy(dir.join("imagebump.log"), keep);
    }

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let med = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "\n== scale: {} images, {REPOS} registry repositories, {} GitOps repositories, defaults ==",
        REPOS * PER_REPO,
        names.len()
    );
    println!(
        "ready (/readyz 200) after start     {:>9.0} ms",
        ready.map_or(f64::NAN, ms)
    );
    println!(
        "peak RSS when ready                 {:>9.1} MB",
        ready_rss as f64 / 1024.0
    );
    for (k, n) in names.iter().enumerate() {
        println!(
            "start-up sync: {n:<6} first commit at {:>9.0} ms, {} commit(s)",
            moved[k].map_or(f64::NAN, ms),
            commits[k] - if k == 0 { COMMITS } else { 1 }
        );
    }
    let full = moved.iter().flatten().max().copied();
    println!(
        "full sync (last start-up commit)    {:>9.0} ms",
        full.map_or(f64::NAN, ms)
    );
    println!(
        "registry requests                   {:>9.0}   (distinct repositories × pages: {REPOS} × 1 = {REPOS})",
        requests
    );
    println!(
        "peak RSS (VmHWM)                    {:>9.1} MB   (goal ≤ 100 MB)",
        hwm.map_or(f64::NAN, |kb| kb as f64 / 1024.0)
    );
    let mb = |kb: Option<u64>| kb.map_or(f64::NAN, |kb| kb as f64 / 1024.0);
    println!(
        "largest RSS seen while syncing      {:>9.1} MB at {:.1} s ({:.1} MB heap/stacks + {:.1} MB mapped files)",
        mb(Some(peak_seen.0)),
        peak_seen.3.as_secs_f64(),
        mb(Some(peak_seen.1)),
        mb(Some(peak_seen.2))
    );
    println!(
        "resident after the sync             {:>9.1} MB heap/stacks + {:.1} MB mapped files",
        mb(anon),
        mb(file)
    );
    let (l, t) = (med(&mut large), med(&mut tiny));
    println!(
        "push → commit, large repository     {:>9.1} ms   (tiny repository: {:.1} ms; ratio {:.2}×, goal ≤ 2×)",
        ms(l),
        ms(t),
        l.as_secs_f64() / t.as_secs_f64()
    );
    // One listing per repository, one page each (4 tags < the page size): anything more
    // is a repeated or wasted request.
    assert_eq!(
        requests as usize, REPOS,
        "registry requests {requests} ≠ distinct repositories × pages ({REPOS} × 1)"
    );
}

fn git_of(app: usize) -> usize {
    if app < large_apps() {
        0
    } else {
        1 + (app - large_apps()) % TINY
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A bare repository at `path`: one commit with `files` and `filler` other files, then
/// `commits - 1` commits each changing one filler file (`git fast-import`).
fn fast_import(path: &Path, files: &[(String, String)], filler: usize, commits: usize) {
    git(
        None,
        &["init", "-q", "--bare", "-b", "main", path.to_str().unwrap()],
    );
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = std::io::BufWriter::new(child.stdin.take().unwrap());
    let data = |w: &mut dyn Write, s: &str| {
        write!(w, "data {}\n{s}\n", s.len()).unwrap();
    };
    let head = |w: &mut std::io::BufWriter<_>, n: usize| {
        writeln!(w, "commit refs/heads/main\nmark :{n}").unwrap();
        writeln!(
            w,
            "committer bench <bench@example.invalid> {} +0000",
            1_700_000_000 + n
        )
        .unwrap();
    };
    head(&mut w, 1);
    data(&mut w, "initial");
    for (p, c) in files {
        writeln!(w, "M 100644 inline {p}").unwrap();
        data(&mut w, c);
    }
    for f in 0..filler {
        writeln!(w, "M 100644 inline other/d{}/f{f}.txt", f % 100).unwrap();
        data(&mut w, &format!("file {f}\n"));
    }
    for n in 2..=commits {
        head(&mut w, n);
        data(&mut w, &format!("change {n}"));
        writeln!(w, "from :{}", n - 1).unwrap();
        let f = n % filler.max(1);
        writeln!(w, "M 100644 inline other/d{}/f{f}.txt", f % 100).unwrap();
        data(&mut w, &format!("file {f} v{n}\n"));
    }
    drop(w);
    assert!(child.wait().unwrap().success(), "fast-import failed");
}

fn git(dir: Option<&Path>, args: &[&str]) -> String {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let out = c.args(args).stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn commit_count(bare: &Path) -> usize {
    git(Some(bare), &["rev-list", "--count", "main"])
        .trim()
        .parse()
        .unwrap_or(0)
}

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

/// A `/proc/<pid>/status` figure in kB (`VmHWM`, `RssAnon`, …).
fn proc_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: \"{image}\"\n"
    )
}

/// The registry's notification for one push, as Distribution sends it.
async fn webhook(port: u16, host: &str, repo: &str, tag: &str) {
    let body = format!(
        r#"{{"events":[{{"action":"push","target":{{"mediaType":"{MANIFEST}","repository":"{repo}","tag":"{tag}"}},"request":{{"host":"{host}"}}}}]}}"#
    );
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/hooks/registry"))
        .header("authorization", format!("Bearer {SECRET}"))
        .body(body)
        .send()
        .await
        .expect("webhook");
    assert_eq!(r.status().as_u16(), 202, "webhook refused");
}
