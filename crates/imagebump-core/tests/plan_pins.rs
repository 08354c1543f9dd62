//! Digest pins survive a bump: a reference pinned `tag@sha256:…` stays pinned, with the
//! index digest of the new tag; `pinDigest: true` pins the ones that are not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imagebump_core::decision::{ImageId, Wish};
use imagebump_core::plan::{plan, FileSource, Outcome};
use imagebump_core::policy::{parse_policy, LoadedPolicy, PolicySet};

const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
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

fn policies(extra: &str) -> PolicySet {
    let text = format!(
        "application: shop\nimages:\n  - repository: nginx\n    semver: '*'\n{extra}    targets:\n      - manifest: pod.yaml\n      - helm: {{file: values.yaml, repository: image.repository, tag: image.tag, digest: image.digest}}\n      - kustomize: kustomization.yaml\n"
    );
    PolicySet::new(vec![LoadedPolicy {
        path: "p.yaml".into(),
        policy: parse_policy(Path::new("p.yaml"), &text).unwrap(),
    }])
}

const POD: &str = "kind: Pod\nspec:\n  containers:\n    - name: a\n      image: nginx:1.2.0@DA # pinned\n    - name: b\n      image: nginx:1.2.0\n";
const VALUES: &str = "image:\n  repository: nginx\n  tag: 1.2.0\n  digest: DA\n";
const KUST: &str = "images:\n  - name: nginx\n    newTag: 1.2.0\n    digest: DA\n";

fn files(pinned: bool) -> Mem {
    let fill = |t: &str| {
        t.replace("DA", if pinned { A } else { "\"\"" })
            .replace("@\"\"", "")
    };
    Mem(BTreeMap::from([
        (PathBuf::from("pod.yaml"), fill(POD)),
        (PathBuf::from("values.yaml"), fill(VALUES)),
        (
            PathBuf::from("kustomization.yaml"),
            if pinned {
                KUST.replace("DA", A)
            } else {
                KUST.replace("    digest: DA\n", "")
            },
        ),
    ]))
}

fn wish(digest: Option<&str>, index_digest: Option<&str>) -> Wish {
    Wish {
        id: ImageId::new("shop", "nginx"),
        tag: "1.3.0".into(),
        digest: digest.map(str::to_string),
        index_digest: index_digest.map(str::to_string),
    }
}

#[test]
fn a_pinned_reference_stays_pinned_with_the_new_tags_digest() {
    let p = plan(&policies(""), &[wish(None, Some(B))], &files(true));
    assert!(matches!(
        p.outcomes.values().next(),
        Some(Outcome::Updated { .. })
    ));
    let new = |f: &str| p.files[Path::new(f)].1.clone();
    // The pinned container keeps a pin (the new tag's), its unpinned sibling gets the tag.
    assert_eq!(
        new("pod.yaml"),
        POD.replace("nginx:1.2.0@DA", &format!("nginx:1.3.0@{B}"))
            .replace("nginx:1.2.0\n", "nginx:1.3.0\n")
    );
    assert_eq!(
        new("values.yaml"),
        VALUES.replace("1.2.0", "1.3.0").replace("DA", B)
    );
    assert_eq!(
        new("kustomization.yaml"),
        KUST.replace("1.2.0", "1.3.0").replace("DA", B)
    );
}

#[test]
fn unpinned_references_stay_unpinned() {
    let p = plan(&policies(""), &[wish(None, Some(B))], &files(false));
    let new = |f: &str| p.files[Path::new(f)].1.clone();
    assert_eq!(
        new("pod.yaml"),
        files(false).0[Path::new("pod.yaml")].replace("1.2.0", "1.3.0")
    );
    assert_eq!(
        new("values.yaml"),
        "image:\n  repository: nginx\n  tag: 1.3.0\n  digest: \"\"\n"
    );
    assert_eq!(
        new("kustomization.yaml"),
        "images:\n  - name: nginx\n    newTag: 1.3.0\n"
    );
}

#[test]
fn a_pinned_reference_without_a_known_digest_is_refused_not_unpinned() {
    let p = plan(&policies(""), &[wish(None, None)], &files(true));
    match p.outcomes.values().next() {
        Some(Outcome::Refused { file, line, why }) => {
            assert_eq!((file.as_str(), *line), ("pod.yaml", 5));
            assert!(why.contains("pinned by digest"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(p.files.is_empty());
    // The caller learns which image needs its digest, to resolve it and plan again.
    assert_eq!(
        p.needs_digest.iter().collect::<Vec<_>>(),
        [&ImageId::new("shop", "nginx")]
    );
}

#[test]
fn unpinned_references_need_no_digest() {
    let p = plan(&policies(""), &[wish(None, None)], &files(false));
    assert!(
        matches!(p.outcomes.values().next(), Some(Outcome::Updated { .. })),
        "{:?}",
        p.outcomes
    );
    assert!(p.needs_digest.is_empty(), "{:?}", p.needs_digest);
    assert_eq!(
        p.files[Path::new("pod.yaml")].1,
        files(false).0[Path::new("pod.yaml")].replace("1.2.0", "1.3.0")
    );
}

#[test]
fn a_reference_refused_for_another_reason_needs_no_digest() {
    // The alias is refused before the pinned reference is reached: no digest helps.
    let mut src = files(true);
    src.0.insert(
        PathBuf::from("pod.yaml"),
        format!(
            "x: &x nginx:1.2.0
kind: Pod
spec:
  containers:
    - image: *x
    - image: nginx:1.2.0@{A}
"
        ),
    );
    let p = plan(&policies(""), &[wish(None, None)], &src);
    match p.outcomes.values().next() {
        Some(Outcome::Refused { line, why, .. }) => {
            assert_eq!(*line, 5, "{why}");
            assert!(!why.contains("pinned by digest"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(p.needs_digest.is_empty(), "{:?}", p.needs_digest);
}

#[test]
fn pin_digest_pins_every_reference_even_at_the_same_tag() {
    let set = policies("    pinDigest: true\n");
    let mut src = files(false);
    for t in src.0.values_mut() {
        *t = t.replace("1.2.0", "1.3.0");
    }
    let p = plan(&set, &[wish(Some(B), None)], &src);
    assert!(
        matches!(p.outcomes.values().next(), Some(Outcome::Updated { .. })),
        "{:?}",
        p.outcomes
    );
    let new = |f: &str| p.files[Path::new(f)].1.clone();
    assert_eq!(
        new("pod.yaml"),
        POD.replace("nginx:1.2.0@DA", &format!("nginx:1.3.0@{B}"))
            .replace("nginx:1.2.0\n", &format!("nginx:1.3.0@{B}\n"))
    );
    assert_eq!(
        new("values.yaml"),
        VALUES
            .replace("1.2.0", "1.3.0")
            .replace("DA", &format!("\"{B}\""))
    );
    assert_eq!(
        new("kustomization.yaml"),
        KUST.replace("1.2.0", "1.3.0").replace("DA", B)
    );
}

#[test]
fn pin_digest_beside_a_digest_policy_is_a_load_error() {
    let text =
        "application: a\nimages:\n  - repository: nginx\n    digest: latest\n    pinDigest: true\n";
    let e = parse_policy(Path::new("p.yaml"), text).unwrap_err();
    assert!(e.to_string().contains("pinDigest"), "{e}");
}
