//! Unit tests of planning: shared files, one image in two files, downgrades, reads.

use super::*;
use crate::policy::{parse_policy, LoadedPolicy};
use std::collections::HashMap;

/// Files in memory, counting reads.
struct Mem(HashMap<PathBuf, String>, std::cell::Cell<usize>);

impl FileSource for Mem {
    fn read(&self, rel: &Path) -> Result<Option<String>, ReadError> {
        self.1.set(self.1.get() + 1);
        match self.0.get(rel) {
            Some(t) if t.starts_with('\u{0}') => Err(ReadError::NotText(rel.into())),
            t => Ok(t.cloned()),
        }
    }
    fn list(&self, rel: &Path) -> Result<Vec<PathBuf>, String> {
        let mut v: Vec<_> = self
            .0
            .keys()
            .filter(|p| p.starts_with(rel))
            .cloned()
            .collect();
        v.sort();
        Ok(v)
    }
}

fn policies(text: &str) -> PolicySet {
    PolicySet::new(vec![LoadedPolicy {
        path: "p.yaml".into(),
        policy: parse_policy(Path::new("p.yaml"), text).unwrap(),
    }])
}

const NAMES: [&str; 3] = ["web", "api", "db"];

fn id(image: usize) -> ImageId {
    ImageId::new("shop", NAMES[image])
}

fn want(image: usize, tag: &str) -> Wish {
    Wish {
        id: id(image),
        tag: tag.into(),
        digest: None,
        index_digest: None,
    }
}

const POLICY: &str = "application: shop\nimages:\n  - repository: ghcr.io/acme/web\n    semver: '*'\n    targets:\n      - manifest: apps/shop.yaml\n      - kustomize: apps/kustomization.yaml\n  - repository: ghcr.io/acme/api\n    semver: '<2'\n    targets:\n      - manifest: apps/shop.yaml\n  - repository: ghcr.io/acme/db\n    semver: '<2'\n    targets:\n      - manifest: apps/db.yaml\n";
const SHOP: &str = "kind: Pod\nspec:\n  containers:\n    - image: ghcr.io/acme/web:1.0.0 # web\n    - image: ghcr.io/acme/api:1.0.0\n";
const KUST: &str = "images:\n  - name: ghcr.io/acme/web\n    newTag: 1.0.0\n";
const DB: &str = "kind: Pod\nspec:\n  containers:\n    - image: ghcr.io/acme/db:2.5.0\n";

fn files() -> Mem {
    Mem(
        [
            ("apps/shop.yaml", SHOP),
            ("apps/kustomization.yaml", KUST),
            ("apps/db.yaml", DB),
        ]
        .into_iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect(),
        std::cell::Cell::new(0),
    )
}

#[test]
fn two_images_in_one_file_and_one_image_in_two_files() {
    let pol = policies(POLICY);
    let src = files();
    let p = plan(
        &pol,
        &[want(0, "1.1.0"), want(1, "1.0.1"), want(2, "1.9.0")],
        &src,
    );
    assert_eq!(
        p.files[Path::new("apps/shop.yaml")].1,
        SHOP.replace("web:1.0.0", "web:1.1.0")
            .replace("api:1.0.0", "api:1.0.1")
    );
    assert_eq!(
        p.files[Path::new("apps/kustomization.yaml")].1,
        KUST.replace("1.0.0", "1.1.0")
    );
    assert!(!p.files.contains_key(Path::new("apps/db.yaml")));
    assert_eq!(
        p.outcomes[&id(2)],
        Outcome::DowngradeRefused {
            current: "2.5.0".into()
        }
    );
    assert_eq!(
        p.outcomes[&id(0)],
        Outcome::Updated {
            from: Some("1.0.0".into())
        }
    );
    assert_eq!(p.changes.len(), 3);
    // Each file is read once.
    assert_eq!(src.1.get(), 3);
    assert_eq!(
        p.summary_lines(),
        vec![
            "shop/web: 1.0.0 → 1.1.0".to_string(),
            "shop/api: 1.0.0 → 1.0.1".to_string()
        ]
    );
}

#[test]
fn up_to_date_and_missing_files() {
    let pol = policies(POLICY);
    let src = files();
    let p = plan(&pol, &[want(1, "1.0.0")], &src);
    assert!(p.files.is_empty());
    assert_eq!(p.outcomes[&id(1)], Outcome::UpToDate);
    let mut src = files();
    src.0.remove(Path::new("apps/kustomization.yaml"));
    let p = plan(&pol, &[want(0, "1.1.0")], &src);
    assert!(matches!(&p.outcomes[&id(0)], Outcome::Failed(e) if e.contains("not found")));
    assert!(
        p.files.is_empty(),
        "a failed image writes none of its files"
    );
}

#[test]
fn a_target_that_does_not_mention_its_image_is_an_error() {
    // The manifest names 127.0.0.1:5000, the policy localhost:5000.
    let pol = policies("application: shop\nimages:\n  - repository: localhost:5000/web\n    semver: '*'\n    targets:\n      - manifest: apps/shop.yaml\n");
    let mut src = files();
    src.0.insert(
        "apps/shop.yaml".into(),
        "kind: Pod\nspec:\n  containers:\n    - image: 127.0.0.1:5000/web:1.0.0\n".into(),
    );
    let w = Wish {
        id: ImageId::new("shop", "web"),
        tag: "1.0.0".into(),
        digest: None,
        index_digest: None,
    };
    let p = plan(&pol, std::slice::from_ref(&w), &src);
    let o = &p.outcomes[&w.id];
    assert_eq!(
        *o,
        Outcome::NotReferenced {
            file: "apps/shop.yaml".into(),
            repository: "localhost:5000/web".into()
        }
    );
    let d = o.decision(&w, None, None);
    assert!(d.is_failure(), "{d:?}");
    assert_eq!(d.kind(), "not_referenced");
    let why = d.why_not_updated().unwrap();
    assert!(
        why.contains("apps/shop.yaml") && why.contains("localhost:5000/web"),
        "{why}"
    );
    // An image without targets is never written: an error too.
    let pol =
        policies("application: shop\nimages:\n  - repository: ghcr.io/acme/web\n    semver: '*'\n");
    let p = plan(&pol, &[want(0, "1.1.0")], &files());
    assert!(
        matches!(&p.outcomes[&id(0)], Outcome::Failed(e) if e.contains("has no targets")),
        "{:?}",
        p.outcomes
    );
    // The same value already set is up to date, not an error.
    let pol = policies(POLICY);
    let p = plan(&pol, &[want(1, "1.0.0")], &files());
    assert_eq!(p.outcomes[&id(1)], Outcome::UpToDate);
}

#[test]
fn markers_directories_skip_files_that_are_not_text_or_not_yaml() {
    let pol = policies("application: shop\nimages:\n  - repository: ghcr.io/acme/web\n    name: web\n    semver: '*'\n    targets:\n      - markers: m\n");
    let src = Mem(
        [
            ("m/a.yaml", "\u{0}binary"),
            ("m/b.yaml", "a: [unclosed\n"),
            (
                "m/c.yaml",
                "image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"shop:web\"}\n",
            ),
        ]
        .into_iter()
        .map(|(p, t)| (PathBuf::from(p), t.to_string()))
        .collect(),
        std::cell::Cell::new(0),
    );
    let p = plan(&pol, &[want(0, "1.1.0")], &src);
    assert_eq!(
        p.outcomes[&id(0)],
        Outcome::Updated {
            from: Some("1.0.0".into())
        }
    );
    assert_eq!(
        p.skipped.iter().collect::<Vec<_>>(),
        [Path::new("m/a.yaml"), Path::new("m/b.yaml")]
    );
    // A named target that is not text is still an error.
    let pol = policies("application: shop\nimages:\n  - repository: ghcr.io/acme/web\n    semver: '*'\n    targets:\n      - manifest: m/a.yaml\n");
    let p = plan(&pol, &[want(0, "1.1.0")], &src);
    assert!(
        matches!(&p.outcomes[&id(0)], Outcome::Failed(e) if e.contains("not UTF-8")),
        "{:?}",
        p.outcomes
    );
}

#[test]
fn tags_of_old_values() {
    assert_eq!(tag_of("1.2.3").as_deref(), Some("1.2.3"));
    assert_eq!(tag_of("nginx:1.2@sha256:ab").as_deref(), Some("1.2"));
    assert_eq!(tag_of("localhost:5000/app").as_deref(), None);
    assert_eq!(tag_of("sha256:abc"), None);
    assert_eq!(tag_of(""), None);
}

#[test]
fn downgrades_by_the_policys_order() {
    let set = policies("application: shop\nimages:\n  - repository: r.example/web\n    semver: '>=1.0.0'\n    allowDowngrade: true\n    targets: [{manifest: a.yaml}]\n");
    let p = set.images().next().unwrap().1;
    assert!(
        is_downgrade(p, "1.0.6", "1.0.5"),
        "allowDowngrade does not change the order"
    );
    assert!(!is_downgrade(p, "1.0.5", "1.0.6"));
    assert!(!is_downgrade(p, "1.0.5", "v1.0.5"), "the same version");
    let pinned = policies("application: shop\nimages:\n  - repository: r.example/web\n    semver: '*'\n    pinned: '1.0.0'\n    targets: [{manifest: a.yaml}]\n");
    assert!(
        !is_downgrade(pinned.images().next().unwrap().1, "1.0.6", "1.0.0"),
        "a pin is an order"
    );
}
