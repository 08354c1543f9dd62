//! Kustomize `images:` entries.
//!
//! An entry matches when its `newName` (or, without one, its `name`) names the update's
//! repository, compared normalised. A tag update sets `newTag`; a digest update sets
//! `digest`; a tag-only update removes a stale `digest` line; a digest-only update keeps
//! `newTag`. A missing `newTag`/`digest` key is added on a new line after the entry's
//! last key, with the same indentation and line ending (in the quote style of the
//! entry's `name` value when that is quoted; plain when the value reads as a string,
//! double-quoted otherwise, e.g. `newTag: "1.2"`). No new `images:` entry is ever
//! created: a kustomization that does not mention the image is left alone.
//!
//! Flow-style entries (`- {name: nginx, newTag: "1.2"}`) are edited in place, but a key
//! cannot be added to or removed from them: that is refused.

use super::yaml::{Kind, Node};
use super::{path_index, path_key, Ctx, EditError};
use saphyr_parser::ScalarStyle;

/// True for `kustomization.yaml`, `kustomization.yml` and `Kustomization` (any directory).
pub fn is_kustomization_file(file_name: &str) -> bool {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    matches!(
        base,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

/// Edits the `images:` list of every document.
pub(crate) fn edit(ctx: &mut Ctx<'_>, docs: &[Node]) -> Result<(), EditError> {
    for (d, doc) in docs.iter().enumerate() {
        edit_doc(ctx, doc, d)?;
    }
    Ok(())
}

/// Edits only documents whose `kind` is `Kustomization` or `Component`.
pub(crate) fn edit_kustomization_kinds(ctx: &mut Ctx<'_>, docs: &[Node]) -> Result<(), EditError> {
    for (d, doc) in docs.iter().enumerate() {
        if matches!(
            doc.get("kind").and_then(Node::as_str),
            Some("Kustomization" | "Component")
        ) {
            edit_doc(ctx, doc, d)?;
        }
    }
    Ok(())
}

fn edit_doc(ctx: &mut Ctx<'_>, doc: &Node, d: usize) -> Result<(), EditError> {
    let Some(items) = doc.get("images").and_then(Node::items) else {
        return Ok(());
    };
    for (i, entry) in items.iter().enumerate() {
        if entry.entries().is_some() {
            edit_entry(ctx, entry, d, &path_index("images", i))?;
        }
    }
    Ok(())
}

fn quote_style(n: &Node) -> Option<ScalarStyle> {
    match &n.kind {
        Kind::Scalar(s)
            if matches!(
                s.style,
                ScalarStyle::DoubleQuoted | ScalarStyle::SingleQuoted
            ) =>
        {
            Some(s.style)
        }
        _ => None,
    }
}

fn edit_entry(ctx: &mut Ctx<'_>, entry: &Node, d: usize, path: &str) -> Result<(), EditError> {
    let update = ctx.update();
    let name = entry
        .get("newName")
        .and_then(|n| n.resolved().as_nonempty_str())
        .or_else(|| {
            entry
                .get("name")
                .and_then(|n| n.resolved().as_nonempty_str())
        });
    if !name.is_some_and(|n| update.matches(n)) {
        return Ok(());
    }
    if update.leaves(entry.get("newTag").and_then(Node::resolved_str)) {
        return Ok(());
    }
    let quote = ["newTag", "digest", "newName", "name"]
        .iter()
        .find_map(|k| entry.get(k).and_then(quote_style));
    let tag_node = entry.get("newTag");
    let digest_node = entry.get("digest");
    let old_digest = digest_node.and_then(|n| n.resolved_str());
    let new_digest = update
        .digest_for(old_digest)
        .map_err(|why| ctx.refuse(ctx.line(entry), format!("{path}: {why}")))?;
    let drop_digest = new_digest.is_none() && old_digest.is_some_and(|s| !s.is_empty());
    if let Some(t) = &update.tag {
        match tag_node {
            Some(n) => ctx.set(n, t, d, &path_key(path, "newTag"))?,
            None => {
                let skip = drop_digest.then_some("digest");
                ctx.add_key(entry, "newTag", t, quote, skip, d, path)?
            }
        }
    }
    match (new_digest, digest_node) {
        (Some(dg), Some(n)) => ctx.set(n, dg, d, &path_key(path, "digest"))?,
        (Some(dg), None) => ctx.add_key(entry, "digest", dg, quote, None, d, path)?,
        (None, Some(_)) if drop_digest => ctx.delete_key(entry, "digest", d, path)?,
        (None, _) => {}
    }
    Ok(())
}
