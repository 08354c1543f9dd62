//! Rules for writing a new value into an existing scalar without changing its meaning or
//! its style: plain scalars stay plain, quoted ones keep their quotes.

use std::sync::LazyLock;

use regex::Regex;
use saphyr_parser::ScalarStyle;

/// What a plain scalar resolves to under YAML 1.1 and 1.2 (Helm and Go YAML libraries
/// still honour parts of 1.1: `yes`, `on`, octal, sexagesimal, timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainKind {
    Null,
    Bool,
    Int,
    Float,
    Timestamp,
    Str,
}

static NULL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(~|null|Null|NULL)$").unwrap());
static BOOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
    )
    .unwrap()
});
static INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([-+]?[0-9][0-9_]*|0o[0-7]+|[-+]?0x[0-9a-fA-F_]+|[-+]?0b[01_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$",
    )
    .unwrap()
});
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*)$",
    )
    .unwrap()
});
static TIMESTAMP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt \t].*)?$").unwrap());

/// How a plain scalar with this text resolves.
pub(crate) fn plain_kind(s: &str) -> PlainKind {
    if s.is_empty() || NULL.is_match(s) {
        PlainKind::Null
    } else if BOOL.is_match(s) {
        PlainKind::Bool
    } else if INT.is_match(s) {
        PlainKind::Int
    } else if FLOAT.is_match(s) {
        PlainKind::Float
    } else if TIMESTAMP.is_match(s) {
        PlainKind::Timestamp
    } else {
        PlainKind::Str
    }
}

/// True when a number written this way reads back the same after a YAML → number → text
/// trip (`1.10` becomes `1.1`, `010` becomes `8` or `10`: those do not).
fn number_round_trips(s: &str, kind: PlainKind) -> bool {
    match kind {
        PlainKind::Int => s.parse::<i64>().is_ok_and(|n| n.to_string() == s),
        PlainKind::Float => s.parse::<f64>().is_ok_and(|f| {
            let back = f.to_string();
            back == s && back.contains('.')
        }),
        _ => false,
    }
}

/// Why `s` cannot be written as a plain scalar at all, if it cannot.
pub(crate) fn plain_syntax_problem(s: &str, in_flow: bool) -> Option<&'static str> {
    let first = s.chars().next()?;
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return Some("it starts with a YAML indicator character");
    }
    if s.trim() != s {
        return Some("it has leading or trailing whitespace");
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return Some("it holds `: ` or ` #` or ends with `:`");
    }
    if s.chars().any(|c| c.is_control()) {
        return Some("it holds control characters");
    }
    if in_flow && s.contains([',', '[', ']', '{', '}']) {
        return Some("it holds a flow indicator (, [ ] { }) inside a flow collection");
    }
    None
}

/// Checks that `new` may replace `old` inside a scalar of `style`, and returns the exact
/// text to splice over the scalar token (quotes included).
///
/// Plain scalars stay plain: the new text must be valid plain YAML and must resolve to a
/// string, unless the old text already resolved to the same non-string kind (a user who
/// wrote `tag: 1.2` gets `tag: 1.3`) and the new number reads back unchanged. Quoted
/// scalars keep their quotes; a value that would need escaping is refused. An empty new
/// value (clearing a digest) in a plain scalar is written as `""`.
pub(crate) fn render(
    style: ScalarStyle,
    old: &str,
    new: &str,
    in_flow: bool,
) -> Result<String, String> {
    match style {
        ScalarStyle::Plain => {
            if new.is_empty() {
                return Ok("\"\"".into());
            }
            if let Some(p) = plain_syntax_problem(new, in_flow) {
                return Err(format!(
                    "{new:?} cannot be written as a plain (unquoted) value: {p}; quote the value in the file"
                ));
            }
            let (ok, nk) = (plain_kind(old), plain_kind(new));
            if nk != PlainKind::Str && !(nk == ok && number_round_trips(new, nk)) {
                return Err(format!(
                    "the new value {new} would be read as {} in a plain (unquoted) scalar; quote the value in the file",
                    kind_word(nk)
                ));
            }
            Ok(new.to_string())
        }
        ScalarStyle::DoubleQuoted => {
            if new.contains(['"', '\\']) || new.chars().any(|c| c.is_control()) {
                return Err(format!("{new:?} would need escaping inside double quotes"));
            }
            Ok(format!("\"{new}\""))
        }
        ScalarStyle::SingleQuoted => {
            if new.contains('\'') || new.chars().any(|c| c.is_control()) {
                return Err(format!("{new:?} would need escaping inside single quotes"));
            }
            Ok(format!("'{new}'"))
        }
        ScalarStyle::Literal | ScalarStyle::Folded => {
            Err("the value is a block scalar (| or >)".into())
        }
    }
}

/// Text for a brand-new value (an added key): plain when it reads as a string, otherwise
/// in the given quote style (double quotes by default).
pub(crate) fn render_new(value: &str, quote: Option<ScalarStyle>) -> String {
    match quote {
        Some(ScalarStyle::SingleQuoted) if !value.contains('\'') => format!("'{value}'"),
        Some(ScalarStyle::DoubleQuoted) => format!("\"{value}\""),
        _ if plain_kind(value) == PlainKind::Str
            && plain_syntax_problem(value, false).is_none() =>
        {
            value.to_string()
        }
        _ => format!("\"{value}\""),
    }
}

fn kind_word(k: PlainKind) -> &'static str {
    match k {
        PlainKind::Null => "null",
        PlainKind::Bool => "a boolean",
        PlainKind::Int => "an integer",
        PlainKind::Float => "a number",
        PlainKind::Timestamp => "a timestamp",
        PlainKind::Str => "a string",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PlainKind::*;

    #[test]
    fn kinds() {
        for (s, k) in [
            ("", Null),
            ("~", Null),
            ("null", Null),
            ("yes", Bool),
            ("Off", Bool),
            ("y", Bool),
            ("12", Int),
            ("0x1F", Int),
            ("012", Int),
            ("1:20", Int),
            ("1.2", Float),
            ("1.", Float),
            (".5", Float),
            ("1e3", Float),
            (".inf", Float),
            ("2024-01-02", Timestamp),
            ("1.2.3", Str),
            ("v1.2", Str),
            ("latest", Str),
            ("nginx:1.2", Str),
            ("sha256:abc", Str),
            ("1.2-alpine", Str),
            ("20240101-abc", Str),
        ] {
            assert_eq!(plain_kind(s), k, "{s}");
        }
    }

    #[test]
    fn plain_rules() {
        use ScalarStyle::*;
        assert_eq!(render(Plain, "1.2.3", "1.2.4", false).unwrap(), "1.2.4");
        assert_eq!(render(Plain, "1.2", "1.3", false).unwrap(), "1.3");
        assert_eq!(render(Plain, "7", "8", false).unwrap(), "8");
        assert!(render(Plain, "1.9", "1.10", false).is_err());
        assert!(render(Plain, "latest", "1.3", false).is_err());
        assert!(render(Plain, "v1", "yes", false).is_err());
        assert!(render(Plain, "7", "7.1", false).is_err());
        assert!(render(Plain, "a", "a b: c", false).is_err());
        assert!(render(Plain, "a", "a,b", true).is_err());
        assert_eq!(render(Plain, "a", "a,b", false).unwrap(), "a,b");
        assert_eq!(render(Plain, "sha256:x", "", false).unwrap(), "\"\"");
        assert_eq!(render(DoubleQuoted, "1", "2", false).unwrap(), "\"2\"");
        assert_eq!(render(SingleQuoted, "1", "2", false).unwrap(), "'2'");
        assert!(render(DoubleQuoted, "1", "a\"b", false).is_err());
        assert!(render(SingleQuoted, "1", "a'b", false).is_err());
    }

    #[test]
    fn new_values() {
        assert_eq!(render_new("1.2.3", None), "1.2.3");
        assert_eq!(render_new("1.2", None), "\"1.2\"");
        assert_eq!(render_new("1.2", Some(ScalarStyle::SingleQuoted)), "'1.2'");
        assert_eq!(render_new("v1", Some(ScalarStyle::DoubleQuoted)), "\"v1\"");
        assert_eq!(render_new("sha256:ab", None), "sha256:ab");
    }
}
