//! What a pull request says: its title and body from the imagebump commits on its head
//! branch, and the versions it proposes, recorded in the body so a pull request closed
//! without merging can be read back as "skip these versions".
//!
//! Everything is derived from git (the messages of the commits on the head branch beyond
//! the base branch, as [`crate::message`] wrote them) and from the forge's copy of the
//! body: no state of imagebump's own.

use std::collections::BTreeMap;

use crate::decision::ImageId;
use crate::plan::tag_of;

/// The body line that records what a pull request proposes (an HTML comment: invisible
/// in the rendered body).
pub const PROPOSED_MARKER: &str = "<!-- imagebump-proposed: ";

/// One image's change on the head branch: the value before the first commit and after
/// the last.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BranchChange {
    /// `application/name`.
    pub image: String,
    /// The reference the base branch holds.
    pub from: String,
    /// The reference the head branch holds.
    pub to: String,
    /// Files changed, `path:line`.
    pub files: Vec<String>,
    /// The change names its image's identity (`set-image` changes name only the image
    /// reference): only those are recorded as proposed, to be skipped when declined.
    #[serde(skip)]
    pub owned: bool,
}

/// The changes the commits on a head branch make, from their messages (oldest first):
/// each `- APP/NAME: FILE:LINE OLD → NEW` line [`crate::message`] writes.
pub fn branch_changes(messages: &[String]) -> Vec<BranchChange> {
    let mut by: BTreeMap<String, BranchChange> = BTreeMap::new();
    for m in messages {
        for line in m.lines() {
            let Some(rest) = line.strip_prefix("- ") else {
                continue;
            };
            // `- APP/NAME: FILE:LINE OLD → NEW`, or without the owner (`set-image`).
            let (owner, rest) = match rest.split_once(": ") {
                Some((o, r)) if ImageId::parse(o).is_some() && !o.contains(' ') => (Some(o), r),
                _ => (None, rest),
            };
            let Some((file, values)) = rest.split_once(' ') else {
                continue;
            };
            let Some((old, new)) = values.split_once(" → ") else {
                continue;
            };
            let key = match owner {
                Some(o) => o.to_string(),
                None => crate::image::split_raw(new).name.to_string(),
            };
            let c = by.entry(key.clone()).or_insert_with(|| BranchChange {
                image: key,
                from: old.to_string(),
                to: new.to_string(),
                files: Vec::new(),
                owned: owner.is_some(),
            });
            c.to = new.to_string();
            if !c.files.iter().any(|f| f == file) {
                c.files.push(file.to_string());
            }
        }
    }
    by.into_values().filter(|c| c.from != c.to).collect()
}

/// The tags a body proposes, per image (from its [`PROPOSED_MARKER`] line); empty when
/// it has none (a pull request imagebump did not write, or an edited body).
pub fn proposed(body: &str) -> BTreeMap<ImageId, String> {
    let mut out = BTreeMap::new();
    for line in body.lines() {
        let Some(json) = line
            .trim()
            .strip_prefix(PROPOSED_MARKER)
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let Ok(map) = serde_json::from_str::<BTreeMap<String, String>>(json.trim()) else {
            continue;
        };
        for (k, v) in map {
            if let Some(id) = ImageId::parse(&k) {
                out.insert(id, v);
            }
        }
    }
    out
}

/// The title of a pull request over `changes` (`template`: minijinja over `changes` and
/// `count`; default: the first commit-message style summary).
pub fn title(template: Option<&str>, changes: &[BranchChange]) -> String {
    let default = match changes {
        [one] => format!(
            "chore(images): {}: {} → {}",
            one.image,
            tag_of(&one.from).unwrap_or_else(|| one.from.clone()),
            tag_of(&one.to).unwrap_or_else(|| one.to.clone())
        ),
        many => format!("chore(images): update {} images", many.len()),
    };
    template
        .and_then(|t| render(t, changes).ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or(default)
}

/// The body: a table of `changes` (or `template` rendered over them), then the
/// [`PROPOSED_MARKER`] line.
pub fn body(template: Option<&str>, changes: &[BranchChange]) -> String {
    let mut out = match template.and_then(|t| render(t, changes).ok()) {
        Some(b) => b.trim_end().to_string(),
        None => {
            let mut b = String::from("imagebump updates these images:\n\n| image | from | to | files |\n|---|---|---|---|\n");
            for c in changes {
                b.push_str(&format!(
                    "| {} | `{}` | `{}` | {} |\n",
                    c.image,
                    c.from,
                    c.to,
                    c.files.join(", ")
                ));
            }
            b.push_str("\nClosing this pull request without merging skips these versions; a newer tag opens a new one.");
            b
        }
    };
    let map: BTreeMap<&str, String> = changes
        .iter()
        .filter(|c| c.owned)
        .map(|c| {
            (
                c.image.as_str(),
                tag_of(&c.to).unwrap_or_else(|| c.to.clone()),
            )
        })
        .collect();
    out.push_str(&format!(
        "\n\n{PROPOSED_MARKER}{} -->\n",
        serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
    ));
    out
}

fn render(template: &str, changes: &[BranchChange]) -> Result<String, minijinja::Error> {
    crate::template::environment().render_str(
        template,
        minijinja::context! { changes => changes, count => changes.len() },
    )
}

/// Checks a `title`/`body` template on a sample (unknown variables or attributes fail).
pub fn check_template(template: &str) -> Result<(), String> {
    let sample = [BranchChange {
        image: "app/web".into(),
        from: "ghcr.io/acme/web:1.0.0".into(),
        to: "ghcr.io/acme/web:1.1.0".into(),
        files: vec!["apps/web.yaml:4".into()],
        owned: true,
    }];
    render(template, &sample)
        .map(|_| ())
        .map_err(|e| format!("pull request template: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const M1: &str = "chore(images): update 2 images\n\n- shop/web: apps/web.yaml:4 r/web:1.1.0 → r/web:1.2.0\n- shop/api: apps/api.yaml:4 r/api:2.0.0 → r/api:2.1.0\n\nImagebump-Version: 0.1.0\n";
    const M2: &str = "chore(images): shop/web: 1.2.0 → 1.3.0\n\n- shop/web: apps/web.yaml:4 r/web:1.2.0 → r/web:1.3.0\n\nImagebump-Version: 0.1.0\n";

    #[test]
    fn the_changes_of_a_branch_span_its_commits() {
        let c = branch_changes(&[M1.into(), M2.into()]);
        assert_eq!(c.len(), 2);
        let web = c.iter().find(|c| c.image == "shop/web").unwrap();
        assert_eq!(
            (web.from.as_str(), web.to.as_str()),
            ("r/web:1.1.0", "r/web:1.3.0")
        );
        assert_eq!(web.files, ["apps/web.yaml:4"]);
    }

    #[test]
    fn the_body_records_what_it_proposes_and_reads_it_back() {
        let c = branch_changes(&[M1.into(), M2.into()]);
        let b = body(None, &c);
        assert!(
            b.contains("| shop/web | `r/web:1.1.0` | `r/web:1.3.0` |"),
            "{b}"
        );
        let p = proposed(&b);
        assert_eq!(
            p.get(&ImageId::new("shop", "web")).map(String::as_str),
            Some("1.3.0")
        );
        assert_eq!(
            p.get(&ImageId::new("shop", "api")).map(String::as_str),
            Some("2.1.0")
        );
        assert!(proposed("a person's body").is_empty());
        assert_eq!(title(None, &c), "chore(images): update 2 images");
        assert_eq!(
            title(
                Some("bump {{ count }}: {% for c in changes %}{{ c.image }} {% endfor %}"),
                &c
            ),
            "bump 2: shop/api shop/web"
        );
        assert!(check_template("{{ nope }}").is_err());
        assert!(check_template("{{ changes[0].image }}").is_ok());
        // A set-image commit names no owner: listed, but not recorded as proposed.
        let m =
            "set web\n\n- apps/web.yaml:4 r/web:1.1.0 → r/web:1.1.5\n\nImagebump-Version: 0.1.0\n";
        let c = branch_changes(&[m.into()]);
        assert_eq!(c[0].image, "r/web");
        assert!(!c[0].owned);
        assert!(proposed(&body(None, &c)).is_empty());
    }
}
