//! Argo CD parameter overrides: `.argocd-source-<app>.yaml` files and `Application`
//! sources.
//!
//! A source is the root of a `.argocd-source*.yaml` file, or `spec.source` /
//! `spec.sources[N]` of an `argoproj.io` `Application`. Two kinds of overrides are edited:
//!
//! - `kustomize.images`: strings `[OLD=]NAME[:TAG][@DIGEST]`. The entry matches when
//!   `NAME` (the part after `=`, if any) names the update's repository; its tag/digest is
//!   rewritten like any reference and `OLD=` is kept.
//! - `helm.parameters`: entries `{name, value[, forcestring]}`. With explicit
//!   [`HelmPaths`], the parameter named like the `tag` path takes the tag, the one named
//!   like `digest` the digest, and the one named like `repository` is checked (or, with
//!   no tag/digest path, rewritten as a full reference). Without paths, parameters are
//!   grouped by prefix: `P.tag` is set when `P.repository` or `P.name` (prefixed by
//!   `P.registry` when present) names the repository, and `P.digest` follows; a
//!   parameter named `image` or `P.image` holding a reference to the repository is
//!   rewritten.
//!
//! Only existing entries are updated; missing ones are never added (Argo CD then uses
//! the manifests' or chart's own value, which the other targets edit).

use super::helm::{new_tag_value, set_digest};
use super::yaml::Node;
use super::{manifest, path_index, path_key, Ctx, EditError, HelmPaths};

/// True for `.argocd-source.yaml` and `.argocd-source-<app>.yaml` (or `.yml`).
pub fn is_argocd_source_file(file_name: &str) -> bool {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    base.starts_with(".argocd-source") && (base.ends_with(".yaml") || base.ends_with(".yml"))
}

/// The Argo CD sources of a document: `spec.source(s)` of an Application, otherwise the
/// document root.
fn sources(doc: &Node) -> Vec<(&Node, String)> {
    let kind = doc.get("kind").and_then(Node::as_str);
    let api = doc.get("apiVersion").and_then(Node::as_str).unwrap_or("");
    if kind == Some("Application") && api.starts_with("argoproj.io/") {
        let spec = doc.get("spec");
        let mut out: Vec<(&Node, String)> = spec
            .and_then(|s| s.get("source"))
            .map(|s| (s, "spec.source".to_string()))
            .into_iter()
            .collect();
        if let Some(items) = spec.and_then(|s| s.get("sources")).and_then(Node::items) {
            out.extend(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s, format!("spec.sources[{i}]"))),
            );
        }
        out
    } else {
        vec![(doc, String::new())]
    }
}

/// Edits every source of every document.
pub(crate) fn edit(
    ctx: &mut Ctx<'_>,
    docs: &[Node],
    paths: &HelmPaths<'_>,
) -> Result<(), EditError> {
    for (d, doc) in docs.iter().enumerate() {
        for (src, prefix) in sources(doc) {
            edit_source(ctx, src, &prefix, d, paths)?;
        }
    }
    Ok(())
}

/// For [`Target::Auto`](super::Target::Auto): Argo CD source files by name, and
/// Application documents in any file.
pub(crate) fn edit_detected(
    ctx: &mut Ctx<'_>,
    docs: &[Node],
    file_name: &str,
) -> Result<(), EditError> {
    let auto = HelmPaths::default();
    if is_argocd_source_file(file_name) {
        return edit(ctx, docs, &auto);
    }
    for (d, doc) in docs.iter().enumerate() {
        if doc.get("kind").and_then(Node::as_str) == Some("Application") {
            for (src, prefix) in sources(doc) {
                if !prefix.is_empty() {
                    edit_source(ctx, src, &prefix, d, &auto)?;
                }
            }
        }
    }
    Ok(())
}

fn edit_source(
    ctx: &mut Ctx<'_>,
    src: &Node,
    prefix: &str,
    d: usize,
    paths: &HelmPaths<'_>,
) -> Result<(), EditError> {
    let u = ctx.update();
    let kpath = path_key(&path_key(prefix, "kustomize"), "images");
    if let Some(images) = src
        .get("kustomize")
        .and_then(|k| k.get("images"))
        .and_then(Node::items)
    {
        for (i, item) in images.iter().enumerate() {
            let Some(value) = item.resolved_str() else {
                continue;
            };
            let (old, right) = match value.split_once('=') {
                Some((l, r)) => (Some(l), r),
                None => (None, value),
            };
            if !u.matches(right.trim()) {
                continue;
            }
            let rewritten = u
                .rewrite_reference(right)
                .map_err(|why| ctx.refuse(ctx.line(item), why))?;
            let new = match old {
                Some(l) => format!("{l}={rewritten}"),
                None => rewritten,
            };
            ctx.set(item, &new, d, &path_index(&kpath, i))?;
        }
    }
    let ppath = path_key(&path_key(prefix, "helm"), "parameters");
    let Some(params) = src
        .get("helm")
        .and_then(|h| h.get("parameters"))
        .and_then(Node::items)
    else {
        return Ok(());
    };
    // (name, value node, path of the value)
    let params: Vec<(&str, &Node, String)> = params
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let name = p.get("name")?.resolved_str()?;
            let value = p.get("value")?;
            Some((name, value, path_key(&path_index(&ppath, i), "value")))
        })
        .collect();
    let get = |n: &str| params.iter().find(|(name, _, _)| *name == n);
    if !paths.is_auto() {
        if paths.tag.is_none() && paths.digest.is_none() {
            if let Some((_, v, p)) = paths.repository.and_then(get) {
                manifest::edit_reference(ctx, v, d, p)?;
            }
            return Ok(());
        }
        let tag = paths.tag.and_then(get);
        let digest = paths.digest.and_then(get);
        if tag.is_none() && digest.is_none() {
            return Ok(());
        }
        if let Some((name, v, _)) = paths.repository.and_then(get) {
            let mut full = v.resolved_str().unwrap_or("").to_string();
            if let Some(reg) = paths
                .registry
                .and_then(get)
                .and_then(|(_, r, _)| r.resolved().as_nonempty_str())
            {
                full = format!("{}/{full}", reg.trim_end_matches('/'));
            }
            if !u.matches(&full) {
                return Err(ctx.refuse(
                    ctx.line(v),
                    format!("parameter {name} names {full:?}, not {}", u.image.name()),
                ));
            }
        }
        return set_pair(ctx, tag, digest, d);
    }
    for (name, v, p) in &params {
        if (*name == "image" || name.ends_with(".image")) && v.resolved_str().is_some() {
            manifest::edit_reference(ctx, v, d, p)?;
        }
    }
    for (name, _, _) in &params {
        let Some(pre) = name
            .strip_suffix("tag")
            .filter(|p| p.is_empty() || p.ends_with('.'))
        else {
            continue;
        };
        let repo = get(&format!("{pre}repository")).or_else(|| get(&format!("{pre}name")));
        let Some(repo) = repo.and_then(|(_, r, _)| r.resolved().as_nonempty_str()) else {
            continue;
        };
        let full = match get(&format!("{pre}registry"))
            .and_then(|(_, r, _)| r.resolved().as_nonempty_str())
        {
            Some(reg) => format!("{}/{repo}", reg.trim_end_matches('/')),
            None => repo.to_string(),
        };
        if u.matches(&full) {
            set_pair(ctx, get(name), get(&format!("{pre}digest")), d)?;
        }
    }
    Ok(())
}

/// Sets a tag parameter and a digest parameter (either may be absent).
fn set_pair(
    ctx: &mut Ctx<'_>,
    tag: Option<&(&str, &Node, String)>,
    digest: Option<&(&str, &Node, String)>,
    d: usize,
) -> Result<(), EditError> {
    let u = ctx.update();
    let mut digest_in_tag = false;
    if let Some((_, v, p)) = tag {
        let old = v.resolved_str().unwrap_or("");
        digest_in_tag = old.contains('@');
        let new = new_tag_value(old, u).map_err(|why| ctx.refuse(ctx.line(v), why))?;
        if let Some(new) = new {
            ctx.set(v, &new, d, p)?;
        }
    }
    match digest {
        Some((_, v, p)) => set_digest(ctx, v, d, p),
        None if u.pins_everywhere() && !digest_in_tag => {
            let line = tag.map_or(1, |(_, v, _)| ctx.line(v));
            Err(ctx.refuse(
                line,
                "the update pins a digest but there is no digest parameter to hold it",
            ))
        }
        None => Ok(()),
    }
}
