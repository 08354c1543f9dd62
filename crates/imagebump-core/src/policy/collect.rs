//! Every problem in a YAML file, not only the first. serde stops at the first error, so
//! after a failed parse the file is cut into pieces, each deserialised on its own: a copy
//! of the text where every line outside the piece is blanked (its line ending kept), so
//! each error keeps its true line and column.
//!
//! Pieces are whole lines of block-style items and entries; flow-style collections
//! (`[…]`, `{…}`) are one piece. The limit: within one piece serde still reports only
//! the first problem (one per image besides its targets, one per target, one per config
//! section or list item). A file with aliases, or that is not YAML at all, is not cut up:
//! its first problem is all that is reported.

use std::ops::Range;
use std::path::Path;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;

use super::{parse_policy, PolicyFile, Problem, RawTarget, Target};
use crate::edit::yaml::{self, Kind, Node, Source};

/// A YAML text cut into lines, for blanking all but some of them.
pub struct Pieces<'a> {
    src: Source<'a>,
    root: Node,
    /// Each line with its ending.
    lines: Vec<&'a str>,
}

impl<'a> Pieces<'a> {
    /// `None` when the text does not parse as YAML, holds several documents or uses
    /// aliases (a piece could lose the anchor it refers to).
    pub(crate) fn new(text: &'a str) -> Option<Pieces<'a>> {
        let src = Source::new(text);
        let mut docs = yaml::parse(&src).ok()?;
        if docs.len() != 1 {
            return None;
        }
        let root = docs.pop()?;
        if has_alias(&root) {
            return None;
        }
        Some(Pieces {
            src,
            root,
            lines: text.split_inclusive('\n').collect(),
        })
    }

    /// The document's root node.
    pub(crate) fn root(&self) -> &Node {
        &self.root
    }

    /// The text with every line outside `keep` (0-based line ranges) emptied.
    pub fn text_keeping(&self, keep: &[Range<usize>]) -> String {
        let mut out = String::with_capacity(self.src.text.len());
        for (i, line) in self.lines.iter().enumerate() {
            if keep.iter().any(|r| r.contains(&i)) {
                out.push_str(line);
            } else if line.ends_with("\r\n") {
                out.push_str("\r\n");
            } else if line.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }

    /// The lines of one item of a block sequence: from its `- ` line to the next line
    /// indented no deeper than the dash. `None` for a flow item or one that shares its
    /// line with something else than its dash.
    pub(crate) fn item_lines(&self, item: &Node) -> Option<Range<usize>> {
        if item.in_flow {
            return None;
        }
        let start = self.src.line_start(item.start);
        let lead = &self.src.text[start..item.start];
        let dash = lead.find('-')?;
        if lead.trim() != "-" || lead[..dash].contains(|c: char| c != ' ') {
            return None;
        }
        let first = self.src.line_of(item.start) - 1;
        Some(first..self.block_end(first + 1, dash, false))
    }

    /// The lines of one `key: value` entry of a block mapping: the key's line and the
    /// lines indented deeper (a block sequence at the key's own indentation included).
    /// `None` when the key does not start its line.
    pub(crate) fn entry_lines(&self, key: &Node, value: &Node) -> Option<Range<usize>> {
        if key.in_flow {
            return None;
        }
        let start = self.src.line_start(key.start);
        let col = key.start - start;
        if self.src.text[start..key.start].contains(|c: char| c != ' ') {
            return None;
        }
        let first = self.src.line_of(key.start) - 1;
        let seq_value = matches!(value.kind, Kind::Seq(_)) && !value.in_flow;
        Some(first..self.block_end(first + 1, col, seq_value))
    }

    /// The first line from `from` on that is indented `col` or less (blank and comment
    /// lines never end a block); with `dashes`, `- ` lines at `col` continue it.
    fn block_end(&self, from: usize, col: usize, dashes: bool) -> usize {
        for (i, line) in self.lines.iter().enumerate().skip(from) {
            let body = line.trim_end_matches(['\r', '\n']);
            let trimmed = body.trim_start_matches(' ');
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = body.len() - trimmed.len();
            let dash_item = trimmed == "-" || trimmed.starts_with("- ");
            if indent < col || (indent == col && !(dashes && dash_item)) {
                return i;
            }
        }
        self.lines.len()
    }
}

fn has_alias(n: &Node) -> bool {
    match &n.kind {
        Kind::Alias(_) => true,
        Kind::Scalar(_) => false,
        Kind::Seq(items) => items.iter().any(has_alias),
        Kind::Map(entries) => entries.iter().any(|(k, v)| has_alias(k) || has_alias(v)),
    }
}

/// Deserialises a piece; its error as a problem whose serde path starts with `path`
/// (a piece is parsed as a one-item list, whose `[0]` stands for that item).
pub fn piece_problem<T: DeserializeOwned>(
    file: &Path,
    text: &str,
    path: &str,
    names: &[(&str, &str)],
) -> Option<Problem> {
    let e = serde_norway::from_str::<T>(text).err()?;
    let mut p = Problem::from_yaml_with(file, &e, names);
    if !path.is_empty() {
        // serde_norway writes the item's path as `.[0]` or `[0]`.
        let m = p.message.strip_prefix('.').unwrap_or(&p.message);
        p.message = match m.strip_prefix("[0]") {
            Some(rest) if rest.starts_with(['.', ':', '[']) => format!("{path}{rest}"),
            _ => format!("{path}: {}", p.message),
        };
    }
    Some(p)
}

/// Adds the first error of the whole-file parse unless a piece found it too (serde may
/// pin it elsewhere, on an enclosing list, so the words after the path are compared),
/// and sorts by position.
pub fn merge(first: Problem, mut found: Vec<Problem>) -> Vec<Problem> {
    let words = |m: &str| -> String {
        match m.split_once(": ") {
            Some((path, rest)) if !path.contains(' ') => rest.to_string(),
            _ => m.to_string(),
        }
    };
    let first_words = words(&first.message);
    let same = |p: &Problem| words(&p.message) == first_words;
    if !found.iter().any(same) {
        found.push(first);
    }
    found.sort_by_key(|p| (p.line, p.column));
    found.dedup();
    found
}

/// One top-level section of a file (or one item of a top-level list) as text of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopPiece {
    /// The section's key.
    pub key: String,
    /// For an item of a block list: its index in the list (the piece holds it as `[0]`).
    pub index: Option<usize>,
    /// The file's text with every other line blanked.
    pub text: String,
}

impl TopPiece {
    /// A problem found in this piece, with serde's `key[0]` put back as `key[index]`.
    pub fn problem(&self, file: &Path, e: &serde_norway::Error, names: &[(&str, &str)]) -> Problem {
        let mut p = Problem::from_yaml_with(file, e, names);
        if let Some(i) = self.index {
            if let Some(rest) = p.message.strip_prefix(&format!("{}[0]", self.key)) {
                p.message = format!("{}[{i}]{rest}", self.key);
            }
        }
        p
    }
}

/// The pieces of a file whose root is a mapping of sections (a service config): one per
/// section, or one per item of a section that is a block list. `None` when the file
/// cannot be cut (see the module's limits).
pub fn top_level_pieces(text: &str) -> Option<Vec<TopPiece>> {
    let pieces = Pieces::new(text)?;
    let mut out = Vec::new();
    for (k, v) in pieces.root().entries()? {
        let key = k.as_str()?.to_string();
        let entry = pieces.entry_lines(k, v)?;
        let items: Option<Vec<_>> = match v.items() {
            Some(items) if !v.in_flow && !items.is_empty() => {
                items.iter().map(|t| pieces.item_lines(t)).collect()
            }
            _ => None,
        };
        match items {
            Some(items) if items.iter().all(|r| r.start > entry.start) => {
                for (i, r) in items.into_iter().enumerate() {
                    out.push(TopPiece {
                        key: key.clone(),
                        index: Some(i),
                        text: pieces.text_keeping(&[entry.start..entry.start + 1, r]),
                    });
                }
            }
            _ => out.push(TopPiece {
                key,
                index: None,
                text: pieces.text_keeping(&[entry]),
            }),
        }
    }
    Some(out)
}

/// The top level of a policy file, its images unread.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopCheck {
    application: String,
    images: Vec<IgnoredAny>,
}

/// One target alone.
#[derive(Deserialize)]
#[serde(try_from = "RawTarget")]
struct CheckedTarget(#[allow(dead_code)] Target);

impl TryFrom<RawTarget> for CheckedTarget {
    type Error = String;
    fn try_from(r: RawTarget) -> Result<Self, String> {
        Target::try_from(r).map(CheckedTarget)
    }
}

/// Parses a policy file, reporting every problem found (see the module's limits).
pub fn parse_policy_all(path: &Path, text: &str) -> Result<PolicyFile, Vec<Problem>> {
    let first = match parse_policy(path, text) {
        Ok(p) => return Ok(p),
        Err(first) => first,
    };
    let Some(pieces) = Pieces::new(text) else {
        return Err(vec![first]);
    };
    let mut found = Vec::new();
    match serde_norway::from_str::<TopCheck>(text) {
        Err(e) => found.push(Problem::from_yaml(path, &e)),
        Ok(top) if top.application.trim().is_empty() => {
            found.push(Problem::new(path, "application must not be empty"))
        }
        Ok(top) if top.images.is_empty() => {
            found.push(Problem::new(path, "images: lists no image"))
        }
        Ok(_) => {}
    }
    let images = pieces.root().get("images").and_then(|n| n.items());
    for (i, image) in images.unwrap_or_default().iter().enumerate() {
        let Some(lines) = pieces.item_lines(image) else {
            continue;
        };
        // Block-style targets are pieces of their own, and the image is checked without
        // them; otherwise the image is one piece, targets included.
        let mut keep = vec![lines.clone()];
        if let Some((k, v)) = image.get_entry("targets") {
            let items = v.items().unwrap_or_default();
            let target_lines: Option<Vec<_>> = items.iter().map(|t| pieces.item_lines(t)).collect();
            if let (Some(entry), Some(target_lines)) = (pieces.entry_lines(k, v), target_lines) {
                keep = vec![lines.start..entry.start, entry.end..lines.end];
                for (j, tl) in target_lines.into_iter().enumerate() {
                    let piece = pieces.text_keeping(&[tl]);
                    let at = format!("images[{i}].targets[{j}]");
                    found.extend(piece_problem::<Vec<CheckedTarget>>(path, &piece, &at, &[]));
                }
            }
        }
        let piece = pieces.text_keeping(&keep);
        let at = format!("images[{i}]");
        found.extend(piece_problem::<Vec<super::ImagePolicy>>(
            path,
            &piece,
            &at,
            &[],
        ));
    }
    Err(merge(first, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        parse_policy_all(Path::new("p.yaml"), text)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn every_image_and_target_is_checked() {
        let text = "\
application: a
images:
  - repository: x
    semver: '>=1.x.y'
    targets:
      - manifest: ../out.yaml
      - helm: {file: v.yaml}
      - kustomize: ok.yaml
  - repository: Upper
    semver: '*'
  - nginx
  - repository: fine
    semver: '*'
    tagz: 1
";
        let p = problems(text);
        assert_eq!(p.len(), 6, "{p:#?}");
        assert!(
            p[0].starts_with("p.yaml:4:") && p[0].contains("images[0].semver"),
            "{p:#?}"
        );
        assert!(
            p[1].starts_with("p.yaml:6:") && p[1].contains("inside the repository"),
            "{p:#?}"
        );
        assert!(
            p[2].starts_with("p.yaml:7:") && p[2].contains("images[0].targets[1]"),
            "{p:#?}"
        );
        assert!(
            p[3].starts_with("p.yaml:9:") && p[3].contains("lowercase"),
            "{p:#?}"
        );
        assert!(
            p[4].starts_with("p.yaml:11:") && p[4].contains("an image, a mapping such as"),
            "{p:#?}"
        );
        assert!(
            p[5].starts_with("p.yaml:14:") && p[5].contains("unknown field `tagz`"),
            "{p:#?}"
        );
        assert!(p.iter().all(|m| !m.contains("struct ")), "{p:#?}");
    }

    #[test]
    fn top_level_problems_and_clean_files() {
        let p = problems("application: a\nimagez: []\nimages:\n  - repository: x\n    semver: '*'\n    targets: [{manifest: a, kustomize: b}]\n");
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].contains("unknown field `imagez`"), "{p:#?}");
        assert!(p[1].contains("exactly one of kustomize"), "{p:#?}");
        assert!(parse_policy_all(
            Path::new("p.yaml"),
            "application: a\nimages:\n- repository: x\n  semver: '*'\n  targets:\n  - manifest: a.yaml\n"
        )
        .is_ok());
        // Not YAML: the first problem only.
        assert_eq!(problems("application: [\n").len(), 1);
    }

    #[test]
    fn top_level_pieces_split_sections_and_list_items() {
        let text = "a: 1\nlist:\n  - x: 1\n  - y: 2\nm:\n  k: v\nf: [1, 2]\n";
        let p = top_level_pieces(text).unwrap();
        let shape: Vec<_> = p.iter().map(|p| (p.key.as_str(), p.index)).collect();
        assert_eq!(
            shape,
            [
                ("a", None),
                ("list", Some(0)),
                ("list", Some(1)),
                ("m", None),
                ("f", None)
            ]
        );
        assert_eq!(p[2].text, "\nlist:\n\n  - y: 2\n\n\n\n");
    }

    #[test]
    // A list of one line range is meant: `text_keeping` takes several.
    #[allow(clippy::single_range_in_vec_init)]
    fn pieces_keep_lines_and_blocks() {
        let text = "a: 1\nlist:\n- x: 1\n  y: 2\n# note\n- z\nb:\n  c: 1\n";
        let p = Pieces::new(text).unwrap();
        let items = p.root().get("list").unwrap().items().unwrap();
        assert_eq!(p.item_lines(&items[0]), Some(2..5));
        assert_eq!(p.item_lines(&items[1]), Some(5..6));
        let (k, v) = p.root().get_entry("list").unwrap();
        assert_eq!(p.entry_lines(k, v), Some(1..6));
        assert_eq!(p.text_keeping(&[5..6]), "\n\n\n\n\n- z\n\n\n");
    }
}
