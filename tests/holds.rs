//! Holds that live in git, from the user's side: the real binary, a real CNCF
//! Distribution registry and a real bare git repository (file://). A marker is
//! respected by `once`, released by a person's commit, then put back by `imagebump hold`
//! and taken off by `imagebump release` (whose commit carries `Imagebump-Release`).

mod support;

use std::path::Path;

use support::cli::Run;
use support::gitserver::{git, BareRepo, CliClone};
use support::registry::{TestRegistry, TestRegistryOptions};

fn imagebump(cwd: &Path, args: &[&str]) -> Run {
    support::cli::run(cwd, args, &[("IMAGEBUMP_LOG", "warn")])
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn tip_message(repo: &BareRepo) -> String {
    git(Some(repo.path()), &["log", "-1", "--format=%B", "main"])
}

fn web_line(r: &Run) -> String {
    r.stdout
        .lines()
        .find(|l| l.starts_with("shop/web: "))
        .unwrap_or_else(|| panic!("no line for shop/web: {r:?}"))
        .to_string()
}

#[test]
fn a_hold_marker_is_respected_then_released_by_a_commit_and_by_imagebump_release() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let h = registry.host();
    rt().block_on(async {
        registry.push_image("team/web", "1.1.0").await;
        registry.push_image("team/web", "1.2.0").await;
    });
    let plain = format!("kind: Pod\nspec:\n  containers:\n    - image: {h}/team/web:1.1.0\n");
    let held = plain.replace(
        "1.1.0\n",
        "1.1.0 # imagebump: hold until 2999-12-31 rollback of 1.2.0\n",
    );
    let repo = support::fleet::web_fleet(dir, &registry.host(), &held);
    let config = dir.join("imagebump.yaml");
    let cfg = config.to_str().unwrap();

    // The marker holds: nothing is written, and the status line says where and why.
    let r = imagebump(dir, &["once", "--config", cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        web_line(&r).contains(
            "held by `# imagebump: hold` at app.yaml:4 until 2999-12-31: rollback of 1.2.0"
        ),
        "{r:?}"
    );
    assert_eq!(repo.read("main", "app.yaml").unwrap(), held);
    assert_eq!(repo.commit_count("main"), 1);

    // A person removes it with a normal commit: the next sync updates.
    let person = CliClone::new(&repo.file_url());
    person.commit_and_push(&[("app.yaml", &plain)], "release the hold on web");
    let r = imagebump(dir, &["once", "--config", cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        repo.read("main", "app.yaml").unwrap(),
        plain.replace("1.1.0", "1.2.0")
    );

    // `imagebump hold` puts it back, in one commit of its own.
    let before = repo.commit_count("main");
    let r = imagebump(
        dir,
        &[
            "hold",
            "shop/web",
            "--until",
            "2999-12-31",
            "--reason",
            "incident 42",
            "--config",
            cfg,
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let marked = plain.replace(
        "1.1.0\n",
        "1.2.0  # imagebump: hold until 2999-12-31 incident 42\n",
    );
    assert_eq!(repo.read("main", "app.yaml").unwrap(), marked);
    assert_eq!(repo.commit_count("main"), before + 1);
    let msg = tip_message(&repo);
    assert!(msg.starts_with("hold shop/web: incident 42\n"), "{msg}");
    assert!(msg.contains("Imagebump-Version: "), "{msg}");
    assert_eq!(repo.tip_author("main"), "imagebump <bot@example.com>");

    // A new tag does not move a held image.
    rt().block_on(registry.push_image("team/web", "1.3.0"));
    let r = imagebump(dir, &["once", "--config", cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        web_line(&r).contains("held by `# imagebump: hold` at app.yaml:4"),
        "{r:?}"
    );
    assert_eq!(repo.read("main", "app.yaml").unwrap(), marked);

    // `imagebump release` takes it off, byte for byte, with the release trailer.
    let r = imagebump(dir, &["release", "shop/web", "--config", cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        repo.read("main", "app.yaml").unwrap(),
        plain.replace("1.1.0", "1.2.0")
    );
    let msg = tip_message(&repo);
    assert!(msg.starts_with("release shop/web\n"), "{msg}");
    assert!(msg.contains("\nImagebump-Release: shop/web\n"), "{msg}");
    let r = imagebump(dir, &["once", "--config", cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        repo.read("main", "app.yaml").unwrap(),
        plain.replace("1.1.0", "1.3.0")
    );

    // A release with no marker left still commits: its trailer is the release (it also
    // ends a manual-change hold), and it is never forced.
    let before = repo.commit_count("main");
    let r = imagebump(dir, &["release", "shop", "--config", cfg]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(repo.commit_count("main"), before + 1);
    assert!(tip_message(&repo).contains("\nImagebump-Release: shop/web\n"));
    assert!(repo.tip_changed_files("main").is_empty());
}

#[test]
fn hold_rejects_an_unknown_image_and_a_bad_date() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let h = registry.host();
    let app = format!("kind: Pod\nspec:\n  containers:\n    - image: {h}/team/web:1.1.0\n");
    let repo = support::fleet::web_fleet(dir, &registry.host(), &app);
    let cfg = dir.join("imagebump.yaml");
    let cfg = cfg.to_str().unwrap();
    let r = imagebump(dir, &["hold", "shop/nope", "--config", cfg]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("no image \"shop/nope\"") && r.stderr.contains("shop/web"),
        "{r:?}"
    );
    let r = imagebump(
        dir,
        &["hold", "shop", "--until", "2026-02-30", "--config", cfg],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("YYYY-MM-DD"), "{r:?}");
    assert_eq!(repo.commit_count("main"), 1);
    assert_eq!(repo.read("main", "app.yaml").unwrap(), app);
}
