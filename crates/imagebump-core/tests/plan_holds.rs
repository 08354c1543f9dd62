//! `# imagebump: hold` markers: a held image is not rewritten (its decision says where and
//! why), an expired hold is ignored, the marker comment survives an edit byte for byte,
//! and `plan_marks` adds and removes markers on every target of an image.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imagebump_core::decision::{Decision, HoldReason, ImageId, Wish};
use imagebump_core::hold::{plan_marks, Action, Date};
use imagebump_core::plan::{plan_on, FileSource, Outcome};
use imagebump_core::policy::{parse_policy, LoadedPolicy, PolicySet};

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

fn policies() -> PolicySet {
    let text = "application: shop\nimages:\n  - name: web\n    repository: nginx\n    semver: '*'\n    targets:\n      - manifest: pod.yaml\n      - helm: {file: values.yaml, repository: image.repository, tag: image.tag}\n      - kustomize: kustomization.yaml\n  - name: api\n    repository: api\n    semver: '*'\n    targets:\n      - manifest: pod.yaml\n";
    PolicySet::new(vec![LoadedPolicy {
        path: "p.yaml".into(),
        policy: parse_policy(Path::new("p.yaml"), text).unwrap(),
    }])
}

const POD: &str = "kind: Pod\r\nspec:\r\n  containers:\r\n    - name: web\r\n      image: nginx:1.2.0\r\n    - name: api\r\n      image: \"api:2.0.0\" # owned by team api\r\n";
const VALUES: &str = "image:\n  repository: nginx\n  tag: 1.2.0\n";
const KUST: &str = "images:\n  - name: nginx\n    newTag: 1.2.0\n";

fn files(pod: &str) -> Mem {
    Mem(BTreeMap::from([
        (PathBuf::from("pod.yaml"), pod.to_string()),
        (PathBuf::from("values.yaml"), VALUES.to_string()),
        (PathBuf::from("kustomization.yaml"), KUST.to_string()),
    ]))
}

fn wish(name: &str, tag: &str) -> Wish {
    Wish {
        id: ImageId::new("shop", name),
        tag: tag.into(),
        digest: None,
        index_digest: None,
    }
}

fn day(s: &str) -> Option<Date> {
    Some(Date::parse(s).unwrap())
}

const HELD: &str = "image: nginx:1.2.0 # imagebump: hold until 2026-12-24 incident 42";

#[test]
fn a_held_image_is_not_rewritten_anywhere_and_says_why() {
    let pod = POD.replace("image: nginx:1.2.0", HELD);
    let wishes = [wish("web", "1.3.0"), wish("api", "2.1.0")];
    let p = plan_on(&policies(), &wishes, &files(&pod), day("2026-12-01"));
    let web = ImageId::new("shop", "web");
    let o = &p.outcomes[&web];
    assert_eq!(
        o,
        &Outcome::Held {
            file: "pod.yaml".into(),
            line: 5,
            until: Some("2026-12-24".into()),
            reason: Some("incident 42".into()),
        }
    );
    assert_eq!(
        o.decision(&wishes[0], None, None),
        Decision::Held {
            reason: HoldReason::Marker {
                file: "pod.yaml".into(),
                line: 5,
                until: Some("2026-12-24".into()),
                reason: Some("incident 42".into()),
            }
        }
    );
    // Neither the held file nor the image's other targets change; the other image in
    // the same file does, and its own comment stays.
    assert!(!p.files.contains_key(Path::new("values.yaml")));
    assert!(!p.files.contains_key(Path::new("kustomization.yaml")));
    assert_eq!(
        p.files[Path::new("pod.yaml")].1,
        pod.replace("api:2.0.0", "api:2.1.0")
    );
    assert!(p.changes.iter().all(|c| c.owner.as_ref() != Some(&web)));
}

#[test]
fn an_expired_hold_is_ignored_and_the_marker_kept_byte_exact() {
    let pod = POD.replace("image: nginx:1.2.0", HELD);
    let p = plan_on(
        &policies(),
        &[wish("web", "1.3.0")],
        &files(&pod),
        day("2026-12-25"),
    );
    let web = ImageId::new("shop", "web");
    assert!(
        matches!(p.outcomes[&web], Outcome::Updated { .. }),
        "{:?}",
        p.outcomes
    );
    assert_eq!(
        p.files[Path::new("pod.yaml")].1,
        pod.replace("nginx:1.2.0 #", "nginx:1.3.0 #")
    );
    assert_eq!(
        p.files[Path::new("values.yaml")].1,
        VALUES.replace("1.2.0", "1.3.0")
    );
}

#[test]
fn a_marker_on_a_helm_tag_holds_and_a_bad_date_is_refused_at_its_line() {
    let mut f = files(POD);
    f.0.insert(
        "values.yaml".into(),
        VALUES.replace("1.2.0\n", "1.2.0 # imagebump: hold\n"),
    );
    let p = plan_on(&policies(), &[wish("web", "1.3.0")], &f, day("2026-12-01"));
    let web = ImageId::new("shop", "web");
    assert!(
        matches!(&p.outcomes[&web], Outcome::Held { file, line: 3, until: None, reason: None } if file == "values.yaml"),
        "{:?}",
        p.outcomes
    );
    assert!(p.files.is_empty());
    f.0.insert(
        "values.yaml".into(),
        VALUES.replace("1.2.0\n", "1.2.0 # imagebump: hold until Friday\n"),
    );
    let p = plan_on(&policies(), &[wish("web", "1.3.0")], &f, day("2026-12-01"));
    match &p.outcomes[&web] {
        Outcome::Refused { file, line, why } => {
            assert_eq!((file.as_str(), *line), ("values.yaml", 3));
            assert!(why.contains("not a date"), "{why}");
        }
        o => panic!("{o:?}"),
    }
    assert!(p.files.is_empty());
}

#[test]
fn hold_marks_every_target_and_release_removes_them() {
    let web = ImageId::new("shop", "web");
    let hold = Action::Hold {
        until: day("2026-12-24"),
        reason: Some("incident 42".into()),
    };
    let f = files(POD);
    let p = plan_marks(&policies(), std::slice::from_ref(&web), &hold, &f).unwrap();
    assert_eq!(p.title.as_deref(), Some("hold shop/web: incident 42"));
    assert!(!p.allow_empty);
    let m = "  # imagebump: hold until 2026-12-24 incident 42";
    let pod = &p.files[Path::new("pod.yaml")].1;
    assert_eq!(
        pod,
        &POD.replace("nginx:1.2.0\r\n", &format!("nginx:1.2.0{m}\r\n"))
    );
    let values = &p.files[Path::new("values.yaml")].1;
    assert_eq!(values, &VALUES.replace("1.2.0\n", &format!("1.2.0{m}\n")));
    let kust = &p.files[Path::new("kustomization.yaml")].1;
    assert_eq!(kust, &KUST.replace("1.2.0\n", &format!("1.2.0{m}\n")));
    assert_eq!(p.changes.len(), 3);

    // The held files plan as held; release brings them back byte for byte.
    let held = Mem(p
        .files
        .iter()
        .map(|(k, (_, n))| (k.clone(), n.clone()))
        .collect());
    let q = plan_on(
        &policies(),
        &[wish("web", "1.3.0")],
        &held,
        day("2026-12-01"),
    );
    assert!(matches!(q.outcomes[&web], Outcome::Held { .. }));
    let r = plan_marks(
        &policies(),
        std::slice::from_ref(&web),
        &Action::Release,
        &held,
    )
    .unwrap();
    assert_eq!(r.title.as_deref(), Some("release shop/web"));
    assert!(r.allow_empty);
    assert_eq!(r.files[Path::new("pod.yaml")].1, POD);
    assert_eq!(r.files[Path::new("values.yaml")].1, VALUES);
    assert_eq!(r.files[Path::new("kustomization.yaml")].1, KUST);
    // Nothing to remove: no file changes, still a commit (its trailer is the release).
    let none = plan_marks(
        &policies(),
        std::slice::from_ref(&web),
        &Action::Release,
        &f,
    )
    .unwrap();
    assert!(none.files.is_empty() && none.allow_empty);
}

#[test]
fn hold_refuses_a_line_with_another_comment_naming_it() {
    let api = ImageId::new("shop", "api");
    let hold = Action::Hold {
        until: None,
        reason: None,
    };
    let e = plan_marks(&policies(), &[api], &hold, &files(POD)).unwrap_err();
    assert!(
        e.starts_with("pod.yaml:7: the line already has a comment"),
        "{e}"
    );
}
