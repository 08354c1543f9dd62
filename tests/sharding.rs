//! Sharding with `policySelector`: two replicas with disjoint selectors on one registry
//! and one GitOps repository each touch only their own applications and never read the
//! other's registry repositories; `validate` warns about a selector that matches nothing.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use support::gitserver::{git, BareRepo};
use support::registry::{free_port, TestRegistry, TestRegistryOptions};
use support::replicas::*;
use support::service::{rt, Service};

#[test]
fn sharded_replicas_touch_and_read_only_their_own_applications() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default().with_access_log());
    let host = registry.host();
    let team_a: Vec<String> = (0..3).map(|i| format!("team-a-{i}")).collect();
    let team_b: Vec<String> = (0..3).map(|i| format!("team-b-{i}")).collect();
    let all: Vec<String> = team_a.iter().chain(&team_b).cloned().collect();
    let policies = root.join("policies");
    write_policies(&policies, &host, &all);
    let repos_of = |apps: &[String]| -> Vec<String> {
        apps.iter()
            .flat_map(|a| IMAGES.iter().map(move |i| format!("team/{a}-{i}")))
            .collect()
    };
    for r in repos_of(&all) {
        rt.block_on(registry.push_image(&r, "1.0.0"));
    }
    let seed = fleet_at(&host, &all, |_| "1.0.0".into());
    let seed_refs: Vec<(&str, &str)> = seed.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    let repo = BareRepo::create_at(&root.join("fleet.git"), &seed_refs);
    let base = repo.head("main").unwrap();
    let ports = [free_port(), free_port()];
    let selectors = [
        "policySelector:\n  applications: [team-a-*]\n",
        "policySelector:\n  applications: ['*']\n  exclude: [team-a-*]\n",
    ];
    let dirs: Vec<PathBuf> = (0..2).map(|i| root.join(format!("shard{i}"))).collect();
    for ((dir, port), sel) in dirs.iter().zip(ports).zip(selectors) {
        write_replica(dir, port, &policies, &repo.file_url(), false, &host, sel);
    }
    // Every repository gets a new tag; with sharding, each push reaches every replica
    // (the registry notifies each one), and only the owner acts on it.
    for r in repos_of(&all) {
        rt.block_on(registry.push_image(&r, "1.0.1"));
    }
    let deliver_all = |ports: &[u16], apps: &[String]| {
        rt.block_on(async {
            let client = reqwest::Client::new();
            for r in repos_of(apps) {
                for p in ports {
                    let s = deliver(&client, *p, push_event(&host, &r, "1.0.1")).await;
                    assert_eq!(s, 202);
                }
            }
        })
    };

    // Shard 0 alone first: it updates team A, and neither writes nor reads team B.
    let mut a = Service::start_with(&dirs[0], ports[0], &["--log-format", "json"]);
    deliver_all(&ports[..1], &all);
    let want_a = fleet_at(&host, &team_a, |_| "1.0.1".into());
    wait_for("team A at 1.0.1", Duration::from_secs(30), || {
        want_a
            .iter()
            .all(|(p, c)| repo.read("main", p).as_deref() == Some(c.as_str()))
            .then_some(())
    });
    let (_, status) = a.get("/api/v1/status").unwrap();
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        v["policySelector"],
        serde_json::json!({"applications": ["team-a-*"]}),
        "{status}"
    );
    let apps_shown: BTreeSet<&str> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["application"].as_str().unwrap())
        .collect();
    assert_eq!(apps_shown, team_a.iter().map(String::as_str).collect());
    for (p, c) in fleet_at(&host, &team_b, |_| "1.0.0".into()) {
        assert_eq!(repo.read("main", &p).unwrap(), c, "shard 0 touched {p}");
    }
    for r in repos_of(&team_b) {
        assert_eq!(
            registry.count_tag_list_requests(&r),
            0,
            "shard 0 listed {r}"
        );
        assert_eq!(registry.count_manifest_requests(&r), 0, "shard 0 read {r}");
    }
    let a_reads: Vec<usize> = repos_of(&team_a)
        .iter()
        .map(|r| registry.count_tag_list_requests(r))
        .collect();
    assert!(
        a_reads.iter().all(|n| *n > 0),
        "shard 0 listed its own: {a_reads:?}"
    );
    let a_manifests: Vec<usize> = repos_of(&team_a)
        .iter()
        .map(|r| registry.count_manifest_requests(r))
        .collect();

    // Then shard 1: its start-up sync and team B's events (to both) update team B; it
    // never reads team A's repositories (and shard 0, given no team A event, reads none).
    let mut b = Service::start_with(&dirs[1], ports[1], &["--log-format", "json"]);
    deliver_all(&ports, &team_b);
    let want = fleet_at(&host, &all, |_| "1.0.1".into());
    wait_for("team B at 1.0.1", Duration::from_secs(30), || {
        want.iter()
            .all(|(p, c)| repo.read("main", p).as_deref() == Some(c.as_str()))
            .then_some(())
    });
    let after: Vec<usize> = repos_of(&team_a)
        .iter()
        .map(|r| registry.count_tag_list_requests(r))
        .collect();
    assert_eq!(after, a_reads, "shard 1 listed team A's repositories");
    let a_manifests_after: Vec<usize> = repos_of(&team_a)
        .iter()
        .map(|r| registry.count_manifest_requests(r))
        .collect();
    assert_eq!(
        a_manifests_after, a_manifests,
        "shard 1 read team A's manifests"
    );
    let b_status: serde_json::Value =
        serde_json::from_str(&b.get("/api/v1/status").unwrap().1).unwrap();
    assert_eq!(b_status["images"].as_array().unwrap().len(), 9);
    eprintln!("sharded: team A listings {a_reads:?}, unchanged after shard 1 ran");
    for (i, svc) in [&mut a, &mut b].into_iter().enumerate() {
        let status = svc.stop();
        assert!(status.success(), "shard {i}: {status:?}");
    }
    // Each shard's commits touch only its own applications.
    for (i, (svc, prefix)) in [(&a, "apps/team-a-"), (&b, "apps/team-b-")]
        .into_iter()
        .enumerate()
    {
        let commits = pushed_commits(&svc.log());
        assert!(!commits.is_empty(), "shard {i} committed");
        for c in commits {
            let gd = repo.path().to_str().unwrap();
            let files = git(
                None,
                &["--git-dir", gd, "show", "--format=", "--name-only", &c],
            );
            for f in files.lines().filter(|l| !l.is_empty()) {
                assert!(f.starts_with(prefix), "shard {i} wrote {f} in {c}");
            }
        }
    }
    assert_eq!(
        history(&repo, &base).len(),
        pushed_commits(&a.log()).len() + pushed_commits(&b.log()).len()
    );
}

#[test]
fn validate_warns_when_the_policy_selector_matches_no_application() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_policies(
        &root.join("policies"),
        "registry.example",
        &["team-a-web".to_string()],
    );
    std::fs::write(
        root.join("imagebump.yaml"),
        "policies: policies\npolicySelector:\n  applications: [team-b-*]\n",
    )
    .unwrap();
    let run = support::cli::run(root, &["validate", "--config", "imagebump.yaml"], &[]);
    assert_eq!(run.code, 0, "a warning, not a problem: {run:?}");
    assert!(
        run.stdout.contains("imagebump.yaml:3:")
            && run
                .stdout
                .contains("warning: policySelector matches no application (they are: team-a-web)"),
        "{run:?}"
    );
    std::fs::write(
        root.join("imagebump.yaml"),
        "policies: policies\npolicySelector:\n  applications: [team-a-*]\n",
    )
    .unwrap();
    let run = support::cli::run(root, &["validate", "--config", "imagebump.yaml"], &[]);
    assert!(!run.stdout.contains("warning"), "{run:?}");
    // A typo in a key is an error naming it; an empty list selects nothing and says so.
    std::fs::write(
        root.join("imagebump.yaml"),
        "policySelector:\n  application: [a]\n",
    )
    .unwrap();
    let run = support::cli::run(root, &["validate", "--config", "imagebump.yaml"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.contains("application"), "{run:?}");
    std::fs::write(
        root.join("imagebump.yaml"),
        "policySelector:\n  applications: []\n",
    )
    .unwrap();
    let run = support::cli::run(root, &["validate", "--config", "imagebump.yaml"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stdout.contains(
            "imagebump.yaml:2: policySelector.applications is empty, so it selects nothing"
        ),
        "{run:?}"
    );
}
