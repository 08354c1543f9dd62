//! Pure, in-place editors for image references in GitOps files.
//!
//! [`edit`] takes a file's text, a [`Target`] (which kind of reference to look for) and an
//! [`Update`] (which repository, which new tag and/or digest) and returns the new text
//! plus the list of [`Change`]s, or an [`EditError`] naming `file:line` when a safe edit
//! is impossible. No I/O happens here.
//!
//! # Only the value's bytes change
//!
//! The file is never re-serialised. A YAML parser locates the scalar to change, and the
//! new value is spliced into the original text, so comments, key order, indentation,
//! quote style (`"x"`, `'x'`, plain), blank lines, trailing spaces, `---` separators, flow
//! collections, anchors, CRLF line endings, a missing final newline and non-ASCII text
//! all survive byte for byte. JSON is YAML, so JSON files are edited the same way (their
//! double quotes are kept).
//!
//! The parser is `saphyr-parser` (0.3), chosen because it is the one maintained Rust YAML
//! parser whose event API reports a span per node: `serde_norway`/`serde_yaml` give
//! values without positions, and `yaml-rust2` gives only start markers. Two quirks are
//! handled in the private `yaml` module: its `Marker::index()` counts characters, not
//! bytes, and the span of a quoted scalar in block context runs to the end of the line
//! (over a trailing comment), so the closing quote is found by scanning from the opening
//! one.
//!
//! # Refusals
//!
//! Rather than reformat anything, an edit is refused ([`EditError::Refused`]) when the
//! value to change is an alias (`*img`), a block scalar (`|`, `>`), a plain scalar over
//! several lines, a quoted scalar written with escapes or over several lines, an empty
//! (null) value, or when the new value would need quoting or escaping it does not have
//! (`tag: latest` → `1.10` would turn a string into a number; a plain number may only be
//! replaced by a number that reads back unchanged). A refusal aborts the whole file: no
//! partial edit is returned. Anchored values (`&img nginx:1.2`) are edited where they are
//! written, which also changes every alias of them.
//!
//! # Rules for the new value
//!
//! - A tag-only update replaces the tag and drops a stale digest
//!   (`nginx:1.2@sha256:…` → `nginx:1.3`); a tag+digest update writes both; a digest-only
//!   update pins the digest and keeps the tag (`nginx:1.2` → `nginx:1.2@sha256:…`).
//! - The repository part stays as the file wrote it (`nginx` stays `nginx` even when the
//!   update names `docker.io/library/nginx`). Repositories are compared normalised.
//!
//! # Targets
//!
//! See [`Target`]; each kind lives in its own module: [`manifest`], [`kustomize`],
//! [`helm`], [`markers`], [`argo`].

pub mod argo;
pub mod budget;
pub mod helm;
pub mod kustomize;
pub mod locate;
pub mod manifest;
pub mod markers;
mod scalar;
mod update;
pub(crate) mod yaml;

pub use update::{Pins, Update};

use saphyr_parser::ScalarStyle;
use yaml::{Kind, Node, Source};

/// One value that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// 1-based line in the original text. For an added key it is the line the new key was
    /// inserted after; for a removed key, the removed line.
    pub line: usize,
    /// 0-based index of the YAML document in the file.
    pub document: usize,
    /// Where the value sits in its document, dotted with `[N]` for list items
    /// (`spec.template.spec.containers[0].image`); keys with dots are written `["a.b"]`.
    pub path: String,
    /// The value as it was (unquoted); empty for an added key.
    pub old: String,
    /// The value as it is now (unquoted); empty for a removed key.
    pub new: String,
}

/// The result of a successful edit. `changes` is empty (and `text` equals the input)
/// when nothing needed changing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    /// The whole new file text.
    pub text: String,
    /// What changed, in file order.
    pub changes: Vec<Change>,
    /// How many values naming the update's image the target found, changed or not. Zero
    /// means the file does not mention the image at all (a wrong host or path), which a
    /// caller must not mistake for "already up to date".
    pub matched: usize,
    /// 1-based lines of those values (where a hold marker, [`crate::hold`], is looked for).
    pub lines: std::collections::BTreeSet<usize>,
}

/// Why a file could not be edited. `Display` starts with `file:line` where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// A value to change cannot be changed in place without reformatting or changing meaning.
    #[error("{file}:{line}: refusing to edit: {reason}")]
    Refused {
        /// The file name given to [`edit`].
        file: String,
        /// 1-based line of the value.
        line: usize,
        /// Why, in words.
        reason: String,
    },
    /// The file is not valid YAML (or JSON).
    #[error("{file}:{line}:{col}: not valid YAML: {message}")]
    Parse {
        /// The file name given to [`edit`].
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        col: usize,
        /// The parser's message.
        message: String,
    },
    /// The file passes a limit of [`budget`] (size, depth, nodes, aliases); it is not
    /// edited, and a plan goes on with the other files.
    #[error("{file}:{line}: refusing to read: {reason}")]
    OverBudget {
        /// The file name given to [`edit`].
        file: String,
        /// 1-based line where the limit was passed.
        line: usize,
        /// Which limit, in words.
        reason: String,
    },
    /// An explicit path of a [`Target::Helm`] or [`Target::ArgoSource`] is not in the file.
    #[error("{file}: {path} not found")]
    NotFound {
        /// The file name given to [`edit`].
        file: String,
        /// The path that was looked up.
        path: String,
    },
    /// The target itself is malformed (bad path syntax, bad policy id).
    #[error("{file}: invalid target: {reason}")]
    InvalidTarget {
        /// The file name given to [`edit`].
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The [`Update`] is malformed.
    #[error("invalid update: {0}")]
    InvalidUpdate(String),
}

/// Explicit value paths for Helm values (and Argo CD `helm.parameters` names).
///
/// Path syntax: dotted keys with `[N]` for list items, e.g. `image.tag` or
/// `containers[0].image.tag`; a purely numeric segment (`containers.0.tag`) also indexes
/// a list; a key holding dots or brackets is written `["a.b"]`.
///
/// - With `tag` (and optionally `digest`): the tag value is replaced; the digest value is
///   set, or cleared to `""` by a tag-only update. `repository` (with `registry`, if
///   given) is read to check it names the update's repository; it is never changed.
/// - With only `repository`: that value holds a full reference (`image: nginx:1.2`) and is
///   rewritten as such.
/// - With only `digest`: digest pinning; the tag is left alone.
///
/// All `None` means auto-detection (see [`helm`] and [`argo`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HelmPaths<'a> {
    /// Path of the repository (or of a full reference when `tag` and `digest` are `None`).
    pub repository: Option<&'a str>,
    /// Path of the tag.
    pub tag: Option<&'a str>,
    /// Path of a registry host that prefixes the repository (bitnami style).
    pub registry: Option<&'a str>,
    /// Path of the digest.
    pub digest: Option<&'a str>,
}

impl HelmPaths<'_> {
    /// True when no path is given (auto-detection).
    pub fn is_auto(&self) -> bool {
        self.repository.is_none()
            && self.tag.is_none()
            && self.registry.is_none()
            && self.digest.is_none()
    }
}

/// Which references to edit in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// Kubernetes manifests: the `image` of every item of every `containers`,
    /// `initContainers` and `ephemeralContainers` list of mappings, wherever it is (Pod,
    /// Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Argo Rollout, any
    /// other pod template), in every document. See [`manifest`].
    Manifest,
    /// Like [`Target::Manifest`], for the containers (init and ephemeral ones included)
    /// with this `name` only; none of that name in the file is [`EditError::NotFound`].
    Container(&'a str),
    /// Kustomize `images:` entries (`name`/`newName`, `newTag`, `digest`). See [`kustomize`].
    Kustomize,
    /// Helm values (and Flux `HelmRelease` `spec.values`), by explicit paths or, when all
    /// paths are `None`, by auto-detection. See [`helm`].
    Helm(HelmPaths<'a>),
    /// Flux image-automation setter markers for one policy, `"namespace:name"`:
    /// `# {"$imagepolicy": "ns:name"}` and its `:tag`, `:name`, `:digest` variants. The
    /// marker selects the value; the update's repository is checked against full
    /// references and `:name` values. See [`markers`].
    Markers {
        /// The policy id, `namespace:name`.
        policy: &'a str,
    },
    /// Argo CD parameter overrides: `.argocd-source-<app>.yaml` files (`kustomize.images`,
    /// `helm.parameters`) and `Application` `spec.source(s)`. Helm parameter names come
    /// from the paths, or are auto-detected when all are `None`. See [`argo`].
    ArgoSource(HelmPaths<'a>),
    /// Everything recognisable (used by `set-image`): any `image:` value naming the
    /// repository (which covers every container), any other scalar whose whole value is
    /// a tagged or pinned reference to it, kustomize `images:` in kustomization
    /// files, Helm conventional blocks anywhere, Argo CD source files and Applications.
    Auto,
}

/// Edits `text` (the contents of `file_name`) for `update`, touching only `target`'s kind
/// of references. `file_name` is used in errors and, for [`Target::Auto`], to recognise
/// `kustomization.yaml` and `.argocd-source-*.yaml` files.
pub fn edit(
    file_name: &str,
    text: &str,
    target: &Target<'_>,
    update: &Update,
) -> Result<Edited, EditError> {
    update.validate()?;
    let src = Source::new(text);
    let docs = yaml::parse(&src).map_err(|e| match e.over_budget {
        true => EditError::OverBudget {
            file: file_name.to_string(),
            line: e.line,
            reason: e.message,
        },
        false => EditError::Parse {
            file: file_name.to_string(),
            line: e.line,
            col: e.col,
            message: e.message,
        },
    })?;
    let mut ctx = Ctx {
        file: file_name,
        src,
        update,
        splices: Vec::new(),
        matched: std::collections::BTreeSet::new(),
    };
    match target {
        Target::Manifest => manifest::edit_containers(&mut ctx, &docs, None)?,
        Target::Container(name) => manifest::edit_containers(&mut ctx, &docs, Some(name))?,
        Target::Kustomize => kustomize::edit(&mut ctx, &docs)?,
        Target::Helm(paths) => helm::edit(&mut ctx, &docs, paths)?,
        Target::Markers { policy } => markers::edit(&mut ctx, &docs, policy)?,
        Target::ArgoSource(paths) => argo::edit(&mut ctx, &docs, paths)?,
        Target::Auto => {
            manifest::edit_image_keys(&mut ctx, &docs)?;
            manifest::edit_reference_values(&mut ctx, &docs)?;
            if kustomize::is_kustomization_file(file_name) {
                kustomize::edit(&mut ctx, &docs)?;
            } else {
                kustomize::edit_kustomization_kinds(&mut ctx, &docs)?;
            }
            helm::edit(&mut ctx, &docs, &HelmPaths::default())?;
            argo::edit_detected(&mut ctx, &docs, file_name)?;
        }
    }
    ctx.finish()
}

/// A unified diff of `old` → `new` with `a/PATH` and `b/PATH` headers (empty when equal).
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// One replacement of a byte range.
#[derive(Debug)]
struct Splice {
    start: usize,
    end: usize,
    text: String,
    change: Change,
}

/// Shared state of one file edit: the source, the update and the collected splices.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    src: Source<'a>,
    update: &'a Update,
    splices: Vec<Splice>,
    /// Where the values of the image found so far start (see [`Edited::matched`]); a set,
    /// because `Auto` reaches some values through more than one editor.
    matched: std::collections::BTreeSet<usize>,
}

/// Joins a path and a mapping key.
pub(crate) fn path_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

/// Joins a path and a list index.
pub(crate) fn path_index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Calls `f(node, path)` for every node of a document (not through aliases), in order.
pub(crate) fn walk<'n>(
    node: &'n Node,
    path: &str,
    f: &mut dyn FnMut(&'n Node, &str) -> Result<(), EditError>,
) -> Result<(), EditError> {
    f(node, path)?;
    match &node.kind {
        Kind::Map(m) => {
            for (k, v) in m.iter() {
                let p = path_key(path, k.as_str().unwrap_or("?"));
                walk(v, &p, f)?;
            }
        }
        Kind::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &path_index(path, i), f)?;
            }
        }
        Kind::Scalar(_) | Kind::Alias(_) => {}
    }
    Ok(())
}

impl<'a> Ctx<'a> {
    fn update(&self) -> &'a Update {
        self.update
    }

    /// 1-based line of a node (of its token, for scalars; of the `|`/`>` header for block
    /// scalars).
    fn line(&self, node: &Node) -> usize {
        match &node.kind {
            Kind::Scalar(s) => match (s.raw, s.style) {
                (Ok((a, _)), _) => self.src.line_of(a),
                (Err(_), ScalarStyle::Literal | ScalarStyle::Folded) => {
                    let at = self.src.text[..node.start.min(self.src.text.len())]
                        .rfind(['|', '>'])
                        .unwrap_or(node.start);
                    self.src.line_of(at)
                }
                _ => self.src.line_of(node.start),
            },
            _ => self.src.line_of(node.start),
        }
    }

    fn refuse(&self, line: usize, reason: impl Into<String>) -> EditError {
        EditError::Refused {
            file: self.file.to_string(),
            line,
            reason: reason.into(),
        }
    }

    fn not_found(&self, path: &str) -> EditError {
        EditError::NotFound {
            file: self.file.to_string(),
            path: path.to_string(),
        }
    }

    fn invalid_target(&self, reason: impl Into<String>) -> EditError {
        EditError::InvalidTarget {
            file: self.file.to_string(),
            reason: reason.into(),
        }
    }

    /// Counts one value of the image the target found (editors call [`Ctx::set`],
    /// [`Ctx::add_key`] or [`Ctx::delete_key`] only for such values; this is for the
    /// ones they leave alone).
    pub(crate) fn found(&mut self, node: &Node) {
        self.matched.insert(node.start);
    }

    /// Writes `new` into the scalar `node` (no-op when it already holds `new`).
    fn set(
        &mut self,
        node: &Node,
        new: &str,
        document: usize,
        path: &str,
    ) -> Result<(), EditError> {
        self.found(node);
        let line = self.line(node);
        let s = match &node.kind {
            Kind::Scalar(s) => s,
            Kind::Alias(_) => {
                return Err(self.refuse(
                    line,
                    format!("{path} is an alias; edit the anchored value instead"),
                ))
            }
            _ => {
                return Err(self.refuse(line, format!("{path} is not a scalar value")));
            }
        };
        if s.value == new {
            return Ok(());
        }
        let (start, end) = s
            .raw
            .map_err(|r| self.refuse(line, format!("{path}: {r}")))?;
        let text = scalar::render(s.style, &s.value, new, node.in_flow)
            .map_err(|r| self.refuse(line, format!("{path}: {r}")))?;
        self.splices.push(Splice {
            start,
            end,
            text,
            change: Change {
                line,
                document,
                path: path.to_string(),
                old: s.value.clone(),
                new: new.to_string(),
            },
        });
        Ok(())
    }

    /// Adds `key: value` as a new line after the last entry of the block mapping `map`
    /// (ignoring an entry `skip` that is being removed), with the indentation of its keys
    /// and the line ending of that line.
    #[allow(clippy::too_many_arguments)]
    fn add_key(
        &mut self,
        map: &Node,
        key: &str,
        value: &str,
        quote: Option<ScalarStyle>,
        skip: Option<&str>,
        document: usize,
        path: &str,
    ) -> Result<(), EditError> {
        self.found(map);
        let line = self.line(map);
        let entries = map
            .entries()
            .ok_or_else(|| self.refuse(line, format!("{path} is not a mapping")))?;
        if map.in_flow {
            return Err(self.refuse(
                line,
                format!(
                    "{path} is a flow mapping ({{...}}); cannot add {key} without reformatting"
                ),
            ));
        }
        let Some((last_k, last_v)) = entries
            .iter()
            .rev()
            .find(|(k, _)| skip.is_none() || k.as_str() != skip)
        else {
            return Err(self.refuse(line, format!("{path} is an empty mapping")));
        };
        let vline = self.line(last_v);
        let end = match &last_v.kind {
            Kind::Scalar(s) => s.raw.map(|(_, e)| e).ok(),
            Kind::Alias(_) => Some(last_v.start),
            _ => None,
        }
        .filter(|_| !last_v.in_flow)
        .ok_or_else(|| {
            self.refuse(
                vline,
                format!(
                    "cannot add {key} after the last value of {path}: it is not a one-line scalar"
                ),
            )
        })?;
        let (kstart, _) = match &last_k.kind {
            Kind::Scalar(s) => s.raw.ok(),
            _ => None,
        }
        .ok_or_else(|| self.refuse(vline, format!("{path}: unusual last key")))?;
        let prefix = &self.src.text[self.src.line_start(kstart)..kstart];
        if !prefix.chars().all(|c| c == ' ' || c == '-') {
            return Err(self.refuse(
                vline,
                format!("{path}: cannot tell the indentation of its keys"),
            ));
        }
        let indent = " ".repeat(prefix.chars().count());
        let at = self.src.line_end(end);
        let eol = self.src.eol_near(end);
        let text = format!("{eol}{indent}{key}: {}", scalar::render_new(value, quote));
        self.splices.push(Splice {
            start: at,
            end: at,
            text,
            change: Change {
                line: self.src.line_of(end),
                document,
                path: path_key(path, key),
                old: String::new(),
                new: value.to_string(),
            },
        });
        Ok(())
    }

    /// Deletes the whole line of `key: value` from the block mapping `map`. The key must
    /// be alone on its line (a comment may follow) and not be the mapping's first line in a
    /// list item (`- key: v`).
    fn delete_key(
        &mut self,
        map: &Node,
        key: &str,
        document: usize,
        path: &str,
    ) -> Result<(), EditError> {
        let Some((k, v)) = map.get_entry(key) else {
            return Ok(());
        };
        self.found(k);
        let kpath = path_key(path, key);
        let line = self.line(k);
        let why = |r: &str| self.refuse(line, format!("cannot remove {kpath}: {r}"));
        if map.in_flow {
            return Err(why("it is in a flow mapping ({...})"));
        }
        let (Kind::Scalar(ks), Kind::Scalar(vs)) = (&k.kind, &v.kind) else {
            return Err(why("its value is not a scalar"));
        };
        let (Ok((kstart, _)), Ok((_, vend))) = (ks.raw, vs.raw) else {
            return Err(why("its key or value cannot be located exactly"));
        };
        let text = self.src.text;
        let ls = self.src.line_start(kstart);
        if !text[ls..kstart].chars().all(|c| c == ' ') {
            return Err(why("it is not alone at the start of its line"));
        }
        let le = self.src.line_end(vend);
        let rest = text[vend..le].trim_start();
        if self.src.line_of(vend) != line || !(rest.is_empty() || rest.starts_with('#')) {
            return Err(why("other content shares its line"));
        }
        // Remove the line with its line break; on a last line without one, remove the
        // break before it instead, so a missing final newline stays missing.
        let after = if text[le..].starts_with("\r\n") {
            le + 2
        } else if text[le..].starts_with('\n') {
            le + 1
        } else {
            le
        };
        let (start, end) = if after == le && ls > 0 {
            let before = if text[..ls].ends_with("\r\n") {
                ls - 2
            } else {
                ls - 1
            };
            (before, le)
        } else {
            (ls, after)
        };
        self.splices.push(Splice {
            start,
            end,
            text: String::new(),
            change: Change {
                line,
                document,
                path: kpath,
                old: vs.value.clone(),
                new: String::new(),
            },
        });
        Ok(())
    }

    /// Applies the splices (dropping exact duplicates) and returns the new text.
    fn finish(mut self) -> Result<Edited, EditError> {
        self.splices.sort_by_key(|s| (s.start, s.end));
        self.splices
            .dedup_by(|b, a| a.start == b.start && a.end == b.end && a.text == b.text);
        for w in self.splices.windows(2) {
            if w[1].start < w[0].end || (w[1].start == w[0].start && w[0].start != w[0].end) {
                return Err(self.refuse(
                    w[1].change.line,
                    format!(
                        "two edits overlap ({} and {}); the file would be ambiguous",
                        w[0].change.path, w[1].change.path
                    ),
                ));
            }
        }
        let text = self.src.text;
        let mut out = String::with_capacity(text.len() + 64);
        let mut at = 0;
        let mut changes = Vec::with_capacity(self.splices.len());
        for s in self.splices {
            out.push_str(&text[at..s.start]);
            out.push_str(&s.text);
            at = s.end;
            changes.push(s.change);
        }
        out.push_str(&text[at..]);
        let lines = self.matched.iter().map(|&s| self.src.line_of(s)).collect();
        Ok(Edited {
            text: out,
            changes,
            matched: self.matched.len(),
            lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn paths() {
        assert_eq!(path_key("", "spec"), "spec");
        assert_eq!(path_key("a", "b"), "a.b");
        assert_eq!(path_key("a", "b.c"), "a[\"b.c\"]");
        assert_eq!(path_index("a", 2), "a[2]");
    }

    #[test]
    fn bom_crlf_and_non_ascii_before_the_value() {
        let text = "\u{feff}# ünïcödé\r\nimages:\r\n- name: nginx # ü\r\n  newTag: ü-1 # ✓\r\n";
        let u = Update::parse("nginx:v2").unwrap();
        let out = edit("kustomization.yaml", text, &Target::Kustomize, &u).unwrap();
        assert_eq!(out.text, text.replace("ü-1 #", "v2 #"));
        assert_eq!(out.changes[0].line, 4);
        assert_eq!(out.changes[0].old, "ü-1");
        let out = edit(
            "k.yaml",
            text,
            &Target::Kustomize,
            &Update::parse(&format!("nginx@{D}")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            out.text,
            text.replace("✓\r\n", &format!("✓\r\n  digest: {D}\r\n"))
        );
    }

    #[test]
    fn diff_has_headers() {
        let d = unified_diff("x.yaml", "a: 1\n", "a: 2\n");
        assert!(
            d.contains("--- a/x.yaml") && d.contains("+++ b/x.yaml"),
            "{d}"
        );
        assert!(d.contains("-a: 1") && d.contains("+a: 2"), "{d}");
        assert_eq!(unified_diff("x", "a", "a"), "");
    }
}
