//! Helm values: explicit paths from a policy, or auto-detected conventional blocks.
//!
//! **Explicit paths** ([`HelmPaths`] with any path set) are looked up from each document's
//! values root: the document itself for a values file, `spec.values` for a Flux
//! `HelmRelease`, `spec.source.helm.valuesObject` (and `spec.sources[N]…`) for an Argo CD
//! `Application`. See [`HelmPaths`] for what each path means and [`parse_path`] for the
//! syntax. A configured path missing from every document gives
//! [`EditError::NotFound`]; a `repository` that names another image is refused.
//!
//! **Auto-detection** (all paths `None`) edits every mapping, at any depth and in any
//! document (so `HelmRelease.spec.values` too), that is an image block naming the
//! update's repository: a repository key, a tag and/or digest key, an optional registry
//! key. The variants, from a survey of public charts' values files (fixtures in
//! `tests/data/edit/helm-variants.yaml` name their sources):
//!
//! - repository: `repository` (bitnami, the `helm create` scaffold, cert-manager,
//!   grafana), `imageRepository` (elastic's Elasticsearch chart), `image` holding a bare
//!   repository (ingress-nginx `{registry, image, tag, digest}`, gitlab-runner, elastic's
//!   `{image, imageTag}`), `name` holding a bare repository beside `tag`/`imageTag`
//!   (`{registry, name, tag}`);
//! - registry: `registry` or `imageRegistry`, prefixed unless empty or the repository
//!   already starts with it (`{registry: docker.io, repository: docker.io/bitnami/nginx}`);
//! - tag: `tag`, `imageTag` or `version`; digest: `digest`, `imageDigest`, or `sha`
//!   holding the sha256 hex alone (kube-prometheus-stack).
//!
//! It also edits any `image:` scalar holding a full reference to the repository
//! (`sidecar.image: nginx:1.2`); an `image:` holding a bare repository beside a tag key
//! is the block's repository and stays as written.
//!
//! In both modes: a tag update sets the tag; a digest update sets the digest key (refused
//! when the block has none, since the chart may not support digests); a tag-only update
//! clears a non-empty digest to `""`. A tag written as `tag@digest` (`tag: 1.2@sha256:…`)
//! is kept in that form and may carry the digest itself. Keys brought in by merge keys
//! (`<<: *defaults`) are not seen.

use super::yaml::{Kind, Node};
use super::{manifest, path_key, walk, Ctx, EditError, HelmPaths, Update};

/// One step of a values path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key (a numeric key also indexes a list).
    Key(String),
    /// A list index, written `[N]`.
    Index(usize),
}

/// Parses `a.b[0].c`, `a.b.0.c` or `a["dotted.key"].c` into segments.
pub fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let bad = |why: &str| Err(format!("invalid values path {path:?}: {why}"));
    let mut segs = Vec::new();
    let mut rest = path;
    let mut expect_key = true;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let close = match r.find(']') {
                Some(c) => c,
                None => return bad("unclosed ["),
            };
            let inner = &r[..close];
            if let Ok(n) = inner.parse::<usize>() {
                segs.push(Segment::Index(n));
            } else if inner.len() >= 2
                && ((inner.starts_with('"') && inner.ends_with('"'))
                    || (inner.starts_with('\'') && inner.ends_with('\'')))
            {
                segs.push(Segment::Key(inner[1..inner.len() - 1].to_string()));
            } else {
                return bad("expected [N] or [\"key\"]");
            }
            rest = &r[close + 1..];
            expect_key = false;
        } else if let Some(r) = rest.strip_prefix('.') {
            if expect_key {
                return bad("empty segment");
            }
            rest = r;
            expect_key = true;
            if rest.is_empty() {
                return bad("ends with .");
            }
        } else {
            if !expect_key {
                return bad("expected . or [ after a segment");
            }
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            segs.push(Segment::Key(rest[..end].to_string()));
            rest = &rest[end..];
            expect_key = false;
        }
    }
    if segs.is_empty() {
        return bad("empty path");
    }
    Ok(segs)
}

/// Follows `segs` from `node` (not through aliases, so an edit never lands in an anchor
/// elsewhere; a path that runs into an alias is reported as such).
fn lookup<'n>(node: &'n Node, segs: &[Segment]) -> Result<Option<&'n Node>, &'n Node> {
    let mut n = node;
    for s in segs {
        if matches!(n.kind, Kind::Alias(_)) {
            return Err(n);
        }
        let next = match (s, &n.kind) {
            (Segment::Key(k), Kind::Map(_)) => n.get(k),
            (Segment::Key(k), Kind::Seq(items)) => {
                k.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            (Segment::Index(i), Kind::Seq(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(x) => n = x,
            None => return Ok(None),
        }
    }
    Ok(Some(n))
}

/// The values roots of a document, with their path prefixes.
pub(crate) fn value_roots(doc: &Node) -> Vec<(&Node, String)> {
    let kind = doc.get("kind").and_then(Node::as_str);
    let api = doc.get("apiVersion").and_then(Node::as_str).unwrap_or("");
    match kind {
        Some("HelmRelease") => doc
            .get("spec")
            .and_then(|s| s.get("values"))
            .map(|v| vec![(v, "spec.values".to_string())])
            .unwrap_or_default(),
        Some("Application") if api.starts_with("argoproj.io/") => {
            let mut out = Vec::new();
            let spec = doc.get("spec");
            if let Some(v) = spec
                .and_then(|s| s.get("source"))
                .and_then(|s| s.get("helm"))
                .and_then(|h| h.get("valuesObject"))
            {
                out.push((v, "spec.source.helm.valuesObject".to_string()));
            }
            for (i, src) in spec
                .and_then(|s| s.get("sources"))
                .and_then(Node::items)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                if let Some(v) = src.get("helm").and_then(|h| h.get("valuesObject")) {
                    out.push((v, format!("spec.sources[{i}].helm.valuesObject")));
                }
            }
            out
        }
        _ => vec![(doc, String::new())],
    }
}

/// Joins a prefix and a user path for reporting.
fn join(prefix: &str, path: &str) -> String {
    if prefix.is_empty() {
        path.to_string()
    } else if path.starts_with('[') {
        format!("{prefix}{path}")
    } else {
        format!("{prefix}.{path}")
    }
}

/// The new text for a tag value, or `None` to leave it: `tag@digest` values keep that
/// form (and take the digest, see [`Update::digest_for`]); plain tags take the update's
/// tag. `Err` says why a pinned value cannot keep its pin.
pub(crate) fn new_tag_value(old: &str, u: &Update) -> Result<Option<String>, String> {
    if let Some((t, d)) = old.split_once('@') {
        let tag = u.tag.as_deref().unwrap_or(t);
        Ok(Some(match u.digest_for(Some(d))? {
            Some(d) => format!("{tag}@{d}"),
            None => tag.to_string(),
        }))
    } else {
        Ok(u.tag.clone())
    }
}

/// Edits Helm values by explicit paths, or by auto-detection when none is given.
pub(crate) fn edit(
    ctx: &mut Ctx<'_>,
    docs: &[Node],
    paths: &HelmPaths<'_>,
) -> Result<(), EditError> {
    if paths.is_auto() {
        for (d, doc) in docs.iter().enumerate() {
            walk(doc, "", &mut |node, path| edit_block(ctx, node, d, path))?;
        }
        return manifest::edit_image_keys(ctx, docs);
    }
    let parse = |p: Option<&str>| -> Result<Option<Vec<Segment>>, EditError> {
        p.map(parse_path)
            .transpose()
            .map_err(|e| ctx.invalid_target(e))
    };
    let segs = PathSegs {
        repository: parse(paths.repository)?,
        tag: parse(paths.tag)?,
        registry: parse(paths.registry)?,
        digest: parse(paths.digest)?,
    };
    let primary = paths
        .tag
        .or(paths.digest)
        .or(paths.repository)
        .ok_or_else(|| ctx.invalid_target("a registry path alone says nothing to edit"))?;
    let mut found = false;
    for (d, doc) in docs.iter().enumerate() {
        for (root, prefix) in value_roots(doc) {
            found |= edit_explicit(ctx, root, &prefix, d, paths, &segs)?;
        }
    }
    if !found {
        return Err(ctx.not_found(primary));
    }
    Ok(())
}

struct PathSegs {
    repository: Option<Vec<Segment>>,
    tag: Option<Vec<Segment>>,
    registry: Option<Vec<Segment>>,
    digest: Option<Vec<Segment>>,
}

/// Looks a configured path up; `Ok(None)` when absent, refused when it runs into an alias.
fn find<'n>(
    ctx: &Ctx<'_>,
    root: &'n Node,
    segs: &Option<Vec<Segment>>,
    name: Option<&str>,
) -> Result<Option<&'n Node>, EditError> {
    let Some(segs) = segs else { return Ok(None) };
    lookup(root, segs).map_err(|alias| {
        ctx.refuse(
            ctx.line(alias),
            format!(
                "{} runs into an alias; edit the anchored value instead",
                name.unwrap_or("")
            ),
        )
    })
}

/// Edits one values root by explicit paths; returns whether the primary path was there.
fn edit_explicit(
    ctx: &mut Ctx<'_>,
    root: &Node,
    prefix: &str,
    d: usize,
    paths: &HelmPaths<'_>,
    segs: &PathSegs,
) -> Result<bool, EditError> {
    let u = ctx.update();
    let full = |p: Option<&str>| join(prefix, p.unwrap_or(""));
    let repo = find(ctx, root, &segs.repository, paths.repository)?;
    let tag = find(ctx, root, &segs.tag, paths.tag)?;
    let digest = find(ctx, root, &segs.digest, paths.digest)?;

    // Full reference under `repository` when no tag and no digest path is given.
    if paths.tag.is_none() && paths.digest.is_none() {
        let Some(node) = repo else { return Ok(false) };
        let path = full(paths.repository);
        let value = node.resolved_str().unwrap_or("");
        if !u.matches(value) {
            return Err(ctx.refuse(
                ctx.line(node),
                format!("{path} is {value:?}, not a reference to {}", u.image.name()),
            ));
        }
        manifest::edit_reference(ctx, node, d, &path)?;
        return Ok(true);
    }
    let primary = if paths.tag.is_some() { tag } else { digest };
    if primary.is_none() {
        return Ok(false);
    }
    if let Some(rp) = paths.repository {
        let path = full(Some(rp));
        let node = repo.ok_or_else(|| ctx.not_found(&path))?;
        let registry = find(ctx, root, &segs.registry, paths.registry)?
            .and_then(|r| r.resolved().as_nonempty_str());
        let name = block_name(registry, node.resolved_str().unwrap_or(""));
        if !u.matches(&name) {
            return Err(ctx.refuse(
                ctx.line(node),
                format!("{path} names {name:?}, not {}", u.image.name()),
            ));
        }
    }
    if !u.leave.is_empty() && u.leaves(tag.and_then(Node::resolved_str)) {
        return Ok(true);
    }
    let mut digest_in_tag = false;
    if let (Some(tp), Some(node)) = (paths.tag, tag) {
        let path = full(Some(tp));
        let old = node.resolved_str().unwrap_or("");
        digest_in_tag = old.contains('@');
        let new = new_tag_value(old, u).map_err(|why| ctx.refuse(ctx.line(node), why))?;
        if let Some(new) = new {
            ctx.set(node, &new, d, &path)?;
        }
    }
    match (paths.digest, digest) {
        (Some(dp), None) => return Err(ctx.not_found(&full(Some(dp)))),
        (Some(dp), Some(node)) => set_digest(ctx, node, d, &full(Some(dp)))?,
        (None, _) => {
            if u.pins_everywhere() && !digest_in_tag {
                let line = tag.map_or(1, |t| ctx.line(t));
                return Err(ctx.refuse(
                    line,
                    "the update pins a digest but the policy gives no digest path for this file",
                ));
            }
        }
    }
    if paths.tag.is_none() && u.digest.is_none() {
        let line = digest.map_or(1, |n| ctx.line(n));
        return Err(ctx.refuse(
            line,
            "only a digest path is configured but the update has no digest",
        ));
    }
    Ok(true)
}

/// Sets a digest value (see [`Update::digest_for`]; `""` when it is dropped).
pub(crate) fn set_digest(
    ctx: &mut Ctx<'_>,
    node: &Node,
    d: usize,
    path: &str,
) -> Result<(), EditError> {
    let u = ctx.update();
    let new = u
        .digest_for(node.resolved_str())
        .map_err(|why| ctx.refuse(ctx.line(node), format!("{path}: {why}")))?;
    ctx.set(node, new.unwrap_or(""), d, path)
}

/// Keys that name the repository of an image block, in order of precedence. `image` and
/// `name` count only when their value is a bare repository (no tag, no digest), and
/// `name` only beside a `tag`/`imageTag` (a `{name, version}` pair is a chart
/// dependency as often as an image).
const REPOSITORY_KEYS: [&str; 4] = ["repository", "imageRepository", "image", "name"];
/// Keys of a registry host that prefixes the repository.
const REGISTRY_KEYS: [&str; 2] = ["registry", "imageRegistry"];
/// Keys that hold the tag.
const TAG_KEYS: [&str; 3] = ["tag", "imageTag", "version"];
/// Keys that hold the digest. `sha` holds the sha256 hex alone (kube-prometheus-stack
/// renders `@sha256:{{ .sha }}`).
const DIGEST_KEYS: [&str; 3] = ["digest", "imageDigest", "sha"];

/// The first of `keys` present in the mapping `node`, with its value.
fn first_key<'n>(node: &'n Node, keys: &[&'static str]) -> Option<(&'static str, &'n Node)> {
    keys.iter().find_map(|&k| node.get(k).map(|v| (k, v)))
}

/// True when the mapping has a tag or digest key of an image block: its `image:` is
/// then a repository the block editor handles, not a full reference.
pub(crate) fn has_version_key(node: &Node) -> bool {
    first_key(node, &TAG_KEYS).is_some() || first_key(node, &DIGEST_KEYS).is_some()
}

/// The repository a block names: `registry/repository`, or `repository` alone when the
/// registry is empty or the repository already starts with it
/// (`{registry: docker.io, repository: docker.io/bitnami/nginx}`).
pub(crate) fn block_name(registry: Option<&str>, repo: &str) -> String {
    match registry
        .map(|r| r.trim_end_matches('/'))
        .filter(|r| !r.is_empty())
    {
        Some(reg) if !repo.starts_with(&format!("{reg}/")) => format!("{reg}/{repo}"),
        _ => repo.to_string(),
    }
}

/// The keys of an image block: `{registry?, repository, tag?, digest?}` and the variants
/// listed in the module docs.
struct Block<'n> {
    repo: &'n str,
    registry: Option<&'n str>,
    tag: Option<(&'static str, &'n Node)>,
    digest: Option<(&'static str, &'n Node)>,
}

/// The image block `node` is, or `None` when it is not one.
fn block(node: &Node) -> Option<Block<'_>> {
    node.entries()?;
    let tag = first_key(node, &TAG_KEYS);
    let digest = first_key(node, &DIGEST_KEYS);
    if tag.is_none() && digest.is_none() {
        return None;
    }
    let repo = REPOSITORY_KEYS.iter().find_map(|&k| {
        let v = node.get(k)?.resolved().as_nonempty_str()?;
        let bare = || {
            let raw = crate::image::split_raw(v);
            raw.tag.is_none() && raw.digest.is_none()
        };
        let ok = match k {
            "image" => bare(),
            "name" => bare() && matches!(tag, Some(("tag" | "imageTag", _))),
            _ => true,
        };
        ok.then_some(v)
    })?;
    let registry = REGISTRY_KEYS
        .iter()
        .find_map(|&k| node.get(k).and_then(|r| r.resolved().as_nonempty_str()));
    Some(Block {
        repo,
        registry,
        tag,
        digest,
    })
}

/// Edits `node` if it is a conventional image block for the update's repository.
fn edit_block(ctx: &mut Ctx<'_>, node: &Node, d: usize, path: &str) -> Result<(), EditError> {
    let u = ctx.update();
    let Some(b) = block(node) else {
        return Ok(());
    };
    if !u.matches(&block_name(b.registry, b.repo)) {
        return Ok(());
    }
    if !u.leave.is_empty() && u.leaves(b.tag.and_then(|(_, t)| t.resolved_str())) {
        return Ok(());
    }
    let mut digest_in_tag = false;
    match b.tag {
        Some((key, t)) => {
            let old = t.resolved_str().unwrap_or("");
            digest_in_tag = old.contains('@');
            let new = new_tag_value(old, u).map_err(|why| ctx.refuse(ctx.line(t), why))?;
            if let Some(new) = new {
                ctx.set(t, &new, d, &path_key(path, key))?;
            }
        }
        None if u.tag.is_some() => {
            return Err(ctx.refuse(
                ctx.line(node),
                format!("the image block {path} has no tag key"),
            ))
        }
        None => {}
    }
    match b.digest {
        Some(("sha", n)) => {
            let old = n.resolved_str().filter(|s| !s.is_empty());
            let old = old.map(|h| format!("sha256:{h}"));
            let new = u
                .digest_for(old.as_deref())
                .map_err(|why| ctx.refuse(ctx.line(n), format!("{path}.sha: {why}")))?;
            let hex = match new {
                Some(dg) => dg.strip_prefix("sha256:").ok_or_else(|| {
                    ctx.refuse(
                        ctx.line(n),
                        format!("{path}.sha holds a sha256 digest; {dg} is not one"),
                    )
                })?,
                None => "",
            };
            ctx.set(n, hex, d, &path_key(path, "sha"))?;
        }
        Some((key, n)) => set_digest(ctx, n, d, &path_key(path, key))?,
        None if u.pins_everywhere() && !digest_in_tag => {
            let line = b.tag.map_or_else(|| ctx.line(node), |(_, t)| ctx.line(t));
            return Err(ctx.refuse(
                line,
                format!(
                    "the image block {path} has no digest key (the chart may not support digests); add `digest: \"\"` to pin digests"
                ),
            ));
        }
        None => {}
    }
    Ok(())
}
