//! `platforms:` filters: a tag whose index lacks a required platform is skipped for the
//! best tag that has them, in scans and in `imagebump test --policy`, which honours
//! every policy key. Against a real Distribution registry with multi-arch indexes.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use imagebump::engine::Engine;
use imagebump::metrics::Metrics;
use imagebump_core::decision::{Decision, ImageId};
use imagebump_core::policy::{parse_policy, LoadedPolicy, PolicySet};
use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions};
use support::registry::{TestRegistry, TestRegistryOptions};

const BOTH: &[&str] = &["linux/amd64", "linux/arm64"];

/// 1.0.0 and 1.1.0 have both platforms, 1.2.0 only amd64.
async fn registry() -> TestRegistry {
    let reg = TestRegistry::start(TestRegistryOptions::default());
    reg.push_index("team/multi", "1.0.0", BOTH).await;
    reg.push_index("team/multi", "1.1.0", BOTH).await;
    reg.push_index("team/multi", "1.2.0", &["linux/amd64"])
        .await;
    reg
}

fn policy_text(reg: &TestRegistry) -> String {
    format!(
        "application: shop\nimages:\n  - repository: {}/team/multi\n    semver: '*'\n    platforms: [linux/amd64, linux/arm64]\n    targets:\n      - manifest: a.yaml\n",
        reg.host()
    )
}

#[tokio::test]
async fn a_scan_skips_tags_without_the_platforms() {
    let reg = registry().await;
    let policy = parse_policy("p.yaml".as_ref(), &policy_text(&reg)).unwrap();
    let mut r = RegistryOptions::new(reg.host());
    r.insecure = true;
    let client = RegistryClient::new(ClientOptions {
        registries: vec![r],
        ..Default::default()
    })
    .unwrap();
    let engine = Engine::new(
        PolicySet::new(vec![LoadedPolicy {
            path: "p.yaml".into(),
            policy,
        }]),
        client,
        Arc::new(Metrics::new()),
        Duration::from_secs(3600),
    );
    let repo = format!("{}/team/multi", reg.host());
    let wishes = engine.scan(&repo, false, None, &[]).await;
    assert_eq!(wishes.len(), 1);
    assert_eq!(wishes[0].wish.tag, "1.1.0");
    let id = ImageId::new("shop", "multi");
    assert_eq!(
        engine.status.decision(&id),
        Some(Decision::Pending {
            chosen: "1.1.0".into()
        })
    );
}

fn imagebump(dir: &Path, args: &[&str]) -> support::cli::Run {
    support::cli::run(dir, args, &[("IMAGEBUMP_LOG", "warn")])
}

#[tokio::test]
async fn test_with_a_policy_honours_every_key() {
    let reg = registry().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("p.yaml"), policy_text(&reg)).unwrap();
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "registries:\n  - host: {}\n    insecure: true\n",
            reg.host()
        ),
    )
    .unwrap();
    // platforms: asked of the registry, newest first.
    let r = tokio::task::spawn_blocking({
        let dir = dir.to_path_buf();
        move || {
            imagebump(
                &dir,
                &["test", "--policy", "p.yaml", "--config", "imagebump.yaml"],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!((r.code, r.stdout.as_str()), (0, "1.1.0\n"), "{r:?}");
    // Tags given on the command line cannot say which platforms they have: an error,
    // not a tag chosen as if `platforms:` were not there.
    let r = imagebump(dir, &["test", "--policy", "p.yaml", "1.2.0", "1.1.0"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("platforms"), "{r:?}");
    assert_eq!(r.stdout, "");

    // exclude and allowDowngrade from the policy, plus --exclude / --allow-downgrade.
    std::fs::write(
        dir.join("q.yaml"),
        "application: shop\nimages:\n  - repository: example.com/team/app\n    semver: '*'\n    exclude: ['^3']\n    targets:\n      - manifest: a.yaml\n",
    )
    .unwrap();
    let q = |extra: &[&str]| {
        let mut args = vec!["test", "--policy", "q.yaml"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["1.0.0", "2.0.0", "3.0.0"]);
        imagebump(dir, &args)
    };
    let r = q(&[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "2.0.0\n"), "{r:?}");
    let r = q(&["--exclude", "^2"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "1.0.0\n"), "{r:?}");
    let r = q(&["--exclude", "^2", "--current", "1.5.0"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "1.5.0\n"), "{r:?}");
    assert!(r.stderr.contains("--allow-downgrade"), "{r:?}");
    let r = q(&["--exclude", "^2", "--current", "1.5.0", "--allow-downgrade"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "1.0.0\n"), "{r:?}");
    assert!(!r.stderr.contains("--allow-downgrade"), "{r:?}");
}
