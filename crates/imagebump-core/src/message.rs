//! The one commit-message builder: every commit imagebump makes — the service's, `once`'s,
//! `set-image --git`'s — is worded here and carries the same trailer, so a commit can be
//! recognised as imagebump's from git alone.

use crate::plan::Plan;

/// The trailer key that marks a commit as imagebump's.
pub const TRAILER: &str = "Imagebump-Version";

/// The default subject template; `{{ summary }}` is replaced.
pub const DEFAULT_TEMPLATE: &str = "chore(images): {{ summary }}";

/// The commit message for `plan`: the template's subject (`{{ summary }}` replaced by
/// the plan's title, its one change, or "update N images"), a blank line, one line per
/// changed value, and the trailer with `version` (the caller's `CARGO_PKG_VERSION`).
pub fn commit_message(template: Option<&str>, plan: &Plan, version: &str) -> String {
    let summary = match &plan.title {
        Some(t) => t.clone(),
        None => {
            let lines = plan.summary_lines();
            if lines.len() == 1 {
                lines[0].clone()
            } else {
                format!("update {} images", lines.len())
            }
        }
    };
    let subject = template
        .unwrap_or(DEFAULT_TEMPLATE)
        .replace("{{ summary }}", &summary)
        .replace("{{summary}}", &summary);
    with_body(&subject, plan, version)
}

/// A message whose subject (and optional body) the user wrote, e.g.
/// `set-image --message`: the change lines and the trailer still follow, so the commit
/// is still recognisable as imagebump's.
pub fn custom_message(text: &str, plan: &Plan, version: &str) -> String {
    with_body(text.trim_end(), plan, version)
}

fn with_body(subject: &str, plan: &Plan, version: &str) -> String {
    let mut msg = format!("{subject}\n\n");
    for c in &plan.changes {
        let owner = c
            .owner
            .as_ref()
            .map(|o| format!("{o}: "))
            .unwrap_or_default();
        let old = if c.old.is_empty() { "(added)" } else { &c.old };
        let new = if c.new.is_empty() {
            "(removed)"
        } else {
            &c.new
        };
        msg.push_str(&format!(
            "- {owner}{}:{} {old} → {new}\n",
            c.file.display(),
            c.line
        ));
    }
    msg.push_str(&format!("\n{TRAILER}: {version}\n"));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::ImageId;
    use crate::plan::{Outcome, PlannedChange};

    fn change(owner: Option<ImageId>, old: &str, new: &str) -> PlannedChange {
        PlannedChange {
            owner,
            file: "apps/a.yaml".into(),
            line: 3,
            old: old.into(),
            new: new.into(),
        }
    }

    #[test]
    fn one_builder_for_every_commit() {
        let id = ImageId::new("shop", "web");
        let mut p = Plan::default();
        p.changes.push(change(Some(id.clone()), "1.0", "1.1"));
        p.outcomes.insert(
            id,
            Outcome::Updated {
                from: Some("1.0".into()),
            },
        );
        assert_eq!(
            commit_message(None, &p, "0.1.0"),
            "chore(images): shop/web: 1.0 → 1.1\n\n- shop/web: apps/a.yaml:3 1.0 → 1.1\n\nImagebump-Version: 0.1.0\n"
        );
        assert!(
            commit_message(Some("deploy: {{summary}}"), &p, "x").starts_with("deploy: shop/web")
        );
        let mut s = Plan {
            title: Some("set nginx:1.2".into()),
            ..Plan::default()
        };
        s.changes.push(change(None, "", "1.2"));
        assert_eq!(
            commit_message(None, &s, "0.1.0"),
            "chore(images): set nginx:1.2\n\n- apps/a.yaml:3 (added) → 1.2\n\nImagebump-Version: 0.1.0\n"
        );
        assert!(custom_message("bump\n", &s, "0.1.0").starts_with("bump\n\n- apps/a.yaml:3"));
        assert!(custom_message("bump", &s, "0.1.0").ends_with("\nImagebump-Version: 0.1.0\n"));
    }
}
