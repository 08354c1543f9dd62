//! A small YAML tree with byte positions, built from `saphyr-parser` events.
//!
//! Only what the editors need: mappings, sequences, scalars (with the byte range of the
//! scalar token as written, quotes included) and aliases (sharing the anchored node:
//! children are reference-counted, so an alias costs O(1) however large or nested its
//! anchor is). Every parse runs under the limits of [`super::budget`]. Positions are converted from the parser's character indexes to byte
//! offsets, and the end of quoted scalars is found here by scanning for the closing quote
//! (the parser's span end for quoted scalars runs past it, up to the end of the line).

use std::collections::HashMap;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::budget;

/// A YAML node with its position in the source.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    /// Byte offset where the node's span starts (anchors and tags included).
    pub start: usize,
    /// Byte offset where the node's span ends (approximate for quoted scalars, exact for
    /// block scalars: the end of their content).
    pub end: usize,
    /// True when the node is inside (or is) a flow collection (`[...]`, `{...}`).
    pub in_flow: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Seq(Rc<[Node]>),
    Map(Rc<[(Node, Node)]>),
    /// An alias (`*name`), sharing the node it refers to when known.
    Alias(Option<Rc<Node>>),
}

/// The byte range of a scalar token as written, or why it cannot be spliced in place.
pub(crate) type RawRange = Result<(usize, usize), &'static str>;

#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    /// The value after YAML unescaping and folding.
    pub value: String,
    pub style: ScalarStyle,
    /// Byte range of the scalar token as written (quotes included), or why the token cannot
    /// be spliced in place.
    pub raw: RawRange,
}

impl Node {
    /// The scalar value, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) => Some(&s.value),
            _ => None,
        }
    }

    /// The scalar value, if this is a non-empty scalar.
    pub fn as_nonempty_str(&self) -> Option<&str> {
        self.as_str().filter(|s| !s.is_empty())
    }

    /// Mapping entries, if this is a mapping.
    pub fn entries(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Sequence items, if this is a sequence.
    pub fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under a scalar key, if this is a mapping holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// The (key, value) entry under a scalar key.
    pub fn get_entry(&self, key: &str) -> Option<&(Node, Node)> {
        self.entries()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
    }

    /// The node an alias refers to, or the node itself.
    pub fn resolved(&self) -> &Node {
        match &self.kind {
            Kind::Alias(Some(n)) => n.resolved(),
            _ => self,
        }
    }

    /// A string seen through aliases (for reading names, never for editing).
    pub fn resolved_str(&self) -> Option<&str> {
        self.resolved().as_str()
    }
}

/// Byte offsets of line starts, and the character → byte mapping for non-ASCII text.
pub(crate) struct Source<'a> {
    pub text: &'a str,
    line_starts: Vec<usize>,
    /// `char_to_byte[i]` is the byte offset of character `i`; empty when the text is ASCII.
    char_to_byte: Vec<usize>,
}

impl<'a> Source<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let char_to_byte = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .collect()
        };
        Source {
            text,
            line_starts,
            char_to_byte,
        }
    }

    /// Byte offset of a character index.
    pub fn byte(&self, char_index: usize) -> usize {
        if self.char_to_byte.is_empty() {
            char_index.min(self.text.len())
        } else {
            self.char_to_byte[char_index.min(self.char_to_byte.len() - 1)]
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_of(&self, byte: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= byte)
    }

    /// Byte offset where the line holding `byte` starts.
    pub fn line_start(&self, byte: usize) -> usize {
        self.line_starts[self.line_of(byte) - 1]
    }

    /// Byte offset of the end of the line holding `byte`, before its `\n` or `\r\n`.
    pub fn line_end(&self, byte: usize) -> usize {
        let end = self.text[byte..]
            .find('\n')
            .map_or(self.text.len(), |i| byte + i);
        if end > 0 && self.text.as_bytes()[end - 1] == b'\r' && end < self.text.len() {
            end - 1
        } else {
            end
        }
    }

    /// The line ending used by the line holding `byte`, or the file's first one, or `\n`.
    pub fn eol_near(&self, byte: usize) -> &'static str {
        let end = self.line_end(byte);
        let rest = &self.text[end..];
        if rest.starts_with("\r\n") {
            "\r\n"
        } else if rest.starts_with('\n') {
            "\n"
        } else if self.text.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        }
    }
}

/// A parse failure, with a 1-based line and column.
#[derive(Debug)]
pub(crate) struct ParseFailure {
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// True when the file is valid as far as read but passes a limit of [`budget`].
    pub over_budget: bool,
}

impl From<ScanError> for ParseFailure {
    fn from(e: ScanError) -> Self {
        // The scanner's own nesting limit (it runs ahead of the events) is part of the
        // budget too.
        let over_budget = e.info().contains("recursion limit");
        ParseFailure {
            line: e.marker().line(),
            col: e.marker().col() + 1,
            message: match over_budget {
                true => format!("mappings and sequences nested too deep ({})", e.info()),
                false => e.info().to_string(),
            },
            over_budget,
        }
    }
}

impl ParseFailure {
    fn over_budget(line: usize, message: String) -> ParseFailure {
        ParseFailure {
            line,
            col: 1,
            message,
            over_budget: true,
        }
    }
}

/// Parses every document of a YAML stream (JSON included) into trees.
pub(crate) fn parse(src: &Source<'_>) -> Result<Vec<Node>, ParseFailure> {
    if src.text.len() > budget::MAX_BYTES {
        return Err(ParseFailure::over_budget(
            1,
            format!(
                "the file is {} bytes, over the limit of {} bytes",
                src.text.len(),
                budget::MAX_BYTES
            ),
        ));
    }
    let mut b = Builder {
        src,
        parser: Parser::new_from_str(src.text),
        anchors: HashMap::new(),
        depth: 0,
        nodes: 0,
        aliases: 0,
    };
    let mut docs = Vec::new();
    loop {
        let (ev, _) = b.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                let (ev, span) = b.next()?;
                if matches!(ev, Event::DocumentEnd) {
                    continue;
                }
                docs.push(b.node(ev, span, false)?);
            }
            Event::StreamEnd => break,
            other => {
                return Err(ParseFailure {
                    line: 1,
                    col: 1,
                    message: format!("unexpected event {other:?}"),
                    over_budget: false,
                })
            }
        }
    }
    Ok(docs)
}

struct Builder<'a, 's> {
    src: &'s Source<'a>,
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    /// Current nesting of collections, and nodes and aliases seen so far (the budget).
    depth: usize,
    nodes: usize,
    aliases: usize,
}

impl<'a> Builder<'a, '_> {
    fn next(&mut self) -> Result<(Event<'a>, Span), ParseFailure> {
        match self.parser.next_event() {
            Some(Ok(x)) => Ok(x),
            Some(Err(e)) => Err(e.into()),
            None => Err(ParseFailure {
                line: 1,
                col: 1,
                message: "unexpected end of the event stream".into(),
                over_budget: false,
            }),
        }
    }

    /// Counts one node against the budget; a collection must also fit under the depth limit.
    fn charge(&mut self, ev: &Event<'a>, span: Span) -> Result<(), ParseFailure> {
        let line = span.start.line();
        self.nodes += 1;
        if self.nodes > budget::MAX_NODES {
            return Err(ParseFailure::over_budget(
                line,
                format!("more than {} YAML nodes", budget::MAX_NODES),
            ));
        }
        match ev {
            Event::Alias(_) => {
                self.aliases += 1;
                if self.aliases > budget::MAX_ALIASES {
                    return Err(ParseFailure::over_budget(
                        line,
                        format!("more than {} aliases (*name)", budget::MAX_ALIASES),
                    ));
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..)
                if self.depth >= budget::MAX_DEPTH =>
            {
                return Err(ParseFailure::over_budget(
                    line,
                    format!(
                        "mappings and sequences nested too deep (more than {} levels)",
                        budget::MAX_DEPTH
                    ),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, span: Span, in_flow: bool) -> Result<Node, ParseFailure> {
        self.charge(&ev, span)?;
        let start = self.src.byte(span.start.index());
        let end = self.src.byte(span.end.index());
        let opens_flow = |c: char| start < end && self.src.text[start..end].trim_end().ends_with(c);
        let (node, anchor) = match ev {
            Event::Scalar(value, style, anchor, _) => {
                let raw = self.scalar_range(&value, style, span, start, end);
                let node = Node {
                    kind: Kind::Scalar(Scalar {
                        value: value.into_owned(),
                        style,
                        raw,
                    }),
                    start,
                    end,
                    in_flow,
                };
                (node, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let flow = in_flow || opens_flow('[');
                let mut items = Vec::new();
                self.depth += 1;
                let close = loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break span.end.index();
                    }
                    items.push(self.node(ev, span, flow)?);
                };
                self.depth -= 1;
                let node = Node {
                    kind: Kind::Seq(items.into()),
                    start,
                    end: self.src.byte(close),
                    in_flow: flow,
                };
                (node, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let flow = in_flow || opens_flow('{');
                let mut entries = Vec::new();
                self.depth += 1;
                let close = loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break span.end.index();
                    }
                    let k = self.node(ev, span, flow)?;
                    let (ev, span) = self.next()?;
                    let v = self.node(ev, span, flow)?;
                    entries.push((k, v));
                };
                self.depth -= 1;
                let node = Node {
                    kind: Kind::Map(entries.into()),
                    start,
                    end: self.src.byte(close),
                    in_flow: flow,
                };
                (node, anchor)
            }
            Event::Alias(id) => {
                // A clone is O(1): children are shared, never copied.
                let target = self.anchors.get(&id).cloned().map(Rc::new);
                let node = Node {
                    kind: Kind::Alias(target),
                    start,
                    end,
                    in_flow,
                };
                (node, 0)
            }
            other => {
                return Err(ParseFailure {
                    line: span.start.line(),
                    col: span.start.col() + 1,
                    message: format!("unexpected event {other:?}"),
                    over_budget: false,
                })
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// The byte range of a scalar token as written, or why it cannot be spliced.
    fn scalar_range(
        &self,
        value: &str,
        style: ScalarStyle,
        span: Span,
        start: usize,
        end: usize,
    ) -> RawRange {
        let text = self.src.text;
        match style {
            ScalarStyle::Literal | ScalarStyle::Folded => {
                Err("the value is a block scalar (| or >)")
            }
            ScalarStyle::Plain => {
                if value.is_empty() {
                    return Err("the value is empty (null)");
                }
                if span.start.line() != span.end.line() || value.contains('\n') {
                    return Err("the value is a plain scalar over several lines");
                }
                // The span of a plain scalar ends exactly at its last character; anchors and
                // tags may precede it, so count back from the end.
                let s = end
                    .checked_sub(value.len())
                    .ok_or("unexpected plain scalar span")?;
                if s < start || text.get(s..end) != Some(value) {
                    return Err("the plain scalar is not written as it reads");
                }
                Ok((s, end))
            }
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => {
                let q = if style == ScalarStyle::DoubleQuoted {
                    b'"'
                } else {
                    b'\''
                };
                let bytes = text.as_bytes();
                // Skip an anchor (&a) and a tag (!t) written before the quote.
                let mut i = start;
                while i < bytes.len() && bytes[i] != q {
                    match bytes[i] {
                        b'&' | b'!' => {
                            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                                i += 1;
                            }
                        }
                        b' ' | b'\t' | b'\r' | b'\n' => i += 1,
                        _ => return Err("could not find the opening quote"),
                    }
                }
                let open = i;
                i += 1;
                let mut escaped = false;
                let close = loop {
                    match bytes.get(i) {
                        None => return Err("could not find the closing quote"),
                        Some(b'\\') if q == b'"' => {
                            escaped = true;
                            i += 2;
                        }
                        Some(&c) if c == q => {
                            if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                                escaped = true;
                                i += 2;
                            } else {
                                break i;
                            }
                        }
                        Some(b'\n') => return Err("the quoted value spans several lines"),
                        Some(_) => i += 1,
                    }
                };
                let content = &text[open + 1..close];
                if escaped || content != value {
                    return Err("the quoted value uses escapes");
                }
                Ok((open, close + 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalars(n: &Node, out: &mut Vec<(String, RawRange)>) {
        match &n.kind {
            Kind::Scalar(s) => out.push((s.value.clone(), s.raw)),
            Kind::Seq(items) => items.iter().for_each(|i| scalars(i, out)),
            Kind::Map(m) => m.iter().for_each(|(k, v)| {
                scalars(k, out);
                scalars(v, out)
            }),
            Kind::Alias(_) => {}
        }
    }

    fn all(text: &str) -> Vec<(String, Option<String>)> {
        let src = Source::new(text);
        let docs = parse(&src).unwrap();
        let mut out = Vec::new();
        docs.iter().for_each(|d| scalars(d, &mut out));
        out.into_iter()
            .map(|(v, r)| (v, r.ok().map(|(a, b)| text[a..b].to_string())))
            .collect()
    }

    #[test]
    fn ranges_of_every_style() {
        let text = "\u{feff}a: &x ü:1 # c\r\nb: \"q:1\" # \"c\"\r\nc: !!str 'it''s'\r\nd: [x, \"y\" , 'z']\r\ne: *x\r\n---\r\nf: |\r\n  lit\r\ng: multi\r\n  line\r\nh:\r\ni: {k: \"v\"}";
        let got = all(text);
        let want: Vec<(&str, Option<&str>)> = vec![
            ("a", Some("a")),
            ("ü:1", Some("ü:1")),
            ("b", Some("b")),
            ("q:1", Some("\"q:1\"")),
            ("c", Some("c")),
            ("it's", None),
            ("d", Some("d")),
            ("x", Some("x")),
            ("y", Some("\"y\"")),
            ("z", Some("'z'")),
            ("e", Some("e")),
            ("f", Some("f")),
            ("lit\n", None),
            ("g", Some("g")),
            ("multi line", None),
            ("h", Some("h")),
            ("", None),
            ("i", Some("i")),
            ("k", Some("k")),
            ("v", Some("\"v\"")),
        ];
        let want: Vec<(String, Option<String>)> = want
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.map(str::to_string)))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn aliases_resolve_and_flow_is_marked() {
        let src = Source::new("a: &x {k: v}\nb: *x\nc: [1]\nd: 2\n");
        let docs = parse(&src).unwrap();
        let d = &docs[0];
        assert_eq!(
            d.get("b").unwrap().resolved().get("k").unwrap().as_str(),
            Some("v")
        );
        assert!(d.get("a").unwrap().in_flow);
        assert!(d.get("c").unwrap().in_flow);
        assert!(!d.get("d").unwrap().in_flow);
        assert!(!d.in_flow);
    }

    #[test]
    fn lines_and_ends() {
        let src = Source::new("a\r\nbb\nc");
        assert_eq!(src.line_of(0), 1);
        assert_eq!(src.line_of(3), 2);
        assert_eq!(src.line_of(6), 3);
        assert_eq!(src.line_end(0), 1);
        assert_eq!(src.line_end(3), 5);
        assert_eq!(src.line_end(6), 7);
        assert_eq!(src.eol_near(0), "\r\n");
        assert_eq!(src.eol_near(3), "\n");
        assert_eq!(src.eol_near(6), "\r\n");
        assert_eq!(src.line_start(4), 3);
    }

    #[test]
    fn parse_errors_have_positions() {
        let src = Source::new("a: [1, 2\nb: c\n");
        let e = parse(&src).unwrap_err();
        assert!(e.line >= 1, "{e:?}");
    }
}
