//! One container, not every reference: `container:` narrows a manifest target, a policy
//! never rewrites a reference whose current tag another policy claims, and two policies
//! claiming the same references is a load (`validate`) error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imagebump_core::decision::{ImageId, Wish};
use imagebump_core::plan::{plan, FileSource, Outcome};
use imagebump_core::policy::{check_set, parse_policy, LoadedPolicy, PolicySet, Problem};

const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

struct Mem(BTreeMap<PathBuf, String>);

impl FileSource for Mem {
    fn read(&self, rel: &Path) -> Result<Option<String>, imagebump_core::plan::ReadError> {
        Ok(self.0.get(rel).cloned())
    }
    fn list(&self, rel: &Path) -> Result<Vec<PathBuf>, String> {
        Ok(self
            .0
            .keys()
            .filter(|p| p.starts_with(rel))
            .cloned()
            .collect())
    }
}

/// The Deployment: the app runs nginx 1.2.0, a sidecar follows nginx:latest by
/// digest, and an init container runs yet another tag.
const DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers:
        - name: warmup
          image: nginx:1.1.0
      containers:
        - name: app
          image: nginx:1.2.0
        - name: cache
          image: nginx:latest
";

fn load(text: &str) -> Result<Vec<LoadedPolicy>, Vec<Problem>> {
    let lp = LoadedPolicy {
        path: "shop.yaml".into(),
        policy: parse_policy(Path::new("shop.yaml"), text).map_err(|p| vec![p])?,
    };
    let (loaded, problems) = check_set(vec![lp]);
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(problems)
    }
}

fn images(list: &[(&str, &str, &str)]) -> String {
    let mut s = String::from("application: shop\nimages:\n");
    for (name, strategy, target) in list {
        s.push_str(&format!(
            "  - repository: nginx\n    name: {name}\n    {strategy}\n    targets:\n      - {target}\n"
        ));
    }
    s
}

fn files() -> Mem {
    Mem(BTreeMap::from([(
        PathBuf::from("deploy.yaml"),
        DEPLOY.to_string(),
    )]))
}

fn wish(name: &str, tag: &str, digest: Option<&str>) -> Wish {
    Wish {
        id: ImageId::new("shop", name),
        tag: tag.into(),
        digest: digest.map(str::to_string),
        index_digest: None,
    }
}

#[test]
fn container_narrows_a_manifest_target_to_one_container() {
    let set = PolicySet::new(
        load(&images(&[
            (
                "latest",
                "digest: latest",
                "{manifest: deploy.yaml, container: cache}",
            ),
            (
                "app",
                "semver: '*'",
                "{manifest: deploy.yaml, container: app}",
            ),
            (
                "warmup",
                "semver: '*'",
                "{manifest: deploy.yaml, container: warmup}",
            ),
        ]))
        .unwrap(),
    );
    let p = plan(&set, &[wish("latest", "latest", Some(B))], &files());
    assert_eq!(
        p.files[Path::new("deploy.yaml")].1,
        DEPLOY.replace("nginx:latest", &format!("nginx:latest@{B}"))
    );
    // The init container is a container too.
    let p = plan(&set, &[wish("warmup", "1.1.1", None)], &files());
    assert_eq!(
        p.files[Path::new("deploy.yaml")].1,
        DEPLOY.replace("nginx:1.1.0", "nginx:1.1.1")
    );
}

#[test]
fn a_container_that_is_not_in_the_file_is_an_error() {
    let set = PolicySet::new(
        load(&images(&[(
            "app",
            "semver: '*'",
            "{manifest: deploy.yaml, container: web}",
        )]))
        .unwrap(),
    );
    let p = plan(&set, &[wish("app", "1.3.0", None)], &files());
    match &p.outcomes[&ImageId::new("shop", "app")] {
        Outcome::Failed(e) => assert!(e.contains("container \"web\" not found"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_reference_another_policy_claims_is_left_alone() {
    // No `container:`: the digest policy claims tag latest, the semver one 1.x.
    let set = PolicySet::new(
        load(&images(&[
            ("latest", "digest: latest", "manifest: deploy.yaml"),
            ("app", "semver: '~1.2'", "manifest: deploy.yaml"),
        ]))
        .unwrap(),
    );
    let p = plan(&set, &[wish("latest", "latest", Some(B))], &files());
    assert_eq!(
        p.files[Path::new("deploy.yaml")].1,
        DEPLOY.replace("nginx:latest", &format!("nginx:latest@{B}")),
        "the digest policy rewrote a container another policy claims"
    );
    let p = plan(&set, &[wish("app", "1.2.5", None)], &files());
    // 1.1.0 is claimed by no one: the range policy takes it; latest is the other's.
    assert_eq!(
        p.files[Path::new("deploy.yaml")].1,
        DEPLOY
            .replace("nginx:1.2.0", "nginx:1.2.5")
            .replace("nginx:1.1.0", "nginx:1.2.5")
    );
}

#[test]
fn two_policies_claiming_the_same_references_is_a_load_error() {
    let clash = |list: &[(&str, &str, &str)], needle: &str| {
        let problems = load(&images(list)).unwrap_err();
        let all: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            all.iter()
                .any(|p| p.starts_with("shop.yaml: ") && p.contains(needle)),
            "{all:?}"
        );
    };
    clash(
        &[
            ("a", "semver: '*'", "manifest: deploy.yaml"),
            ("b", "semver: '~1.2'", "manifest: deploy.yaml"),
        ],
        "shop/a and shop/b both claim the references to docker.io/library/nginx at the tags both ranges accept in deploy.yaml",
    );
    clash(
        &[
            (
                "a",
                "digest: latest",
                "{manifest: deploy.yaml, container: cache}",
            ),
            (
                "b",
                "digest: latest",
                "{manifest: deploy.yaml, container: cache}",
            ),
        ],
        "at tag latest",
    );
    clash(
        &[
            (
                "a",
                "semver: '*'\n    pinned: 1.2.0",
                "manifest: deploy.yaml",
            ),
            ("b", "semver: '>=1'", "kustomize: deploy.yaml"),
        ],
        "at tag 1.2.0",
    );
    // Distinct containers, an exact tag no range accepts, or disjoint exact tags are fine.
    load(&images(&[
        (
            "a",
            "semver: '*'",
            "{manifest: deploy.yaml, container: app}",
        ),
        (
            "b",
            "semver: '*'",
            "{manifest: deploy.yaml, container: warmup}",
        ),
        ("c", "digest: latest", "manifest: deploy.yaml"),
    ]))
    .unwrap();
    load(&images(&[
        (
            "a",
            "semver: '*'",
            "{manifest: deploy.yaml, container: app}",
        ),
        (
            "b",
            "semver: '*'",
            "{manifest: deploy.yaml, container: warmup}",
        ),
        (
            "c",
            "digest: latest",
            "{manifest: deploy.yaml, container: cache}",
        ),
    ]))
    .unwrap();
    load(&images(&[
        ("a", "digest: latest", "manifest: deploy.yaml"),
        ("b", "digest: stable", "manifest: deploy.yaml"),
    ]))
    .unwrap();
}

#[test]
fn container_is_for_manifest_targets_only() {
    let e = load(&images(&[(
        "a",
        "semver: '*'",
        "{kustomize: k.yaml, container: app}",
    )]))
    .unwrap_err();
    assert!(
        e[0].to_string()
            .contains("container: applies to manifest targets only"),
        "{e:?}"
    );
}
