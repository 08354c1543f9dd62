//! Kubernetes manifests: container images in pod templates, anywhere in any document.
//!
//! [`Target::Manifest`](super::Target::Manifest) looks for every mapping that holds a
//! `containers`, `initContainers` or `ephemeralContainers` list of mappings and edits
//! each item's `image` when it names the update's repository. That covers Pod
//! (`spec.containers`), Deployment, StatefulSet, DaemonSet, ReplicaSet and Job
//! (`spec.template.spec`), CronJob (`spec.jobTemplate.spec.template.spec`), Argo Rollout
//! and any other object embedding a pod spec, in every document of a multi-document file.
//!
//! [`Target::Auto`](super::Target::Auto) is broader: any scalar under a key named `image`
//! that parses as a reference to the repository (Helm values such as
//! `sidecar.image: nginx:1.2`, Tekton steps, Knative services, ...), and, for
//! `set-image`, any scalar whose whole value is a tagged or pinned reference to the
//! repository, under any key (`reference:` of image volumes, env values, list items).
//!
//! An `image:` that is an alias to a reference of the repository is refused; aliases to
//! other images are left alone.

use super::yaml::{Kind, Node};
use super::{helm, path_index, path_key, walk, Ctx, EditError};
use crate::image;

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Edits the `image` of every container of every pod template, or only of the containers
/// named `only` (`container:` of a policy target; one of that name must exist).
pub(crate) fn edit_containers(
    ctx: &mut Ctx<'_>,
    docs: &[Node],
    only: Option<&str>,
) -> Result<(), EditError> {
    let mut seen = false;
    for (d, doc) in docs.iter().enumerate() {
        walk(doc, "", &mut |node, path| {
            let Some(entries) = node.entries() else {
                return Ok(());
            };
            for (k, v) in entries {
                let Some(key) = k.as_str().filter(|k| CONTAINER_LISTS.contains(k)) else {
                    continue;
                };
                let Some(items) = v.items() else { continue };
                let list_path = path_key(path, key);
                for (i, item) in items.iter().enumerate() {
                    if only
                        .is_some_and(|c| item.get("name").and_then(Node::resolved_str) != Some(c))
                    {
                        continue;
                    }
                    seen = true;
                    if let Some(image) = item.get("image") {
                        let p = path_key(&path_index(&list_path, i), "image");
                        edit_reference(ctx, image, d, &p)?;
                    }
                }
            }
            Ok(())
        })?;
    }
    match only {
        Some(c) if !seen => Err(ctx.not_found(&format!("container {c:?}"))),
        _ => Ok(()),
    }
}

/// Edits every scalar under a key named `image` that names the repository, except a bare
/// repository beside a tag or digest key (`{image: nginx, tag: 1.2}`): that is a Helm
/// image block, whose tag the block editor changes.
pub(crate) fn edit_image_keys(ctx: &mut Ctx<'_>, docs: &[Node]) -> Result<(), EditError> {
    for (d, doc) in docs.iter().enumerate() {
        walk(doc, "", &mut |node, path| {
            if let Some(v) = node.get("image") {
                if is_bare(v) && helm::has_version_key(node) {
                    return Ok(());
                }
                edit_reference(ctx, v, d, &path_key(path, "image"))?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// True when `node` reads as a repository without tag and digest.
fn is_bare(node: &Node) -> bool {
    node.resolved_str().is_some_and(|s| {
        let raw = image::split_raw(s.trim());
        raw.tag.is_none() && raw.digest.is_none()
    })
}

/// Keys under which even a bare repository (no tag, no digest) is a full reference:
/// the value is pulled as it reads (`:latest`).
const REFERENCE_KEYS: [&str; 2] = ["image", "reference"];

/// `set-image` only: edits every scalar, under any key or in any list, whose whole value
/// is a reference to the update's repository with a tag or digest (the user named the
/// image, so matching the value is safe), and under `reference:` (Kubernetes image
/// volumes) even without one. Bare names elsewhere (`name: nginx`, kustomize
/// `images[].name`) are not references. Aliases are skipped: their anchored value is
/// edited where it is written. Keys are never edited.
pub(crate) fn edit_reference_values(ctx: &mut Ctx<'_>, docs: &[Node]) -> Result<(), EditError> {
    let candidate = |node: &Node, key: Option<&str>| {
        matches!(node.kind, Kind::Scalar(_))
            && (!is_bare(node) || key.is_some_and(|k| REFERENCE_KEYS.contains(&k)))
    };
    for (d, doc) in docs.iter().enumerate() {
        walk(doc, "", &mut |node, path| {
            match &node.kind {
                Kind::Map(m) => {
                    for (k, v) in m.iter() {
                        let key = k.as_str();
                        // `image:` has its own rules (edit_image_keys).
                        if key != Some("image") && candidate(v, key) {
                            edit_reference(ctx, v, d, &path_key(path, key.unwrap_or("?")))?;
                        }
                    }
                }
                Kind::Seq(items) => {
                    for (i, v) in items.iter().enumerate() {
                        if candidate(v, None) {
                            edit_reference(ctx, v, d, &path_index(path, i))?;
                        }
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Rewrites `node` if it holds a full reference to the update's repository (refusing
/// aliases and unspliceable scalars that do); anything else is left alone.
pub(crate) fn edit_reference(
    ctx: &mut Ctx<'_>,
    node: &Node,
    doc: usize,
    path: &str,
) -> Result<(), EditError> {
    let update = ctx.update();
    let Some(value) = node.resolved_str().map(str::trim) else {
        return Ok(());
    };
    if !update.matches(value) || update.leaves(image::split_raw(value).tag) {
        return Ok(());
    }
    match &node.kind {
        Kind::Scalar(s) => {
            let new = update
                .rewrite_reference(&s.value)
                .map_err(|why| ctx.refuse(ctx.line(node), format!("{path}: {why}")))?;
            ctx.set(node, &new, doc, path)
        }
        // `set` refuses aliases with a clear message.
        _ => ctx.set(node, value, doc, path),
    }
}
