//! The one commit-message builder: every commit imagebump makes — the service's, `once`'s,
//! `set-image --git`'s — is worded here and carries the same trailer, so a commit can be
//! recognised as imagebump's from git alone.

use crate::plan::{tag_of, Outcome, Plan};

/// The trailer that records `imagebump release APP/NAME` ending a manual-change hold
/// (`onManualChange: hold`): its value is the image's id. Derived from git alone, like
/// every hold.
pub const RELEASE_TRAILER: &str = "Imagebump-Release";

/// The trailer key that marks a commit as imagebump's.
pub const TRAILER: &str = "Imagebump-Version";

/// The default subject template.
pub const DEFAULT_TEMPLATE: &str = "chore(images): {{ summary }}";

/// The variables a `commitMessage` template may use (README lists what each holds).
pub const VARIABLES: &[&str] = &[
    "summary",
    "application",
    "image",
    "repository",
    "from",
    "to",
    "digest",
    "files",
    "changes",
    "count",
];

/// Why a commit-message template is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// It does not parse.
    #[error("commitMessage does not parse (line {line} of the template): {message}")]
    Syntax {
        /// 1-based line within the template.
        line: usize,
        /// The template engine's message.
        message: String,
    },
    /// It names a variable imagebump does not provide.
    #[error("commitMessage uses unknown variable `{name}`; known: {}", VARIABLES.join(", "))]
    Unknown {
        /// The variable.
        name: String,
    },
    /// It fails on a sample commit (an unknown attribute, a bad filter).
    #[error("commitMessage fails on a sample commit: {0}")]
    Render(String),
}

/// Checks a template: it parses, uses only [`VARIABLES`], and renders a sample commit of
/// one image and of two (so attribute typos inside `{% for c in changes %}` are caught).
pub fn check_template(template: &str) -> Result<(), TemplateError> {
    let env = environment();
    crate::template::check(template, VARIABLES).map_err(|p| match p {
        crate::template::Problem::Syntax { line, detail, .. } => TemplateError::Syntax {
            line,
            message: detail,
        },
        crate::template::Problem::Unknown { name } => TemplateError::Unknown { name },
    })?;
    for n in [1, 2] {
        let sample: Vec<ImageVars> = (0..n)
            .map(|i| ImageVars {
                id: format!("app/image{i}"),
                application: "app".into(),
                image: format!("image{i}"),
                repository: format!("registry.example.com/image{i}"),
                from: "1.0.0".into(),
                to: "1.1.0".into(),
                digest: String::new(),
                files: vec!["apps/app.yaml".into()],
            })
            .collect();
        render(&env, template, vars("sample".into(), sample))
            .map_err(|e| TemplateError::Render(e.to_string()))?;
    }
    Ok(())
}

fn environment() -> minijinja::Environment<'static> {
    // An unknown attribute is an error, not an empty string in a commit subject.
    crate::template::environment()
}

fn render(
    env: &minijinja::Environment<'_>,
    template: &str,
    v: Vars,
) -> Result<String, minijinja::Error> {
    env.render_str(template, v)
        .map(|s| s.trim_end().to_string())
}

/// One image of a commit, as templates see it (`changes[i]`).
#[derive(Debug, Clone, serde::Serialize)]
struct ImageVars {
    id: String,
    application: String,
    image: String,
    repository: String,
    from: String,
    to: String,
    digest: String,
    files: Vec<String>,
}

/// The whole template context; the top-level image fields are the one image's, or the
/// distinct values of all images joined with ", ".
#[derive(Debug, serde::Serialize)]
struct Vars {
    summary: String,
    application: String,
    image: String,
    repository: String,
    from: String,
    to: String,
    digest: String,
    files: Vec<String>,
    count: usize,
    changes: Vec<ImageVars>,
}

fn vars(summary: String, changes: Vec<ImageVars>) -> Vars {
    let join = |f: fn(&ImageVars) -> &str| {
        let mut seen: Vec<&str> = Vec::new();
        for c in &changes {
            let v = f(c);
            if !v.is_empty() && !seen.contains(&v) {
                seen.push(v);
            }
        }
        seen.join(", ")
    };
    let mut files: Vec<String> = changes.iter().flat_map(|c| c.files.clone()).collect();
    files.sort();
    files.dedup();
    Vars {
        summary,
        application: join(|c| &c.application),
        image: join(|c| &c.image),
        repository: join(|c| &c.repository),
        from: join(|c| &c.from),
        to: join(|c| &c.to),
        digest: join(|c| &c.digest),
        files,
        count: changes.len(),
        changes,
    }
}

/// A digest in a value: the value itself (`sha256:…`) or the part after `@`.
fn digest_of(value: &str) -> Option<&str> {
    let d = value.rsplit_once('@').map_or(value, |(_, d)| d);
    (d.starts_with("sha256:") || d.starts_with("sha512:")).then_some(d)
}

/// `sha256:` and the first 12 hex digits: enough to tell digests apart in a subject.
fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", &hex[..hex.len().min(12)]),
        None => digest.to_string(),
    }
}

/// `tag`, `tag@sha256:abcdef012345` or the short digest alone.
fn shown(tag: Option<String>, digest: Option<&str>) -> String {
    match (tag, digest) {
        (Some(t), Some(d)) => format!("{t}@{}", short(d)),
        (Some(t), None) => t,
        (None, Some(d)) => short(d),
        (None, None) => "?".into(),
    }
}

/// Per image of the plan, in plan order: what it moved from and to. A digest update
/// names the digests (`main@sha256:0a1b… → main@sha256:9f8e…`), never `main → main`.
fn image_vars(plan: &Plan) -> Vec<ImageVars> {
    let mut ids = Vec::new();
    for c in &plan.changes {
        if let Some(id) = &c.owner {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids.into_iter()
        .map(|id| {
            let cs: Vec<_> = plan
                .changes
                .iter()
                .filter(|c| c.owner.as_ref() == Some(id))
                .collect();
            let from_tag = match plan.outcomes.get(id) {
                Some(Outcome::Updated { from: Some(f) }) => Some(f.clone()),
                _ => cs.iter().find_map(|c| tag_of(&c.old)),
            };
            let old_digest = cs.iter().find_map(|c| digest_of(&c.old));
            let new_digest = cs.iter().find_map(|c| digest_of(&c.new));
            let to_tag = cs.iter().find_map(|c| tag_of(&c.new));
            let mut files: Vec<String> = cs.iter().map(|c| c.file.display().to_string()).collect();
            files.dedup();
            ImageVars {
                id: id.to_string(),
                application: id.application.clone(),
                image: id.name.clone(),
                repository: plan.repositories.get(id).cloned().unwrap_or_default(),
                from: shown(from_tag, old_digest),
                to: shown(to_tag, new_digest),
                digest: new_digest.unwrap_or_default().to_string(),
                files,
            }
        })
        .collect()
}

/// The commit message for `plan`: the template rendered (`summary` is the plan's title,
/// its one image's `id: from → to`, or "update N images"), a blank line, one line per
/// changed value, and the trailer with `version` (the caller's `CARGO_PKG_VERSION`). A
/// template that fails anyway (it was checked at load) falls back to the default and
/// says so in the body, so the commit still lands and the problem is visible.
pub fn commit_message(template: Option<&str>, plan: &Plan, version: &str) -> String {
    let images = image_vars(plan);
    let summary = match &plan.title {
        Some(t) => t.clone(),
        None if images.len() == 1 => {
            let i = &images[0];
            format!("{}: {} → {}", i.id, i.from, i.to)
        }
        None => format!("update {} images", images.len()),
    };
    let env = environment();
    let template = template.unwrap_or(DEFAULT_TEMPLATE);
    match render(&env, template, vars(summary.clone(), images.clone())) {
        Ok(subject) => with_body(&subject, plan, version),
        Err(e) => {
            let subject = render(&env, DEFAULT_TEMPLATE, vars(summary, images))
                .unwrap_or_else(|_| "chore(images): update".into());
            let note = format!("{subject}\n\n(commitMessage template failed: {e})");
            with_body(&note, plan, version)
        }
    }
}

/// A message whose subject (and optional body) the user wrote, e.g.
/// `set-image --message`: the change lines and the trailer still follow, so the commit
/// is still recognisable as imagebump's.
pub fn custom_message(text: &str, plan: &Plan, version: &str) -> String {
    with_body(text.trim_end(), plan, version)
}

/// The message of an `imagebump hold`/`release` commit: `subject`, the marker lines, the
/// version trailer and one `Imagebump-Release: APP/NAME` trailer per image in `released`
/// (how a release also ends a manual-change hold: it is read from git).
pub fn hold_message(
    subject: &str,
    plan: &Plan,
    released: &[crate::decision::ImageId],
    version: &str,
) -> String {
    let mut msg = with_body(subject, plan, version);
    for id in released {
        msg.push_str(&format!("{RELEASE_TRAILER}: {id}\n"));
    }
    msg
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

    fn one_image(old: &str, new: &str, from: Option<&str>) -> Plan {
        let id = ImageId::new("shop", "web");
        let mut p = Plan::default();
        p.changes.push(change(Some(id.clone()), old, new));
        p.outcomes.insert(
            id.clone(),
            Outcome::Updated {
                from: from.map(str::to_string),
            },
        );
        p.repositories.insert(id, "ghcr.io/acme/web".into());
        p
    }

    #[test]
    fn templates_see_the_documented_variables() {
        let p = one_image("1.0", "1.1", Some("1.0"));
        let t = "[{{ application }}] bump {{ image }} ({{ repository }}) {{ from }} -> {{ to }} in {{ files | join(', ') }}; {{ count }} image(s)";
        assert!(check_template(t).is_ok());
        assert!(commit_message(Some(t), &p, "x").starts_with(
            "[shop] bump web (ghcr.io/acme/web) 1.0 -> 1.1 in apps/a.yaml; 1 image(s)\n\n- shop/web: "
        ));
        let mut two = p.clone();
        let api = ImageId::new("billing", "api");
        two.changes.push(PlannedChange {
            file: "apps/b.yaml".into(),
            ..change(Some(api.clone()), "2.0", "2.1")
        });
        two.repositories.insert(api, "ghcr.io/acme/api".into());
        let t = "{{ application }}: {% for c in changes %}{{ c.image }} {{ c.from }}→{{ c.to }}{% if not loop.last %}, {% endif %}{% endfor %}";
        assert!(check_template(t).is_ok());
        assert!(
            commit_message(Some(t), &two, "x")
                .starts_with("shop, billing: web 1.0→1.1, api 2.0→2.1\n"),
            "{}",
            commit_message(Some(t), &two, "x")
        );
        assert!(commit_message(None, &two, "x").starts_with("chore(images): update 2 images\n"));
    }

    #[test]
    fn unknown_variables_and_bad_templates_are_errors() {
        let e = check_template("[{{ applicaton }}] bump").unwrap_err();
        assert!(
            matches!(&e, TemplateError::Unknown { name } if name == "applicaton"),
            "{e}"
        );
        assert!(e.to_string().contains("known: summary, application"), "{e}");
        let e = check_template("{% for c in changes %}{{ c.aplication }}{% endfor %}").unwrap_err();
        assert!(matches!(e, TemplateError::Render(_)), "{e}");
        let e = check_template("ok\n{{ summary ").unwrap_err();
        assert!(matches!(e, TemplateError::Syntax { line: 2, .. }), "{e}");
        assert!(check_template(DEFAULT_TEMPLATE).is_ok());
        assert!(check_template("chore: {{summary}}").is_ok());
    }

    #[test]
    fn a_digest_update_names_the_digests() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let p = one_image(
            &format!("ghcr.io/acme/web:latest@{a}"),
            &format!("ghcr.io/acme/web:latest@{b}"),
            Some("latest"),
        );
        let m = commit_message(None, &p, "x");
        assert!(
            m.starts_with("chore(images): shop/web: latest@sha256:aaaaaaaaaaaa → latest@sha256:bbbbbbbbbbbb\n"),
            "{m}"
        );
        assert!(
            commit_message(Some("{{ digest }}"), &p, "x").starts_with(&format!("{b}\n")),
            "digest is the full new digest"
        );
        // A bare digest field (kustomize `digest:`).
        let p = one_image(&a, &b, None);
        assert!(commit_message(None, &p, "x")
            .starts_with("chore(images): shop/web: sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb\n"));
    }
}
