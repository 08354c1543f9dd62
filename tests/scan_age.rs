//! `minAge` and `newestBuild` from the user's side: the real binary (`imagebump once`),
//! a real CNCF Distribution registry holding images whose creation time the test sets
//! (image config `created`, the `org.opencontainers.image.created` annotation on a
//! manifest or an index), and a real bare git repository over file://.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use support::gitserver::BareRepo;
use support::registry::{Built, TestRegistry, TestRegistryOptions};

/// RFC 3339 for `ago` before now.
fn ago(ago: Duration) -> String {
    humantime::format_rfc3339(SystemTime::now() - ago).to_string()
}

const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn config(created: &str) -> Built<'_> {
    Built {
        config_created: Some(created),
        annotation: None,
    }
}

fn annotated(created: &str) -> Built<'_> {
    Built {
        config_created: None,
        annotation: Some(created),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: {image}   # kept\n"
    )
}

fn once(dir: &Path) -> support::cli::Run {
    let config = dir.join("imagebump.yaml");
    support::cli::run(
        dir,
        &["once", "--config", &config.to_string_lossy()],
        &[("IMAGEBUMP_LOG", "warn")],
    )
}

#[test]
fn min_age_and_newest_build_choose_by_creation_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let reg = TestRegistry::start(TestRegistryOptions::default());
    let h = reg.host();
    rt().block_on(async {
        // team/app (semver, minAge 30m): 1.3.0 is too young, 1.2.0 (dated by its
        // manifest annotation) is the best old enough one.
        reg.push_image_built("team/app", "1.1.0", config(&ago(3 * HOUR)))
            .await;
        reg.push_image_built("team/app", "1.2.0", annotated(&ago(2 * HOUR)))
            .await;
        reg.push_image_built("team/app", "1.3.0", config(&ago(MIN)))
            .await;
        // team/young (semver, minAge 30m): its only tag is too young.
        reg.push_image_built("team/young", "1.0.0", config(&ago(5 * MIN)))
            .await;
        // team/build (alphabetical, newestBuild): main-aaa is built last, though it is
        // first in tag order, and lower than what git has (main-bbb).
        reg.push_index_built(
            "team/build",
            "main-aaa",
            &["linux/amd64", "linux/arm64"],
            annotated(&ago(HOUR)),
        )
        .await;
        reg.push_index_built(
            "team/build",
            "main-bbb",
            &["linux/amd64"],
            config(&ago(3 * HOUR)),
        )
        .await;
        reg.push_image_built("team/build", "main-ccc", config(&ago(2 * HOUR)))
            .await;
        // team/both (alphabetical, newestBuild + minAge 30m): main-aaa is newest but too
        // young; main-ccc is the newest old enough, main-bbb older still.
        reg.push_image_built("team/both", "main-aaa", config(&ago(MIN)))
            .await;
        reg.push_image_built("team/both", "main-bbb", config(&ago(3 * HOUR)))
            .await;
        reg.push_index_built(
            "team/both",
            "main-ccc",
            &["linux/amd64"],
            config(&ago(2 * HOUR)),
        )
        .await;
    });
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        format!(
            r#"application: shop
images:
  - repository: {h}/team/app
    semver: "*"
    minAge: 30m
    targets: [{{manifest: app.yaml}}]
  - repository: {h}/team/young
    semver: "*"
    minAge: 30m
    targets: [{{manifest: young.yaml}}]
  - repository: {h}/team/build
    alphabetical: asc
    newestBuild: true
    targets: [{{manifest: build.yaml}}]
  - repository: {h}/team/both
    alphabetical: asc
    newestBuild: true
    minAge: 30m
    targets: [{{manifest: both.yaml}}]
"#
        ),
    )
    .unwrap();
    support::fleet::write_config(dir, &h);
    let files = [
        ("app.yaml", deployment(&format!("{h}/team/app:1.1.0"))),
        ("young.yaml", deployment(&format!("{h}/team/young:0.9.0"))),
        (
            "build.yaml",
            deployment(&format!("{h}/team/build:main-bbb")),
        ),
        ("both.yaml", deployment(&format!("{h}/team/both:main-bbb"))),
    ];
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    let repo = BareRepo::create_at(&dir.join("fleet.git"), &refs);

    let r = once(dir);
    // A tag that is too young is a wait, not a failure.
    assert_eq!(r.code, 0, "{r:?}");
    let read = |p: &str| repo.read("main", p).unwrap();
    assert_eq!(read("app.yaml"), deployment(&format!("{h}/team/app:1.2.0")));
    assert_eq!(read("young.yaml"), files[1].1, "too young: untouched");
    assert_eq!(
        read("build.yaml"),
        deployment(&format!("{h}/team/build:main-aaa"))
    );
    assert_eq!(
        read("both.yaml"),
        deployment(&format!("{h}/team/both:main-ccc"))
    );
    let young = r
        .stdout
        .lines()
        .find(|l| l.starts_with("shop/young: "))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(
        young.starts_with("shop/young: not updated: 1.0.0 is 5m")
            && young.ends_with(" old; minAge 30m: waiting"),
        "{young}"
    );

    // Again: app is at 1.2.0, the best tag old enough, and says it waits for 1.3.0
    // rather than "up to date"; nothing to commit.
    let head = repo.head("main");
    let r = once(dir);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(repo.head("main"), head);
    let app = r
        .stdout
        .lines()
        .find(|l| l.starts_with("shop/app: "))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(
        app.starts_with("shop/app: not updated: 1.3.0 is 1m")
            && app.ends_with(" old; minAge 30m: waiting"),
        "{app}"
    );
    // both: main-ccc is the newest build old enough; main-aaa, built later, waits.
    assert!(
        r.stdout.contains("shop/both: not updated: main-aaa is 1m"),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("shop/build: main-aaa (up to date)"),
        "{r:?}"
    );

    // `imagebump test --policy` honours both keys, asking the registry like a scan.
    let one = |repo: &str, keys: &str| {
        std::fs::write(
            dir.join("one.yaml"),
            format!("application: t\nimages:\n  - repository: {h}/{repo}\n{keys}    targets: [{{manifest: a.yaml}}]\n"),
        )
        .unwrap();
    };
    let test = |extra: &[&str]| {
        let mut args = vec!["test", "--policy", "one.yaml", "--config", "imagebump.yaml"];
        args.extend_from_slice(extra);
        support::cli::run(dir, &args, &[("IMAGEBUMP_LOG", "warn")])
    };
    one("team/app", "    semver: '*'\n    minAge: 30m\n");
    let r = test(&[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "1.2.0\n"), "{r:?}");
    one(
        "team/both",
        "    alphabetical: asc\n    newestBuild: true\n",
    );
    let r = test(&[]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "main-aaa\n"), "{r:?}");
    one("team/young", "    semver: '*'\n    minAge: 30m\n");
    let r = test(&[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("minAge 30m: waiting"), "{r:?}");
    // Tags given on the command line carry no build time: an error, not a guess.
    let r = support::cli::run(
        dir,
        &["test", "--policy", "one.yaml", "1.0.0"],
        &[("IMAGEBUMP_LOG", "warn")],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("minAge/newestBuild"), "{r:?}");
}

#[test]
fn an_image_without_a_creation_time_is_an_error_not_a_skip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let reg = TestRegistry::start(TestRegistryOptions::default());
    let h = reg.host();
    rt().block_on(async {
        reg.push_image_built("team/app", "1.0.0", config(&ago(3 * HOUR)))
            .await;
        // The best candidate states no creation time at all.
        reg.push_image("team/app", "1.1.0").await;
    });
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        format!(
            "application: shop\nimages:\n  - repository: {h}/team/app\n    semver: '*'\n    minAge: 1h\n    targets: [{{manifest: app.yaml}}]\n"
        ),
    )
    .unwrap();
    support::fleet::write_config(dir, &h);
    let before = deployment(&format!("{h}/team/app:0.9.0"));
    let repo = BareRepo::create_at(&dir.join("fleet.git"), &[("app.yaml", &before)]);
    let r = once(dir);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("cannot tell the age of 1.1.0"), "{r:?}");
    assert_eq!(repo.read("main", "app.yaml").unwrap(), before);
}
