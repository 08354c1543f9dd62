//! End to end: registry push → webhook → rescan → in-place edit → commit → push, measured
//! with real parts only (issue 5), against a floor measured in the same run.
//!
//! Long: the floor, the service and the large-repository case share one set-up; split,
//! the three figures would no longer come from one run.
//!
//! Run (release, the figures to quote):
//!
//! ```sh
//! cargo bench --bench e2e_latency
//! ```
//!
//! A quicker check on the warm debug build: `cargo bench --profile dev --bench e2e_latency`
//! (the service binary is then a debug build too; the output says which).
//! Env: `E2E_BENCH_ITERS=N` (measured pushes, default 100), `E2E_BENCH_WARMUP=N` (default
//! 3), `E2E_BENCH_POLICIES=N` (policies of the memory instance, default 1000, 10 per
//! registry repository).
//!
//! What it does:
//! 1. **Latency.** A CNCF Distribution registry whose `notifications` endpoint is a running
//!    `imagebump run` (the real binary, `poll: {interval: 1h}`, so only webhooks cause
//!    work), a `file://` bare GitOps repository with one Deployment at
//!    `<registry>/team/app:1.0.0` and a policy `>=1.0.0`. Per iteration a new tag
//!    `1.0.<i>` is PUT through the registry HTTP API (blobs are uploaded once beforehand);
//!    t0 is taken when the manifest PUT returns, t1 when the bare repository's
//!    `refs/heads/main` changes (the ref file is polled every 100 µs). The service's own
//!    `imagebump_webhook_to_commit_seconds` histogram (from webhook arrival) is scraped
//!    at the end, and its debug log (JSON) gives the median of each phase.
//! 2. **Floor**, interleaved with (1) so both see the same machine: `curl -s` of the same
//!    `tags/list`, then the same one-line edit in an existing git CLI clone of a second
//!    bare repository, `git commit -qam`, `git push -q`: the work a shell script would do.
//! 3. **Memory.** VmRSS / VmHWM of the latency service once its start-up sync settled (and
//!    again after the pushes), and of a second instance with 1,000 policies over 100
//!    registry repositories, each policy targeting its own manifest file, measured when
//!    `/api/v1/status` shows every image with `current` set.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::gitserver::{BareRepo, CliClone};
use support::registry::{free_port, TestRegistry, TestRegistryOptions};

const SECRET: &str = "bench-webhook-secret";
use support::tagged::{put_tag, upload_blobs};

fn main() {
    let iters = env_usize("E2E_BENCH_ITERS", 100);
    let warmup = env_usize("E2E_BENCH_WARMUP", 3);
    let n_policies = env_usize("E2E_BENCH_POLICIES", 1000);
    let profile = if cfg!(debug_assertions) {
        "dev (debug build of the service)"
    } else {
        "release"
    };
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("e2e_latency bench: profile {profile}, {iters} measured pushes (+{warmup} warm-up)");
    println!(
        "git CLI: {}",
        run_ok(Command::new("git").arg("--version")).trim()
    );
    let load_start = loadavg();

    // ---------------------------------------------------------------- latency setup
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    let port = free_port();
    let registry = TestRegistry::start(TestRegistryOptions::default().with_notifications(
        &format!("http://127.0.0.1:{port}/hooks/registry"),
        Some(&format!("Bearer {SECRET}")),
    ));
    let host = registry.host();
    let image = format!("{host}/team/app");
    let file = "apps/app/deployment.yaml";
    write_policies(&dir, &[("app".into(), image.clone(), file.into())]);
    let repo_path = tmp.path().join("fleet.git");
    write_config(
        &dir,
        port,
        &format!("file://{}", repo_path.display()),
        &host,
    );
    let seed = deployment(&format!("{image}:1.0.0"));
    let repo = BareRepo::create_at(&repo_path, &[(file, &seed), ("README.md", "fleet\n")]);
    // The floor writes to its own copy, so neither writer ever has to fetch the other's work.
    let floor_path = tmp.path().join("floor.git");
    BareRepo::create_at(&floor_path, &[(file, &seed), ("README.md", "fleet\n")]);
    let floor_clone = CliClone::new(&format!("file://{}", floor_path.display()));

    // Blobs once; each tag is then one manifest PUT with its own annotation (own digest).
    let base_manifest = rt.block_on(upload_blobs(&registry, "team/app"));
    rt.block_on(put_tag(&registry, "team/app", &base_manifest, "1.0.0"));

    let t_spawn = Instant::now();
    let mut svc = Service::start(&rt, &dir, port, "latency");
    let ready_after = t_spawn.elapsed();
    let settled_after = svc.wait_all_current(&rt, 1, Duration::from_secs(30)) + ready_after;
    std::thread::sleep(Duration::from_millis(500));
    let mem_idle = proc_mem(svc.pid());

    // ---------------------------------------------------------------- latency + floor
    let tags_url = format!("http://{host}/v2/team/app/tags/list");
    let mut lat = Vec::new(); // imagebump, t1 - t0 (t0: the manifest PUT returned)
    let mut lat_sent = Vec::new(); // imagebump, t1 - the moment the PUT was sent
    let mut put_t = Vec::new(); // the manifest PUT's round trip
    let mut lat_warm = Vec::new();
    let mut curl_t = Vec::new();
    let mut git_t = Vec::new();
    let mut windows = Vec::new(); // per measured push, for the phase breakdown
    let mut prev_tip = ref_tip(&repo_path).expect("main exists");
    let mut prev_wall = SystemTime::now();
    // A push with no commit after this long counts as missed (see the report).
    let miss_after = Duration::from_millis(env_usize("E2E_BENCH_MISS_AFTER_MS", 3000) as u64);
    // (i, tag, newest tag the service saw, t0, window start)
    let mut misses: Vec<(usize, String, String, SystemTime, SystemTime)> = Vec::new();
    let mut committed = 0usize;
    for i in 1..=(warmup + iters) {
        let tag = format!("1.0.{i}");
        let sent = Instant::now();
        let sent_wall = SystemTime::now();
        rt.block_on(put_tag(&registry, "team/app", &base_manifest, &tag));
        let t0 = Instant::now();
        let t0_wall = SystemTime::now();
        let mut deadline = t0 + miss_after;
        let mut status = String::new();
        let tip = loop {
            if let Some(t) = ref_tip(&repo_path) {
                if t != prev_tip {
                    break Some(t);
                }
            }
            if Instant::now() > deadline {
                // Slow, or will never come? Ask the service what its scan saw.
                status = svc
                    .get(&rt, "/api/v1/status")
                    .map(|r| r.1)
                    .unwrap_or_default();
                let slow = status.contains(&format!("\"latestCandidate\":\"{tag}\""));
                if slow && deadline < t0 + Duration::from_secs(30) {
                    deadline = t0 + Duration::from_secs(30);
                    continue;
                }
                break None;
            }
            std::thread::sleep(Duration::from_micros(100));
        };
        let dt = t0.elapsed();
        let t1_wall = SystemTime::now();
        match tip {
            Some(tip) => {
                prev_tip = tip;
                committed += 1;
                if i <= warmup {
                    lat_warm.push(dt);
                } else {
                    lat.push(dt);
                    lat_sent.push(dt + (t0 - sent));
                    put_t.push(t0 - sent);
                    windows.push(Window {
                        sent: sent_wall,
                        returned: t0_wall,
                        seen: t1_wall,
                        from: prev_wall,
                    });
                }
            }
            None => {
                let v: serde_json::Value = serde_json::from_str(&status).unwrap_or_default();
                let img = &v["images"][0];
                let seen = img["latestCandidate"].as_str().unwrap_or("?").to_string();
                if img["lastError"].is_string() || seen == tag {
                    panic!(
                        "no commit for {tag} (error, or chosen but not pushed in 30 s): {status}\n{}",
                        tail(&svc.log(), 40)
                    );
                }
                misses.push((i, tag.clone(), seen, t0_wall, prev_wall));
            }
        }

        // The floor: the same listing with curl, the same edit with the git CLI.
        let f0 = Instant::now();
        let body = run_ok(Command::new("curl").args(["-s", "-f", &tags_url]));
        let f1 = Instant::now();
        assert!(body.contains(&format!("\"{tag}\"")), "curl: {body}");
        let path = floor_clone.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replace(&format!(":1.0.{}\"", i - 1), &format!(":{tag}\""));
        assert_ne!(text, edited, "floor edit found nothing to change");
        std::fs::write(&path, edited).unwrap();
        run_ok(floor_git(floor_clone.path()).args([
            "commit",
            "-qam",
            &format!("chore(images): app {tag}"),
        ]));
        run_ok(floor_git(floor_clone.path()).args(["push", "-q", "origin", "HEAD"]));
        let f2 = Instant::now();
        if i > warmup {
            curl_t.push(f1 - f0);
            git_t.push(f2 - f1);
        }
        prev_wall = SystemTime::now();
    }
    let last = format!("1.0.{}", warmup + iters);
    let final_text = repo.read("main", file).unwrap_or_default();
    let commits = repo.commit_count("main");
    let final_ok = misses.last().is_none_or(|m| m.1 != last);
    let consistent = commits == 1 + committed
        && (!final_ok || final_text == seed.replace(":1.0.0\"", &format!(":{last}\"")));
    std::thread::sleep(Duration::from_millis(300));
    let mem_after = proc_mem(svc.pid());
    let metrics = svc.get(&rt, "/metrics").map(|(_, b)| b).unwrap_or_default();
    let log_path = svc.log_path();
    let phases = phase_breakdown(&log_path, &windows);
    svc.stop();
    let load_mid = loadavg();

    // ---------------------------------------------------------------- 1,000 policies
    let big = memory_instance(&rt, tmp.path(), n_policies);

    // ---------------------------------------------------------------- report
    let floor: Vec<Duration> = curl_t.iter().zip(&git_t).map(|(a, b)| *a + *b).collect();
    println!();
    println!(
        "== webhook → pushed commit ({} pushes, file:// remote, 1 policy) ==",
        lat.len()
    );
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "ms", "p50", "p90", "p99", "max", "mean"
    );
    row("imagebump: PUT returned → ref moved", &lat);
    row("imagebump: PUT sent → ref moved", &lat_sent);
    row("(manifest PUT round trip)", &put_t);
    row("floor: curl tags/list (spawned)", &curl_t);
    row("floor: edit + git commit -am + git push", &git_t);
    row("floor: total", &floor);
    let ratio = ms(pct(&lat, 0.5)) / ms(pct(&floor, 0.5));
    println!(
        "ratio p50 imagebump / p50 floor: {ratio:.2}x (goal <= 1.5x: {}); counting from the PUT sent: {:.2}x",
        if ratio <= 1.5 { "met" } else { "NOT met" },
        ms(pct(&lat_sent, 0.5)) / ms(pct(&floor, 0.5))
    );
    println!(
        "warm-up pushes (not counted): {}",
        lat_warm
            .iter()
            .map(|d| format!("{:.1} ms", ms(*d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let hist = |name: &str| -> Option<(f64, f64)> {
        Some((
            metric(&metrics, &format!("{name}_sum"))?,
            metric(&metrics, &format!("{name}_count"))?,
        ))
    };
    match hist("imagebump_webhook_to_commit_seconds") {
        Some((sum, n)) if n > 0.0 => println!(
            "service metric imagebump_webhook_to_commit_seconds (webhook arrival → push done): mean {:.1} ms over {n} commits (incl. warm-up)",
            sum / n * 1e3
        ),
        _ => println!("service metric imagebump_webhook_to_commit_seconds: not found"),
    }
    if let Some((sum, n)) = hist("imagebump_write_seconds").filter(|(_, n)| *n > 0.0) {
        println!(
            "service metric imagebump_write_seconds (fetch+edit+commit+push): mean {:.1} ms over {n} writes",
            sum / n * 1e3
        );
    }
    match phases {
        Some(p) => {
            println!(
                "where imagebump's time goes (median per phase over {} pushes, from the service's JSON debug log):",
                p.n
            );
            for (name, v) in &p.rows {
                println!("  {name:<58} {v:>7.2} ms");
            }
        }
        None => println!("phase breakdown: could not match the service log to the pushes"),
    }
    let measured_misses = misses.iter().filter(|m| m.0 > warmup).count();
    println!(
        "pushes with no commit within {} ms: {} of {} measured ({} in warm-up){}",
        miss_after.as_millis(),
        measured_misses,
        iters,
        misses.len() - measured_misses,
        if misses.is_empty() {
            ""
        } else {
            " — the percentiles above cover only the pushes that produced a commit"
        }
    );
    let log_lines = read_log(&log_path);
    for (_, tag, seen, t0, from) in &misses {
        let handled = log_lines
            .iter()
            .find(|l| l.msg == "webhook accepted" && l.ts >= secs(*from))
            .map_or("?".to_string(), |l| {
                format!("{:+.1} ms", (l.ts - secs(*t0)) * 1e3)
            });
        println!(
            "  missed {tag}: webhook handled {handled} from the PUT's return; the scan's newest tag was {seen} (the commit waits for the next push or the 1h poll)"
        );
    }
    if !consistent {
        println!(
            "WARNING: expected {} commits and :{last} in the file; got {commits} commits and:\n{final_text}",
            1 + committed
        );
    }

    println!();
    println!("== memory (from /proc/<pid>/status) ==");
    println!("{:<58} {:>10} {:>10}", "", "VmRSS", "VmHWM");
    let mem_row = |name: &str, m: Option<(u64, u64)>| match m {
        Some((rss, hwm)) => println!(
            "{name:<58} {:>7.1} MB {:>7.1} MB",
            rss as f64 / 1024.0,
            hwm as f64 / 1024.0
        ),
        None => println!("{name:<58} {:>10} {:>10}", "n/a", "n/a"),
    };
    mem_row("1 policy, idle after start-up sync", mem_idle);
    mem_row(
        &format!("1 policy, after {} pushes", warmup + iters),
        mem_after,
    );
    mem_row(
        &format!(
            "{} policies / {} repositories, after start-up sync",
            big.policies, big.repos
        ),
        big.mem,
    );
    println!(
        "start-up: 1 policy ready in {:.0} ms, synced in {:.0} ms; {} policies ready in {:.0} ms, every image current after {:.0} ms",
        ms(ready_after),
        ms(settled_after),
        big.policies,
        ms(big.ready),
        ms(big.settled)
    );
    println!(
        "(the start-up listings are paced by the registry client's rate limit, 20 requests/s by default)"
    );
    println!();
    println!(
        "load average (1/5/15 min; 2 shared cores): start {load_start} | after latency {load_mid} | end {}",
        loadavg()
    );
    println!("total bench time {:.1} s", started.elapsed().as_secs_f64());
}

// -------------------------------------------------------------------- the service

/// A running `imagebump run`; SIGTERM on `stop`, SIGKILL on drop.
struct Service {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Service {
    fn start(rt: &tokio::runtime::Runtime, dir: &Path, port: u16, what: &str) -> Service {
        let log = std::fs::File::create(dir.join("imagebump.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(dir.join("imagebump.yaml"))
            .env("BENCH_WEBHOOK_SECRET", SECRET)
            // Phase timings (fetch/reset/commit/push) are debug lines of imagebump itself.
            .env("IMAGEBUMP_LOG", "imagebump=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Service {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while s.get(rt, "/readyz").map(|r| r.0) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "{what} service not ready:\n{}",
                tail(&s.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        s
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("imagebump.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn get(&self, rt: &tokio::runtime::Runtime, path: &str) -> Option<(u16, String)> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        rt.block_on(async {
            let r = reqwest::get(url).await.ok()?;
            let st = r.status().as_u16();
            Some((st, r.text().await.ok()?))
        })
    }

    /// Waits until `/api/v1/status` lists `n` images, each with `current` set; returns
    /// how long that took.
    fn wait_all_current(
        &self,
        rt: &tokio::runtime::Runtime,
        n: usize,
        timeout: Duration,
    ) -> Duration {
        let t = Instant::now();
        loop {
            if let Some((200, body)) = self.get(rt, "/api/v1/status") {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let images = v["images"].as_array().cloned().unwrap_or_default();
                if images.len() == n && images.iter().all(|i| i["current"].is_string()) {
                    return t.elapsed();
                }
            }
            assert!(
                t.elapsed() < timeout,
                "start-up sync did not settle within {timeout:?}:\n{}",
                tail(&self.log(), 40)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, port: u16, git_url: &str, registry_host: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: {git_url}\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {registry_host}\n    insecure: true\nreceivers:\n  - name: registry\n    provider: distribution\n    secret: {{env: BENCH_WEBHOOK_SECRET}}\npoll: {{interval: 1h}}\n",
            d = dir.display(),
        ),
    )
    .unwrap();
}

/// One policy file per (application, repository, manifest path).
fn write_policies(dir: &Path, apps: &[(String, String, String)]) {
    let pdir = dir.join("policies");
    std::fs::create_dir_all(&pdir).unwrap();
    for (app, repository, file) in apps {
        std::fs::write(
            pdir.join(format!("{app}.yaml")),
            format!(
                "application: {app}\nimages:\n  - repository: {repository}\n    semver: \">=1.0.0\"\n    targets:\n      - manifest: {file}\n"
            ),
        )
        .unwrap();
    }
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app   # keep this comment\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: \"{image}\"   # bumped by imagebump\n          ports: [{{containerPort: 80}}]\n"
    )
}

// -------------------------------------------------------------------- the memory instance

struct BigInstance {
    policies: usize,
    repos: usize,
    mem: Option<(u64, u64)>,
    ready: Duration,
    settled: Duration,
}

/// A second service with `n` policies, 10 per registry repository, each with its own
/// manifest file; one tag pushed per repository first. Measured once every image shows a
/// `current` tag (the start-up sync has scanned everything and planned every file).
fn memory_instance(rt: &tokio::runtime::Runtime, root: &Path, n: usize) -> BigInstance {
    let repos = n.div_ceil(10);
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let host = registry.host();
    rt.block_on(async {
        use futures::StreamExt;
        futures::stream::iter(0..repos)
            .map(|r| {
                let registry = &registry;
                async move {
                    registry.push_image(&format!("team/r{r:03}"), "1.0.0").await;
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
    });
    let dir = root.join("svc-big");
    let mut apps = Vec::new();
    let mut files = Vec::new();
    for p in 0..n {
        let r = p / 10;
        let app = format!("r{r:03}-p{}", p % 10);
        let file = format!("apps/r{r:03}/p{}.yaml", p % 10);
        let image = format!("{host}/team/r{r:03}");
        files.push((file.clone(), deployment(&format!("{image}:1.0.0"))));
        apps.push((app, image, file));
    }
    write_policies(&dir, &apps);
    let repo_path = root.join("fleet-big.git");
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    BareRepo::create_at(&repo_path, &refs);
    let port = free_port();
    write_config(
        &dir,
        port,
        &format!("file://{}", repo_path.display()),
        &host,
    );
    let t = Instant::now();
    let mut svc = Service::start(rt, &dir, port, "1,000-policy");
    let ready = t.elapsed();
    svc.wait_all_current(rt, n, Duration::from_secs(120));
    let settled = t.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let mem = proc_mem(svc.pid());
    svc.stop();
    BigInstance {
        policies: n,
        repos,
        mem,
        ready,
        settled,
    }
}

// -------------------------------------------------------------------- the log's phases

struct Phases {
    n: usize,
    rows: Vec<(&'static str, f64)>,
}

struct LogLine {
    ts: f64,
    msg: String,
    fields: serde_json::Value,
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The service's JSON log lines (RFC 3339 µs timestamps).
fn read_log(log: &Path) -> Vec<LogLine> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let ts = humantime::parse_rfc3339(v["timestamp"].as_str()?).ok()?;
            Some(LogLine {
                ts: secs(ts),
                msg: v["fields"]["message"].as_str()?.to_string(),
                fields: v["fields"].clone(),
            })
        })
        .collect()
}

/// Medians of each phase, matching the service's debug lines (RFC 3339 µs timestamps) to
/// each push's window: after the previous iteration's floor, until the ref moved.
/// One measured push, in wall-clock time (to match the service's log).
struct Window {
    /// The manifest PUT was sent.
    sent: SystemTime,
    /// The manifest PUT returned (t0).
    returned: SystemTime,
    /// The bench saw the ref move (t1).
    seen: SystemTime,
    /// The previous iteration ended (after its floor).
    from: SystemTime,
}

fn phase_breakdown(log: &Path, windows: &[Window]) -> Option<Phases> {
    let lines = read_log(log);
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); 8];
    for w in windows {
        let (sent, t0, t1, from) = (secs(w.sent), secs(w.returned), secs(w.seen), secs(w.from));
        // Lines are written after the events they report, so allow 50 ms past t1.
        let in_win: Vec<&LogLine> = lines
            .iter()
            .filter(|l| l.ts >= from && l.ts <= t1 + 0.05)
            .collect();
        let find =
            |m: &str, after: f64| in_win.iter().find(|l| l.msg == m && l.ts >= after).copied();
        let Some(acc) = find("webhook accepted", from) else {
            continue;
        };
        let Some(synced) = find("synced", acc.ts) else {
            continue;
        };
        let Some(committed) = find("staged and committed", synced.ts) else {
            continue;
        };
        let Some(pushed) = find("push done", committed.ts) else {
            continue;
        };
        let f = |l: &LogLine, k: &str| l.fields[k].as_f64().unwrap_or(0.0);
        let sync_ms = f(synced, "fetch_ms") + f(synced, "reset_ms");
        let sync_start = synced.ts - sync_ms / 1e3;
        cols[0].push((acc.ts - sent) * 1e3);
        cols[1].push((acc.ts - t0) * 1e3);
        cols[2].push((sync_start - acc.ts) * 1e3);
        cols[3].push(f(synced, "fetch_ms"));
        cols[4].push(f(synced, "reset_ms"));
        cols[5].push((committed.ts - synced.ts) * 1e3);
        cols[6].push(f(pushed, "push_ms"));
        cols[7].push((t1 - pushed.ts) * 1e3);
    }
    let n = cols[0].len();
    if n == 0 {
        return None;
    }
    let names = [
        "PUT sent → webhook handled by the service",
        "  (the same from the PUT's return; <0: handled before it)",
        "handled → writer starts (tags/list scan, select, queue)",
        "writer: fetch (libgit2)",
        "writer: reset --hard",
        "writer: plan + edit file + commit",
        "writer: push (libgit2, file://)",
        "push returned → bench saw the ref (<0: ref seen first)",
    ];
    Some(Phases {
        n,
        rows: names
            .iter()
            .zip(cols.iter_mut())
            .map(|(name, c)| {
                c.sort_by(|a, b| a.total_cmp(b));
                (*name, c[c.len() / 2])
            })
            .collect(),
    })
}

// -------------------------------------------------------------------- small helpers

/// The commit `refs/heads/main` of a bare repository points at: the loose ref file, or
/// else its line in `packed-refs`. A few µs, so it can be polled tightly.
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

/// git for the floor: identity on the command line, no global/system config.
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

/// (VmRSS, VmHWM) in kB.
fn proc_mem(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |k: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.starts_with(k))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The value of an unlabelled sample line `name value`.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok())?
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn env_usize(k: &str, default: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile.
fn pct(v: &[Duration], q: f64) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

fn row(name: &str, v: &[Duration]) {
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    println!(
        "{name:<44} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
        ms(pct(v, 0.5)),
        ms(pct(v, 0.9)),
        ms(pct(v, 0.99)),
        ms(pct(v, 1.0)),
        mean
    );
}
