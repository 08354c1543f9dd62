//! Two `imagebump run` replicas, no leader, on one registry and one GitOps repository
//! (file:// and smart HTTP via nginx + git-http-backend), with a "load balancer" (a
//! seeded random pick) sending each registry push's webhook to either one. Then the
//! repository's history is checked: nothing lost, nothing duplicated, nothing empty,
//! nothing reverted, every image at its final tag, the human's commit kept.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use support::gitserver::{human_pusher, BareRepo, CliClone, HttpGitServer};
use support::registry::{free_port, TestRegistry, TestRegistryOptions};
use support::replicas::*;
use support::service::{rt, Service};

enum Transport {
    File,
    SmartHttp,
}

/// Two replicas, 30 images (10 applications × 3), 100 registry pushes (a burst of 60, then
/// 40 spread out), each push's webhook to a replica picked at random (seeded).
fn two_replicas_converge(transport: Transport) {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let host = registry.host();
    let apps: Vec<String> = (0..10).map(|i| format!("app{i}")).collect();
    let policies = root.join("policies");
    write_policies(&policies, &host, &apps);
    let files: Vec<(String, String)> = apps
        .iter()
        .map(|a| {
            (
                format!("apps/{a}/deployment.yaml"),
                deployment(&host, a, &["1.0.0", "1.0.0", "1.0.0"]),
            )
        })
        .collect();
    let mut seed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    seed.push(("README.md", "fleet\n"));
    let images: Vec<String> = apps
        .iter()
        .flat_map(|a| IMAGES.iter().map(move |i| format!("team/{a}-{i}")))
        .collect();
    for repo in &images {
        rt.block_on(registry.push_image(repo, "1.0.0"));
    }
    let server;
    let (repo, git_url, human_url, creds) = match transport {
        Transport::File => {
            let repo = BareRepo::create_at(&root.join("fleet.git"), &seed);
            let url = repo.file_url();
            (repo, url.clone(), url, false)
        }
        Transport::SmartHttp => {
            server = HttpGitServer::start("gituser", "gitpass");
            let repo = server.create_repo("fleet", &seed);
            (
                repo,
                server.url("fleet"),
                server.url_with_credentials("fleet"),
                true,
            )
        }
    };
    repo.enable_reflog();
    let base = repo.head("main").unwrap();
    let ports = [free_port(), free_port()];
    let dirs: Vec<PathBuf> = (0..2).map(|i| root.join(format!("replica{i}"))).collect();
    for (dir, port) in dirs.iter().zip(ports) {
        write_replica(dir, port, &policies, &git_url, creds, &host, "");
    }
    let mut replicas: Vec<Service> = dirs
        .iter()
        .zip(ports)
        .map(|(d, p)| Service::start_with(d, p, &["--log-format", "json"]))
        .collect();

    // The pushes: tags 1.0.1 and 1.0.2 of every image (60, the burst), then 1.0.3 of
    // every image and 1.0.4 of the first ten (40, spread). Final: 1.0.4 or 1.0.3.
    let mut pushes: Vec<(String, String)> = Vec::new();
    for round in 1..=2 {
        pushes.extend(images.iter().map(|r| (r.clone(), format!("1.0.{round}"))));
    }
    pushes.extend(images.iter().map(|r| (r.clone(), "1.0.3".to_string())));
    pushes.extend(
        images
            .iter()
            .take(10)
            .map(|r| (r.clone(), "1.0.4".to_string())),
    );
    assert_eq!(pushes.len(), 100);
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for (r, t) in &pushes {
        last.insert(r.clone(), t.clone());
    }

    // A person commits (and pushes, rebasing when refused) during the burst.
    let (tx, rx) = mpsc::channel();
    let human = human_pusher(CliClone::new(&human_url), 3, tx);
    let mut lb = rand::rngs::StdRng::seed_from_u64(15);
    let started = Instant::now();
    let mut sent = [0usize; 2];
    let statuses: Vec<u16> = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut out = Vec::new();
        // The burst: each webhook goes as soon as its push is done, without waiting for
        // the answer, so deliveries to both replicas overlap.
        let mut inflight = Vec::new();
        for (r, t) in &pushes[..60] {
            registry.push_image(r, t).await;
            let pick = lb.random_range(0..2);
            sent[pick] += 1;
            let (c, body, port) = (client.clone(), push_event(&host, r, t), ports[pick]);
            inflight.push(tokio::spawn(async move { deliver(&c, port, body).await }));
        }
        for h in inflight {
            out.push(h.await.unwrap());
        }
        // Spread: one push and its webhook at a time, a tenth of a second apart (the
        // load's shape, not synchronisation).
        for (r, t) in &pushes[60..] {
            registry.push_image(r, t).await;
            let pick = lb.random_range(0..2);
            sent[pick] += 1;
            out.push(deliver(&client, ports[pick], push_event(&host, r, t)).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out
    });
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    assert!(
        sent[0] > 20 && sent[1] > 20,
        "the load balancer used both: {sent:?}"
    );
    let _ = rx.recv();
    let (human_commits, human_refusals) = human.join().unwrap();

    let at_final = |repo: &BareRepo| {
        apps.iter().all(|a| {
            let want = deployment(
                &host,
                a,
                &IMAGES.map(|i| last[&format!("team/{a}-{i}")].as_str()),
            );
            repo.read("main", &format!("apps/{a}/deployment.yaml"))
                .as_deref()
                == Some(&want)
        })
    };
    wait_for(
        "every image at its final tag",
        Duration::from_secs(120),
        || at_final(&repo).then_some(()),
    );
    let converged = started.elapsed();
    // Both replicas settle: no image of either still waits to push, failed, or shows a
    // refused downgrade — the last is what a replica whose wish is older than the other's
    // commit would show, were it not to scan again.
    for (n, svc) in replicas.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let body = svc
                .get("/api/v1/status")
                .map(|(_, b)| b)
                .unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let unsettled: Vec<String> = v["images"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| !matches!(i["state"].as_str(), Some("up_to_date" | "updated")))
                .map(|i| {
                    format!(
                        "{}/{}: {} {}",
                        i["application"], i["image"], i["state"], i["whyNotUpdated"]
                    )
                })
                .collect();
            if v["images"].as_array().is_some_and(|a| a.len() == 30) && unsettled.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "replica {n} did not settle: {unsettled:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let metrics: Vec<String> = replicas
        .iter()
        .map(|s| s.get("/metrics").unwrap().1)
        .collect();
    for svc in &mut replicas {
        let status = svc.stop();
        assert!(status.success(), "SIGTERM: {status:?}\n{}", svc.log());
    }
    assert!(at_final(&repo), "after shutdown, still at the final tags");

    // The history from the seed on.
    let commits = history(&repo, &base);
    let human_set: HashSet<&String> = human_commits.iter().collect();
    let reported: Vec<Vec<String>> = replicas.iter().map(|s| pushed_commits(&s.log())).collect();
    let ours: Vec<String> = reported.iter().flatten().cloned().collect();
    // 0 lost: every commit a replica reported, and the human's, is on main; each step of
    // the branch was a fast-forward.
    repo.assert_no_commit_lost(&ours, &human_commits, commits.len());
    // And every commit on main is one a replica reported or the human's: nothing landed
    // unreported.
    let ours_set: HashSet<&String> = ours.iter().collect();
    assert_eq!(ours.len(), ours_set.len(), "a commit reported twice");
    for c in &commits {
        assert!(
            ours_set.contains(c) || human_set.contains(c),
            "{c} on main is neither reported nor the human's"
        );
    }
    assert_eq!(commits.len(), ours.len() + human_commits.len());
    // 0 empty, 0 duplicate, 0 reverted: every commit changes a file and is not a merge;
    // each image reaches each tag in exactly one commit, its tags only ever rising.
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut changes_seen: BTreeSet<Vec<String>> = BTreeSet::new();
    for c in &commits {
        let (added, parents) = commit_changes(&repo, c);
        assert_eq!(parents, 1, "{c} is a merge");
        assert!(!added.is_empty(), "{c} is an empty commit");
        if human_set.contains(c) {
            continue;
        }
        assert!(
            changes_seen.insert(added.clone()),
            "{c} repeats a change: {added:?}"
        );
        for l in &added {
            let Some((_, reference)) = l.split_once("image: ") else {
                continue;
            };
            let (name, tag) = reference.rsplit_once(':').unwrap();
            let name = name.trim_start_matches(&format!("{host}/")).to_string();
            seen.entry(name).or_default().push(tag.to_string());
        }
    }
    for (name, tags) in &seen {
        let patch: Vec<u32> = tags
            .iter()
            .map(|t| t.rsplit('.').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            patch.windows(2).all(|w| w[0] < w[1]),
            "{name} went {tags:?}: a duplicate or a revert"
        );
        assert_eq!(tags.last(), last.get(name), "{name}");
    }
    assert_eq!(seen.len(), 30, "every image was bumped");
    for (i, c) in human_commits.iter().enumerate() {
        assert!(repo.is_ancestor(c, "main"));
        assert_eq!(
            repo.read("main", &format!("human/{i}.txt")).as_deref(),
            Some("x\n")
        );
    }

    let retries: Vec<f64> = metrics
        .iter()
        .map(|m| metric(m, "imagebump_push_retries_total"))
        .collect();
    let counted: Vec<f64> = metrics
        .iter()
        .map(|m| metric(m, "imagebump_commits_total"))
        .collect();
    for (i, r) in reported.iter().enumerate() {
        assert_eq!(
            counted[i] as usize,
            r.len(),
            "replica {i}: imagebump_commits_total vs its log"
        );
    }
    let stale: Vec<f64> = metrics
        .iter()
        .map(|m| metric(m, "imagebump_stale_wishes_total"))
        .collect();
    let found_done: Vec<usize> = replicas
        .iter()
        .map(|s| {
            s.log()
                .matches("another writer made these changes first")
                .count()
        })
        .collect();
    eprintln!(
        "two replicas: 100 pushes (webhooks {sent:?}), converged in {converged:.2?}; commits {:?} (+{} human, refused {human_refusals}×), push retries {retries:?}, lost races that left nothing to commit {found_done:?}, stale wishes {stale:?}",
        reported.iter().map(Vec::len).collect::<Vec<_>>(),
        human_commits.len()
    );
}

#[test]
fn two_replicas_over_file_urls() {
    two_replicas_converge(Transport::File);
}

#[test]
fn two_replicas_over_smart_http() {
    two_replicas_converge(Transport::SmartHttp);
}

/// The race made certain: replica A scans (1.0.5) and holds its wish for its 10 s
/// `batchWindow`; meanwhile 1.0.6 is pushed and replica B commits it. A's wish is then
/// older than git. A must neither revert B's commit (`allowDowngrade: true` permits a
/// downgrade — of a tag the registry no longer offers, not of a newer one) nor stand on
/// "downgrade refused" (which tells the user to set `allowDowngrade`): it scans again and
/// finds git up to date.
#[test]
fn a_replica_with_a_stale_wish_neither_reverts_nor_refuses_the_newer_commit() {
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let host = registry.host();
    let policies = root.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("shop.yaml"),
        format!(
            "application: shop\nimages:\n  - name: web\n    repository: {host}/team/web\n    semver: '>=1.0.0'\n    targets: [{{manifest: web.yaml}}]\n  - name: api\n    repository: {host}/team/api\n    semver: '>=1.0.0'\n    allowDowngrade: true\n    targets: [{{manifest: api.yaml}}]\n"
        ),
    )
    .unwrap();
    let file = |img: &str, tag: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {img}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {img}\n          image: {host}/team/{img}:{tag}\n"
        )
    };
    for img in ["web", "api"] {
        rt.block_on(registry.push_image(&format!("team/{img}"), "1.0.0"));
    }
    let repo = BareRepo::create_at(
        &root.join("fleet.git"),
        &[
            ("web.yaml", &file("web", "1.0.0")),
            ("api.yaml", &file("api", "1.0.0")),
        ],
    );
    let base = repo.head("main").unwrap();
    let ports = [free_port(), free_port()];
    let dirs: Vec<PathBuf> = (0..2).map(|i| root.join(format!("replica{i}"))).collect();
    write_replica(
        &dirs[0],
        ports[0],
        &policies,
        &repo.file_url(),
        false,
        &host,
        "batchWindow: 10s\n",
    );
    write_replica(
        &dirs[1],
        ports[1],
        &policies,
        &repo.file_url(),
        false,
        &host,
        "",
    );
    let mut a = Service::start_with(&dirs[0], ports[0], &["--log-format", "json"]);
    let mut b = Service::start_with(&dirs[1], ports[1], &["--log-format", "json"]);
    let images = |svc: &Service| -> Vec<serde_json::Value> {
        svc.get("/api/v1/status")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|v| v["images"].as_array().cloned())
            .unwrap_or_default()
    };
    let send = |port: u16, tag: &str| {
        rt.block_on(async {
            let client = reqwest::Client::new();
            for img in ["web", "api"] {
                let repo = format!("team/{img}");
                registry.push_image(&repo, tag).await;
                assert_eq!(
                    deliver(&client, port, push_event(&host, &repo, tag)).await,
                    202
                );
            }
        })
    };
    // A scans 1.0.5 and waits out its batch window.
    send(ports[0], "1.0.5");
    wait_for("A to choose 1.0.5", Duration::from_secs(20), || {
        let imgs = images(&a);
        (imgs.len() == 2 && imgs.iter().all(|i| i["chosen"] == "1.0.5")).then_some(())
    });
    // B gets 1.0.6 and commits it while A still waits.
    send(ports[1], "1.0.6");
    let deadline = Instant::now() + Duration::from_secs(20);
    while repo.read("main", "web.yaml") != Some(file("web", "1.0.6"))
        || repo.read("main", "api.yaml") != Some(file("api", "1.0.6"))
    {
        assert!(
            Instant::now() < deadline,
            "no commit of 1.0.6 by B: {:?}\n{}",
            repo.log_subjects("main"),
            b.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A wakes on a wish older than git: it scans again and settles up to date at 1.0.6.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let imgs = images(&a);
        let ok = imgs.len() == 2
            && imgs
                .iter()
                .all(|i| i["state"] == "up_to_date" && i["current"] == "1.0.6");
        if ok {
            break;
        }
        let shown: Vec<String> = imgs
            .iter()
            .map(|i| format!("{}: {} {}", i["image"], i["state"], i["whyNotUpdated"]))
            .collect();
        assert!(
            Instant::now() < deadline,
            "A did not settle up to date at 1.0.6: {shown:?}; git: {:?}",
            repo.log_subjects("main")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        a.log().contains("git holds a newer tag than this wish"),
        "A never held a stale wish, so this run did not test the race:\n{}",
        a.log()
    );
    let stale = metric(
        &a.get("/metrics").unwrap().1,
        "imagebump_stale_wishes_total",
    );
    assert!(stale >= 1.0, "imagebump_stale_wishes_total {stale}");
    // The same release to both: B commits it, A (after its window) finds it made and
    // commits nothing — one commit per image and tag, never two.
    rt.block_on(async {
        let client = reqwest::Client::new();
        for img in ["web", "api"] {
            let r = format!("team/{img}");
            registry.push_image(&r, "1.0.7").await;
            for port in ports {
                assert_eq!(
                    deliver(&client, port, push_event(&host, &r, "1.0.7")).await,
                    202
                );
            }
        }
    });
    wait_for("A up to date at 1.0.7", Duration::from_secs(30), || {
        let imgs = images(&a);
        (imgs.len() == 2
            && imgs
                .iter()
                .all(|i| i["state"] == "up_to_date" && i["current"] == "1.0.7"))
        .then_some(())
    });
    for svc in [&mut a, &mut b] {
        assert!(svc.stop().success());
    }
    let subjects = repo.log_subjects("main");
    for img in ["web", "api"] {
        assert_eq!(
            repo.read("main", &format!("{img}.yaml")).unwrap(),
            file(img, "1.0.7")
        );
        // Counted from the patches (one commit may carry both images).
        let bumps = history(&repo, &base)
            .iter()
            .filter(|c| {
                commit_changes(&repo, c)
                    .0
                    .iter()
                    .any(|l| l.ends_with(&format!("team/{img}:1.0.7")))
            })
            .count();
        assert_eq!(bumps, 1, "{img}: {subjects:?}");
    }
    assert!(
        !subjects.iter().any(|s| s.contains("1.0.6 → 1.0.5")),
        "A reverted B's commit: {subjects:?}"
    );
    assert!(
        pushed_commits(&a.log()).is_empty(),
        "A had nothing to commit"
    );
}
