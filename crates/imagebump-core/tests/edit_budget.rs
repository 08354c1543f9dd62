//! Every parse has a budget (bytes, depth, nodes, aliases) and aliases cost O(1): a
//! hostile file is refused with `file:line`, and the other files go on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imagebump_core::decision::{ImageId, Wish};
use imagebump_core::edit::{budget, edit, EditError, Target, Update};
use imagebump_core::plan::{plan, plan_set_image, FileSource, Outcome};
use imagebump_core::policy::{parse_policy, LoadedPolicy, PolicySet};

/// The classic "billion laughs": nine levels of nine aliases each, 9^9 strings when
/// expanded, 528 bytes written. Followed by a real image reference to edit.
fn laughs() -> String {
    let mut s = String::from("lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        let p = format!("*l{}", i - 1);
        let items = [p.as_str(); 9].join(", ");
        s.push_str(&format!("lol{i}: &l{i} [{items}]\n"));
    }
    s.push_str("image: nginx:1.2\n");
    s
}

#[test]
fn nested_aliases_cost_nothing_and_the_file_is_still_edited() {
    let text = laughs();
    assert!(text.len() < 600, "{}", text.len());
    // Before aliases were shared, this copied 9^9 nodes (3 GB) and aborted.
    let out = edit(
        "values.yaml",
        &text,
        &Target::Auto,
        &Update::parse("nginx:1.3").unwrap(),
    )
    .unwrap();
    assert_eq!(out.text, text.replace("nginx:1.2", "nginx:1.3"));
    assert_eq!(out.changes.len(), 1);
}

#[track_caller]
fn over_budget(text: &str, line: usize, needle: &str) {
    match edit(
        "big.yaml",
        text,
        &Target::Auto,
        &Update::parse("nginx:1.3").unwrap(),
    ) {
        Err(e @ EditError::OverBudget { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("big.yaml:{line}: refusing to read: ")),
                "{msg}"
            );
            assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        }
        other => panic!("expected over budget at line {line}, got {other:?}"),
    }
}

#[test]
fn too_many_aliases() {
    let mut text = String::from("a: &a x\nlist:\n");
    for _ in 0..budget::MAX_ALIASES {
        text.push_str("- *a\n");
    }
    // The one alias over the limit is on the last line.
    text.push_str("- *a\n");
    over_budget(&text, budget::MAX_ALIASES + 3, "aliases");
}

#[test]
fn too_deep() {
    // Far deeper than the limit: refused at the first level over it, no stack overflow.
    let text = format!("x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    over_budget(&text, 1, "nested too deep");
    let mut text = String::new();
    for i in 0..=budget::MAX_DEPTH {
        text.push_str(&format!("{}k{i}:\n", "  ".repeat(i)));
    }
    text.push_str(&format!("{}v: 1\n", "  ".repeat(budget::MAX_DEPTH + 1)));
    over_budget(&text, budget::MAX_DEPTH + 1, "more than 128 levels");
}

#[test]
fn too_many_nodes_and_too_many_bytes() {
    let text = "[".to_string() + &"1,".repeat(budget::MAX_NODES) + "1]\n";
    assert!(text.len() < budget::MAX_BYTES);
    over_budget(&text, 1, "nodes");
    let text = format!("image: nginx:1.2\n#{}\n", "x".repeat(budget::MAX_BYTES));
    over_budget(&text, 1, "bytes");
}

/// Files in memory.
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

/// `laughs()` has 72 aliases on lines 2-9 and 10 lines; each line after holds one more, so the alias
/// over the limit is on this line.
const HOSTILE_LINE: usize = 11 + budget::MAX_ALIASES - 72;

fn hostile() -> String {
    let mut s = laughs();
    for _ in 0..=budget::MAX_ALIASES {
        s.push_str("x: *l8\n");
    }
    s
}

#[test]
fn set_image_refuses_the_file_over_budget_and_edits_the_others() {
    let files = Mem(BTreeMap::from([
        (PathBuf::from("apps/a.yaml"), hostile()),
        (
            PathBuf::from("apps/b.yaml"),
            "image: nginx:1.2\n".to_string(),
        ),
    ]));
    let u = Update::parse("nginx:1.3").unwrap();
    let p = plan_set_image(
        "nginx:1.3",
        &u,
        &Target::Auto,
        &[PathBuf::from("apps")],
        &files,
    )
    .unwrap();
    assert_eq!(
        p.files[Path::new("apps/b.yaml")].1,
        "image: nginx:1.3\n".to_string()
    );
    assert_eq!(p.files.len(), 1);
    assert_eq!(p.unread.len(), 1, "{:?}", p.unread);
    assert!(
        p.unread[0].starts_with(&format!(
            "apps/a.yaml:{}: refusing to read: more than",
            HOSTILE_LINE
        )),
        "{:?}",
        p.unread
    );
}

#[test]
fn the_service_refuses_that_image_with_file_line_and_plans_the_others() {
    let text = "application: shop\nimages:\n  - repository: nginx\n    semver: '*'\n    targets:\n      - manifest: a.yaml\n  - repository: redis\n    semver: '*'\n    targets:\n      - manifest: b.yaml\n";
    let set = PolicySet::new(vec![LoadedPolicy {
        path: "p.yaml".into(),
        policy: parse_policy(Path::new("p.yaml"), text).unwrap(),
    }]);
    let files = Mem(BTreeMap::from([
        (PathBuf::from("a.yaml"), hostile()),
        (
            PathBuf::from("b.yaml"),
            "kind: Pod\nspec:\n  containers:\n    - image: redis:7.0.0\n".to_string(),
        ),
    ]));
    let wish = |name: &str, tag: &str| Wish {
        id: ImageId::new("shop", name),
        tag: tag.into(),
        digest: None,
        index_digest: None,
    };
    let p = plan(
        &set,
        &[wish("nginx", "1.3.0"), wish("redis", "7.0.1")],
        &files,
    );
    match &p.outcomes[&ImageId::new("shop", "nginx")] {
        Outcome::Refused { file, line, why } => {
            assert_eq!(file, "a.yaml");
            assert_eq!(*line, HOSTILE_LINE);
            assert!(why.contains("aliases"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.outcomes[&ImageId::new("shop", "redis")],
        Outcome::Updated { .. }
    ));
    assert!(p.files[Path::new("b.yaml")].1.contains("redis:7.0.1"));
}
