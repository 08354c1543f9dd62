//! Digest pins, claims and parse budgets from the user's side: the real binary, a real
//! CNCF Distribution registry and a real bare git repository (file://).

mod support;

use std::path::Path;

use support::cli::Run;
use support::gitserver::BareRepo;
use support::registry::{TestRegistry, TestRegistryOptions};

const D0: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn imagebump(cwd: &Path, args: &[&str]) -> Run {
    support::cli::run(cwd, args, &[("IMAGEBUMP_LOG", "warn")])
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn once_keeps_a_pinned_reference_pinned_to_the_new_tags_index_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let h = registry.host();
    // 1.3.0 is a multi-arch index: the pin must be the index digest, not a platform's.
    let index = rt().block_on(async {
        registry.push_image("team/web", "1.2.0").await;
        registry
            .push_index("team/web", "1.3.0", &["linux/amd64", "linux/arm64"])
            .await
            .0
    });
    let app = format!(
        "kind: Pod\nspec:\n  containers:\n    - name: pinned\n      image: {h}/team/web:1.2.0@{D0}\n    - name: plain\n      image: {h}/team/web:1.2.0\n"
    );
    let repo = support::fleet::web_fleet(dir, &h, &app);
    let config = dir.join("imagebump.yaml");
    let r = imagebump(dir, &["once", "--config", config.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        repo.read("main", "app.yaml").unwrap(),
        app.replace(&format!("1.2.0@{D0}"), &format!("1.3.0@{index}"))
            .replace("web:1.2.0\n", "web:1.3.0\n")
    );
}

#[test]
fn plan_resolves_the_digest_a_pinned_reference_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let h = registry.host();
    let index = rt().block_on(async {
        registry.push_image("team/web", "1.2.0").await;
        registry
            .push_index("team/web", "1.3.0", &["linux/amd64", "linux/arm64"])
            .await
            .0
    });
    let app = format!("kind: Pod\nspec:\n  containers:\n    - image: {h}/team/web:1.2.0@{D0}\n");
    let repo = support::fleet::web_fleet(dir, &registry.host(), &app);
    let config = dir.join("imagebump.yaml");
    let r = imagebump(dir, &["plan", "--config", config.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("+    - image: {h}/team/web:1.3.0@{index}\n")),
        "{r:?}"
    );
    assert_eq!(repo.read("main", "app.yaml").unwrap(), app);
}

#[test]
fn once_refuses_a_pinned_reference_whose_new_digest_cannot_be_resolved() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let h = registry.host();
    // 1.3.0 is listed, but its manifest is gone: its digest cannot be resolved.
    rt().block_on(registry.push_image("team/web", "1.2.0"));
    let gone = format!("sha256:{}", "e".repeat(64));
    registry.write_tag_links("team/web", &gone, &["1.3.0".to_string()]);
    let app = format!("kind: Pod\nspec:\n  containers:\n    - image: {h}/team/web:1.2.0@{D0}\n");
    let repo = support::fleet::web_fleet(dir, &registry.host(), &app);
    let config = dir.join("imagebump.yaml");
    let r = imagebump(dir, &["once", "--config", config.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("shop/web: "))
        .unwrap_or_else(|| panic!("no line for shop/web: {r:?}"));
    assert!(line.contains("app.yaml:4"), "{line}");
    assert!(line.contains("pinned by digest"), "{line}");
    assert!(line.contains("the registry said"), "{line}");
    assert_eq!(
        repo.read("main", "app.yaml").unwrap(),
        app,
        "never unpinned"
    );
}

#[test]
fn validate_refuses_two_policies_claiming_the_same_references() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        "application: shop\nimages:\n  - repository: nginx\n    name: web\n    semver: '*'\n    targets:\n      - manifest: app.yaml\n  - repository: nginx\n    name: latest\n    digest: latest\n    targets:\n      - {manifest: app.yaml, container: cache}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("policies/other.yaml"),
        "application: other\nimages:\n  - repository: docker.io/library/nginx\n    semver: '~1.2'\n    targets:\n      - kustomize: app.yaml\n",
    )
    .unwrap();
    let r = imagebump(dir, &["validate", "policies"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stdout.contains("policies/shop.yaml: other/nginx and shop/web both claim the references to docker.io/library/nginx at the tags both ranges accept in app.yaml; give each manifest target a distinct `container:`"),
        "{r:?}"
    );
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
}

#[test]
fn set_image_names_the_file_over_budget_and_writes_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for _ in 0..10_001 {
        bomb.push_str("- *a\n");
    }
    let bomb = bomb.replacen("- *a\n", "list:\n- *a\n", 1);
    std::fs::create_dir_all(dir.join("apps")).unwrap();
    std::fs::write(dir.join("apps/a.yaml"), &bomb).unwrap();
    std::fs::write(dir.join("apps/b.yaml"), "image: nginx:1.2\n").unwrap();
    let r = imagebump(dir, &["set-image", "nginx:1.3", "apps"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("imagebump: apps/a.yaml:10003: refusing to read: more than 10000 aliases"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("apps/b.yaml:1 nginx:1.2 → nginx:1.3"),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("apps/b.yaml")).unwrap(),
        "image: nginx:1.3\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("apps/a.yaml")).unwrap(),
        bomb
    );
}

/// The scan costs one tag listing per image; only a reference pinned by digest costs a
/// manifest request (its new tag's index digest, resolved when the plan finds the pin).
#[test]
fn once_asks_for_a_digest_only_for_the_pinned_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default().with_access_log());
    let h = registry.host();
    let plain = ["team/a", "team/b", "team/c"];
    let index = rt().block_on(async {
        for repo in plain.iter().chain(&["team/pinned"]) {
            registry.push_image(repo, "1.0.0").await;
            registry.push_image(repo, "1.1.0").await;
        }
        registry
            .push_index("team/pinned", "1.2.0", &["linux/amd64", "linux/arm64"])
            .await
            .0
    });
    let mut policy = String::from("application: shop\nimages:\n");
    let mut app = String::from("kind: Pod\nspec:\n  containers:\n");
    for repo in plain {
        policy.push_str(&format!(
            "  - repository: {h}/{repo}\n    semver: '*'\n    targets:\n      - manifest: app.yaml\n"
        ));
        app.push_str(&format!("    - image: {h}/{repo}:1.0.0\n"));
    }
    policy.push_str(&format!(
        "  - repository: {h}/team/pinned\n    semver: '*'\n    targets:\n      - manifest: app.yaml\n"
    ));
    app.push_str(&format!("    - image: {h}/team/pinned:1.0.0@{D0}\n"));
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("policies/shop.yaml"), policy).unwrap();
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "stateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {h}\n    insecure: true\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let repo = BareRepo::create_at(&dir.join("fleet.git"), &[("app.yaml", &app)]);
    let before: Vec<usize> = plain
        .iter()
        .chain(&["team/pinned"])
        .map(|r| registry.count_manifest_requests(r))
        .collect();
    let config = dir.join("imagebump.yaml");
    let r = imagebump(dir, &["once", "--config", config.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let mut want = app.clone();
    for repo in plain {
        want = want.replace(&format!("{repo}:1.0.0"), &format!("{repo}:1.1.0"));
    }
    let want = want.replace(
        &format!("team/pinned:1.0.0@{D0}"),
        &format!("team/pinned:1.2.0@{index}"),
    );
    assert_eq!(repo.read("main", "app.yaml").unwrap(), want);
    for (i, repo) in plain.iter().enumerate() {
        assert_eq!(registry.count_tag_list_requests(repo), 1, "{repo}");
        assert_eq!(
            registry.count_manifest_requests(repo) - before[i],
            0,
            "{repo}: an unpinned reference needs no digest"
        );
    }
    assert_eq!(registry.count_tag_list_requests("team/pinned"), 1);
    assert_eq!(
        registry.count_manifest_requests("team/pinned") - before[3],
        1,
        "the pinned reference costs one manifest request"
    );
}
