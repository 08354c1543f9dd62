//! Deploy trigger latency: commit pushed → trigger delivered, next to registry push →
//! commit (the baseline) of the same run, real parts only but the receiver.
//!
//! Run: `cargo bench --bench deploy_trigger` (release; `--profile dev` for a quick look).
//! Env: `TRIGGER_BENCH_ITERS=N` (measured pushes, default 60), `TRIGGER_BENCH_WARMUP=N`
//! (default 3).
//!
//! Set-up: a CNCF Distribution registry notifying a running `imagebump run` (the real
//! binary, `poll: 1h`, so only webhooks cause work), a `file://` bare GitOps repository,
//! and an Argo CD trigger (`deployTriggers: [{argocd: {url, secret}}]`: a signed GitHub
//! push event) pointing at a stand-in receiver — a `StandInServer` that stamps the time
//! each request arrives (Argo CD cannot run here). Per iteration a new tag is PUT
//! through the registry's API; t0 when the PUT returns, t1 when the bare repository's
//! `refs/heads/main` file changes (polled every 200 µs), t2 when the receiver has read
//! the push event naming that commit. Pushes are sequential: each waits for t2.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use imagebump_testbed::standin::{Resp, StandInServer};
use support::gitserver::BareRepo;
use support::registry::{free_port, TestRegistry, TestRegistryOptions};
use support::service::Service;

const HOOK: &str = "bench-hook-secret";

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn read_ref(repo: &std::path::Path) -> Option<String> {
    std::fs::read_to_string(repo.join("refs/heads/main"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn main() {
    let iters = env_usize("TRIGGER_BENCH_ITERS", 60);
    let warmup = env_usize("TRIGGER_BENCH_WARMUP", 3);
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    println!(
        "deploy_trigger bench: profile {profile}, {iters} measured pushes (+{warmup} warm-up)"
    );
    let rt = support::service::rt();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let port = free_port();
    let registry = TestRegistry::start(TestRegistryOptions::default().with_notifications(
        &format!("http://127.0.0.1:{port}/hooks/registry"),
        Some(&format!("Bearer {HOOK}")),
    ));
    let h = registry.host();
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let tx = std::sync::Mutex::new(tx);
    let receiver = StandInServer::start(move |req| {
        let at = Instant::now();
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let after = v["after"].as_str().unwrap_or_default().to_string();
        let _ = tx.lock().unwrap().send((at, after));
        Resp::status(200)
    });
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/app.yaml"),
        format!("application: bench\nimages:\n  - name: app\n    repository: {h}/team/app\n    semver: '>=1.0.0'\n    targets:\n      - manifest: app.yaml\n"),
    )
    .unwrap();
    let repo_path = dir.join("fleet.git");
    let _repo = BareRepo::create_at(
        &repo_path,
        &[(
            "app.yaml",
            &format!("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {h}/team/app:1.0.0\n"),
        )],
    );
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\npoll: {{interval: 1h}}\ngit:\n  url: file://{d}/fleet.git\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - {{host: {h}, insecure: true}}\nreceivers:\n  - {{name: registry, provider: distribution, secret: {{env: BENCH_HOOK}}}}\ndeployTriggers:\n  - argocd: {{url: 'http://{r}/api/webhook', secret: {{env: BENCH_ARGO}}}}\n",
            d = dir.display(),
            r = receiver.host()
        ),
    )
    .unwrap();
    rt.block_on(registry.push_image("team/app", "1.0.0"));
    let _svc = Service::start_env(
        dir,
        port,
        &[("BENCH_HOOK", HOOK), ("BENCH_ARGO", "bench-argo-secret")],
    );
    let (mut commit, mut trigger, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..warmup + iters {
        let before = read_ref(&repo_path);
        rt.block_on(registry.push_image("team/app", &format!("1.0.{}", i + 1)));
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(30);
        let (t1, sha) = loop {
            if let Some(now) = read_ref(&repo_path).filter(|n| Some(n) != before.as_ref()) {
                break (Instant::now(), now);
            }
            assert!(Instant::now() < deadline, "no commit for push {i}");
            std::thread::sleep(Duration::from_micros(200));
        };
        let t2 = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, after) = rx.recv_timeout(left).expect("no trigger delivered");
            if after == sha {
                break at;
            }
        };
        if i >= warmup {
            commit.push(t1.duration_since(t0).as_secs_f64() * 1e3);
            // The ref is seen a little after the push lands; never negative.
            trigger.push(t2.saturating_duration_since(t1).as_secs_f64() * 1e3);
            total.push(t2.duration_since(t0).as_secs_f64() * 1e3);
        }
    }
    for v in [&mut commit, &mut trigger, &mut total] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    println!();
    println!(
        "| {:<40} |   p50 ms |   p99 ms |   max ms |",
        format!("measured over {iters} commits")
    );
    println!("|------------------------------------------|---------:|---------:|---------:|");
    for (name, v) in [
        ("registry push → commit (baseline)", &commit),
        ("commit pushed → trigger delivered", &trigger),
        ("registry push → trigger delivered", &total),
    ] {
        println!(
            "| {name:<40} | {:>8.1} | {:>8.1} | {:>8.1} |",
            pct(v, 0.5),
            pct(v, 0.99),
            v[v.len() - 1]
        );
    }
}
