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
//! `sidecar.image: nginx:1.2`, Tekton steps, Knative services, ...).
//!
//! An `image:` that is an alias to a reference of the repository is refused; aliases to
//! other images are left alone.

use super::yaml::{Kind, Node};
use super::{path_index, path_key, walk, Ctx, EditError};

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Edits the `image` of every container of every pod template.
pub(crate) fn edit_containers(ctx: &mut Ctx<'_>, docs: &[Node]) -> Result<(), EditError> {
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
                    if let Some(image) = item.get("image") {
                        let p = path_key(&path_index(&list_path, i), "image");
                        edit_reference(ctx, image, d, &p)?;
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Edits every scalar under a key named `image` that names the repository.
pub(crate) fn edit_image_keys(ctx: &mut Ctx<'_>, docs: &[Node]) -> Result<(), EditError> {
    for (d, doc) in docs.iter().enumerate() {
        walk(doc, "", &mut |node, path| {
            if let Some(v) = node.get("image") {
                edit_reference(ctx, v, d, &path_key(path, "image"))?;
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
    if !update.matches(value) {
        return Ok(());
    }
    match &node.kind {
        Kind::Scalar(s) => {
            let new = update.rewrite_reference(&s.value);
            ctx.set(node, &new, doc, path)
        }
        // `set` refuses aliases with a clear message.
        _ => ctx.set(node, value, doc, path),
    }
}
