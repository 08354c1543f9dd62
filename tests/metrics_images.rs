//! The per-image series of `/metrics`, end to end with real parts: the `imagebump run`
//! binary, a Distribution registry and a bare git repository over file://. After the
//! start-up sync commits one image and finds the other held, the series say so; when an
//! image leaves the policies, its series go with it.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::gitserver::{git, BareRepo};
use support::registry::{free_port, TestRegistry, TestRegistryOptions};
use support::service::Service;

fn pod(image: &str, comment: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: x\n      image: {image}{comment}\n"
    )
}

fn policy(host: &str, images: &[&str]) -> String {
    let mut s = String::from("application: shop\nimages:\n");
    for name in images {
        s.push_str(&format!(
            "  - name: {name}\n    repository: {host}/team/{name}\n    semver: '*'\n    targets:\n      - manifest: {name}.yaml\n"
        ));
    }
    s
}

/// The value of `name{application="shop",image=IMAGE,repository=HOST/team/IMAGE}`, if
/// that series is exposed.
fn sample(text: &str, name: &str, host: &str, image: &str) -> Option<f64> {
    let prefix = format!(
        "{name}{{application=\"shop\",image=\"{image}\",repository=\"{host}/team/{image}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().expect("a number"))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn per_image_series_after_a_commit_and_gone_when_the_image_leaves_the_policies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = TestRegistry::start(TestRegistryOptions::default());
    let host = registry.host();
    rt.block_on(async {
        for (repo, tag) in [
            ("team/web", "1.0.0"),
            ("team/web", "1.1.0"),
            ("team/api", "1.0.0"),
            ("team/api", "2.0.0"),
        ] {
            registry.push_image(repo, tag).await;
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = BareRepo::create_at(
        &dir.join("fleet.git"),
        &[
            ("web.yaml", &pod(&format!("{host}/team/web:1.0.0"), "")),
            (
                "api.yaml",
                &pod(
                    &format!("{host}/team/api:1.0.0"),
                    "  # imagebump: hold rollback of 2.0.0",
                ),
            ),
        ],
    );
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/shop.yaml"),
        policy(&host, &["web", "api"]),
    )
    .unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("imagebump.yaml"),
        format!(
            "listen: 127.0.0.1:{port}\nstateDir: {d}/state\npolicies: {d}/policies\ngit:\n  url: file://{d}/fleet.git\n  branch: main\n  author: {{name: imagebump, email: bot@example.com}}\nregistries:\n  - host: {host}\n    insecure: true\npoll: {{interval: 1h}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let started = now().floor();
    let svc = Service::start(dir, port);

    // The start-up sync commits web 1.1.0; the series then say up to date, with the
    // commit's time.
    let text = svc.wait_for(
        "web's commit in the metrics",
        Duration::from_secs(30),
        || {
            let m = svc.metrics();
            sample(
                &m,
                "imagebump_image_last_commit_timestamp_seconds",
                &host,
                "web",
            )
            .map(|_| m)
        },
    );
    assert!(
        repo.read("main", "web.yaml").unwrap().contains(":1.1.0"),
        "the commit is in git"
    );
    let up = |img| sample(&text, "imagebump_image_up_to_date", &host, img);
    let held = |img| sample(&text, "imagebump_image_held", &host, img);
    let scan = |img| {
        sample(
            &text,
            "imagebump_image_last_successful_scan_timestamp_seconds",
            &host,
            img,
        )
    };
    let commit = |img| {
        sample(
            &text,
            "imagebump_image_last_commit_timestamp_seconds",
            &host,
            img,
        )
    };
    assert_eq!((up("web"), held("web")), (Some(1.0), Some(0.0)), "{text}");
    let (committed, scanned) = (commit("web").unwrap(), scan("web").unwrap());
    assert!(
        (started..=now()).contains(&committed) && (started..=now()).contains(&scanned),
        "timestamps {committed}, {scanned} not in [{started}, now]:\n{text}"
    );
    // api is held by its marker: not up to date, held, scanned, never committed.
    assert_eq!((up("api"), held("api")), (Some(0.0), Some(1.0)), "{text}");
    assert!(scan("api").is_some(), "{text}");
    assert_eq!(commit("api"), None, "{text}");
    assert!(repo.read("main", "api.yaml").unwrap().contains(":1.0.0"));

    // The build that runs is named.
    let version = env!("CARGO_PKG_VERSION");
    let info = text
        .lines()
        .find(|l| l.starts_with("imagebump_build_info{"))
        .unwrap_or_else(|| panic!("no imagebump_build_info in:\n{text}"));
    assert!(
        info.starts_with(&format!(
            "imagebump_build_info{{version=\"{version}\",commit=\""
        )),
        "{info}"
    );
    let head = git(
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))),
        &["rev-parse", "--short", "HEAD"],
    );
    assert!(
        info.contains(&format!("commit=\"{}\"", head.trim())),
        "{info}"
    );
    assert!(info.ends_with("} 1"), "{info}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");

    // api leaves the policies (the local directory is followed): its series disappear,
    // web's stay.
    std::fs::write(dir.join("policies/shop.yaml"), policy(&host, &["web"])).unwrap();
    let text = svc.wait_for("api's series to go", Duration::from_secs(30), || {
        let m = svc.metrics();
        (!m.contains("image=\"api\"")).then_some(m)
    });
    assert_eq!(
        sample(&text, "imagebump_image_up_to_date", &host, "web"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "imagebump_image_last_commit_timestamp_seconds",
            &host,
            "web"
        )
        .is_some(),
        "web keeps its commit time across the reload:\n{text}"
    );
}
