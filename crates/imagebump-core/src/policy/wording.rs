//! serde's words made a user's: `expected struct GitSection` names a Rust type the user
//! never wrote. Each known type is replaced by what the key expects, with an example;
//! an unknown one by "a mapping"; Rust's number types by "a number".

/// What the policy file's own types expect, for [`describe_types`].
pub const POLICY_TYPES: &[(&str, &str)] = &[
    (
        "PolicyFile",
        "a mapping with `application:` and `images:`",
    ),
    (
        "TopCheck",
        "a mapping with `application:` and `images:`",
    ),
    (
        "RawImagePolicy",
        "an image, a mapping such as {repository: ghcr.io/org/app, semver: '^1.0.0'}",
    ),
    (
        "ImagePolicy",
        "an image, a mapping such as {repository: ghcr.io/org/app, semver: '^1.0.0'}",
    ),
    (
        "RawTarget",
        "a target, a mapping such as {manifest: apps/app/deployment.yaml}",
    ),
    (
        "CheckedTarget",
        "a target, a mapping such as {manifest: apps/app/deployment.yaml}",
    ),
    (
        "RawHelm",
        "a mapping such as {file: apps/app/values.yaml, repository: image.repository, tag: image.tag}",
    ),
    (
        "RawTags",
        "a mapping such as {pattern: '^main-(?P<ts>[0-9]+)$', extract: '$ts', order: numerical}",
    ),
];

/// Rust's primitive type names as serde prints them after "expected ".
const PRIMITIVES: &[(&str, &str)] = &[
    ("f64", "a number"),
    ("f32", "a number"),
    ("u64", "a whole number"),
    ("u32", "a whole number"),
    ("u16", "a whole number"),
    ("u8", "a whole number"),
    ("usize", "a whole number"),
    ("i64", "a whole number"),
    ("i32", "a whole number"),
    ("a boolean", "true or false"),
];

/// Rewrites `struct NAME`, `enum NAME` and primitive type names in a serde message with
/// the descriptions in `names` (then [`POLICY_TYPES`]).
pub fn describe_types(message: &str, names: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = find_type_word(rest) {
        let (before, at) = rest.split_at(i);
        out.push_str(before);
        let word_len = if at.starts_with("struct ") { 7 } else { 5 };
        let after = &at[word_len..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..end];
        let described = names
            .iter()
            .chain(POLICY_TYPES)
            .find(|(n, _)| *n == name)
            .map_or("a mapping", |(_, d)| d);
        out.push_str(described);
        rest = &after[end..];
    }
    out.push_str(rest);
    if let Some(i) = out.find("expected ") {
        let tail = &out[i + "expected ".len()..];
        for (rust, words) in PRIMITIVES {
            let whole = tail.strip_prefix(rust).is_some_and(|r| {
                r.is_empty() || r.starts_with(|c: char| !c.is_ascii_alphanumeric())
            });
            if whole {
                let r = &tail[rust.len()..];
                return format!("{}expected {words}{r}", &out[..i]);
            }
        }
    }
    out
}

/// Where `struct X` or `enum X` starts, as serde's "expected …" words print them.
fn find_type_word(s: &str) -> Option<usize> {
    let a = s.find("struct ");
    let b = s.find("enum ");
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_type_names_become_what_the_key_expects() {
        let m = describe_types(
            "git: invalid type: string \"x\", expected struct GitSection",
            &[("GitSection", "a mapping such as {url: https://h/r.git}")],
        );
        assert_eq!(
            m,
            "git: invalid type: string \"x\", expected a mapping such as {url: https://h/r.git}"
        );
        let m = describe_types("invalid type: string \"x\", expected struct RawTarget", &[]);
        assert!(m.contains("a target, a mapping such as {manifest:"), "{m}");
        let m = describe_types("expected struct Unknown", &[]);
        assert_eq!(m, "expected a mapping");
        let m = describe_types(
            "rateLimit: invalid type: string \"fast\", expected f64",
            &[],
        );
        assert_eq!(
            m,
            "rateLimit: invalid type: string \"fast\", expected a number"
        );
        let m = describe_types("invalid type: string \"y\", expected a boolean", &[]);
        assert!(m.ends_with("expected true or false"), "{m}");
        // Text without type names stays as it is.
        let m = describe_types("unknown field `semverr`, expected one of `a`, `b`", &[]);
        assert_eq!(m, "unknown field `semverr`, expected one of `a`, `b`");
    }
}
