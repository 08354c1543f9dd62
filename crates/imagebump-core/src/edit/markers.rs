//! Flux image-automation setter markers, as a drop-in for Flux users.
//!
//! A marker is a comment at the end of a line, `# {"$imagepolicy": "NS:NAME"}`, with an
//! optional field suffix: `"NS:NAME:tag"`, `"NS:NAME:name"`, `"NS:NAME:digest"`. It
//! selects the scalar value on its line (the last value that ends before the comment);
//! only markers of the target's policy id `NS:NAME` are acted on, wherever they are in
//! the file (any YAML: manifests, values, kustomizations, HelmReleases).
//!
//! - no suffix: the value is a full reference; it must name the update's repository
//!   (refused otherwise) and is rewritten like any reference;
//! - `:tag`: the value is set to the new tag (a `tag@digest` value keeps that form);
//!   a digest-only update leaves it alone;
//! - `:name`: the value must name the update's repository (refused otherwise); it is
//!   never changed, since the repository stays as written;
//! - `:digest`: set to the new digest; a tag-only update clears a stale one to `""`.
//!
//! A marker that sits beside no value (or inside a quoted string or a block scalar) is
//! not a marker; one beside an alias, a block scalar header or a multi-line value is
//! refused.

use std::sync::LazyLock;

use regex::Regex;

use super::helm::new_tag_value;
use super::yaml::{Kind, Node};
use super::{walk, Ctx, EditError};

static MARKER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"#\s*\{\s*"\$imagepolicy"\s*:\s*"([^"]*)"\s*\}"#).unwrap());

/// Which part of the reference a marker's value holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Full,
    Tag,
    Name,
    Digest,
}

/// Splits a marker's policy string into (`ns:name`, field).
fn parse_marker(s: &str) -> Option<(&str, Field)> {
    let mut parts = s.splitn(3, ':');
    let (ns, name) = (parts.next()?, parts.next()?);
    if ns.is_empty() || name.is_empty() {
        return None;
    }
    let field = match parts.next() {
        None => Field::Full,
        Some("tag") => Field::Tag,
        Some("name") => Field::Name,
        Some("digest") => Field::Digest,
        Some(_) => return None,
    };
    Some((&s[..ns.len() + 1 + name.len()], field))
}

/// A value node with where it sits.
struct Value<'n> {
    node: &'n Node,
    doc: usize,
    path: String,
    line: usize,
    end: usize,
}

/// Edits every value marked for `policy` (`namespace:name`).
pub(crate) fn edit(ctx: &mut Ctx<'_>, docs: &[Node], policy: &str) -> Result<(), EditError> {
    if !matches!(parse_marker(policy), Some((p, Field::Full)) if p == policy) {
        return Err(ctx.invalid_target(format!(
            "policy id {policy:?} is not of the form namespace:name"
        )));
    }
    let text = ctx.src.text;
    if !text.contains("$imagepolicy") {
        return Ok(());
    }
    // Every value (candidates), and every byte range that is not a comment.
    let mut values = Vec::new();
    let mut opaque: Vec<(usize, usize)> = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        collect_keys(doc, &mut opaque);
        walk(doc, "", &mut |node, path| {
            match &node.kind {
                Kind::Scalar(s) => {
                    let (line, end) = match s.raw {
                        Ok((a, b)) => {
                            opaque.push((a, b));
                            (ctx.src.line_of(a), b)
                        }
                        // Not spliceable: still a candidate, so that `set` refuses it by name.
                        Err(_) => {
                            opaque.push((node.start, node.end));
                            (ctx.line(node), 0)
                        }
                    };
                    values.push(Value {
                        node,
                        doc: d,
                        path: path.to_string(),
                        line,
                        end,
                    });
                }
                Kind::Alias(_) => {
                    let end = node.start
                        + text[node.start..]
                            .find(|c: char| c.is_whitespace() || ",]}".contains(c))
                            .unwrap_or(text.len() - node.start);
                    values.push(Value {
                        node,
                        doc: d,
                        path: path.to_string(),
                        line: ctx.src.line_of(node.start),
                        end,
                    });
                }
                _ => {}
            }
            Ok(())
        })?;
    }
    for m in MARKER.captures_iter(text) {
        let whole = m.get(0).expect("match");
        let hash = whole.start();
        if opaque.iter().any(|&(a, b)| a <= hash && hash < b) {
            continue;
        }
        let Some((id, field)) = parse_marker(&m[1]) else {
            continue;
        };
        if id != policy {
            continue;
        }
        let line = ctx.src.line_of(hash);
        let Some(v) = values
            .iter()
            .filter(|v| v.line == line && v.end <= hash)
            .max_by_key(|v| v.node.start)
        else {
            return Err(ctx.refuse(
                line,
                format!("the {:?} marker is not beside a value on its line", &m[1]),
            ));
        };
        apply(ctx, v, field)?;
    }
    Ok(())
}

/// Key scalars are never candidates, but a `#` inside one is not a comment either.
fn collect_keys(node: &Node, out: &mut Vec<(usize, usize)>) {
    match &node.kind {
        Kind::Map(m) => {
            for (k, v) in m.iter() {
                if let Kind::Scalar(s) = &k.kind {
                    if let Ok(r) = s.raw {
                        out.push(r);
                    }
                }
                collect_keys(k, out);
                collect_keys(v, out);
            }
        }
        Kind::Seq(items) => items.iter().for_each(|i| collect_keys(i, out)),
        _ => {}
    }
}

fn apply(ctx: &mut Ctx<'_>, v: &Value<'_>, field: Field) -> Result<(), EditError> {
    // A marker for this policy is a reference to its image even when nothing changes.
    ctx.found(v.node);
    let u = ctx.update();
    let value = v.node.resolved_str().unwrap_or("").trim();
    let mismatch = |ctx: &Ctx<'_>| {
        ctx.refuse(
            v.line,
            format!(
                "{} is {value:?}, which does not name {} (the policy's image)",
                v.path,
                u.image.name()
            ),
        )
    };
    match field {
        Field::Full => {
            if !u.matches(value) {
                return Err(mismatch(ctx));
            }
            let new = u
                .rewrite_reference(value)
                .map_err(|why| ctx.refuse(v.line, format!("{}: {why}", v.path)))?;
            ctx.set(v.node, &new, v.doc, &v.path)
        }
        Field::Name => {
            if !u.matches(value) {
                return Err(mismatch(ctx));
            }
            Ok(())
        }
        Field::Tag => match new_tag_value(value, u).map_err(|why| ctx.refuse(v.line, why))? {
            Some(new) => ctx.set(v.node, &new, v.doc, &v.path),
            None => Ok(()),
        },
        Field::Digest => {
            let new = u
                .digest_for(Some(value))
                .map_err(|why| ctx.refuse(v.line, format!("{}: {why}", v.path)))?;
            ctx.set(v.node, new.unwrap_or(""), v.doc, &v.path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_ids() {
        assert_eq!(parse_marker("ns:app"), Some(("ns:app", Field::Full)));
        assert_eq!(parse_marker("ns:app:tag"), Some(("ns:app", Field::Tag)));
        assert_eq!(parse_marker("ns:app:name"), Some(("ns:app", Field::Name)));
        assert_eq!(
            parse_marker("ns:app:digest"),
            Some(("ns:app", Field::Digest))
        );
        assert_eq!(parse_marker("ns:app:other"), None);
        assert_eq!(parse_marker("app"), None);
        assert_eq!(parse_marker(":app"), None);
    }
}
