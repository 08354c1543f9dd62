//! Checking an `extract:` template against its pattern. The regex crate expands a group
//! the pattern lacks to nothing, so every tag would order as "" — a silent wrong pick;
//! it is an error at load time instead.

use regex::Regex;

/// The groups `tpl` names (`$1`, `$name`, `${name}`; `$$` is a literal `$`), read the
/// way `regex::Captures::expand` reads them.
fn referenced(tpl: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = tpl;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix('{') {
            if let Some(end) = r.find('}') {
                out.push(&r[..end]);
                rest = &r[end + 1..];
            }
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 {
            out.push(&rest[..end]);
        }
        rest = &rest[end..];
    }
    out
}

/// An error naming the first group `tpl` refers to that `pattern` does not have.
pub fn check(pattern: &Regex, tpl: &str) -> Result<(), String> {
    for g in referenced(tpl) {
        let exists = match g.parse::<usize>() {
            Ok(n) => n < pattern.captures_len(),
            Err(_) => pattern.capture_names().flatten().any(|n| n == g),
        };
        if !exists {
            let mut have: Vec<String> = (1..pattern.captures_len())
                .map(|n| format!("${n}"))
                .collect();
            have.extend(pattern.capture_names().flatten().map(|n| format!("${n}")));
            let have = if have.is_empty() {
                "it has no groups; add one such as (?P<version>…)".to_string()
            } else {
                format!("it has {}", have.join(", "))
            };
            return Err(format!(
                "tags.extract {tpl:?} names group {g:?}, which the pattern {:?} lacks ({have})",
                pattern.as_str()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_groups_like_expand_does() {
        assert_eq!(referenced("$1-${ts}x$name $$5"), vec!["1", "ts", "name"]);
        let re = Regex::new(r"^v(\d+)-(?P<ts>\d+)$").unwrap();
        assert!(check(&re, "$1").is_ok());
        assert!(check(&re, "${ts}").is_ok());
        assert!(check(&re, "$ts.$1").is_ok());
        assert!(check(&re, "$$").is_ok());
        let e = check(&re, "$3").unwrap_err();
        assert!(e.contains("\"3\"") && e.contains("$1, $2, $ts"), "{e}");
        let e = check(&re, "$version").unwrap_err();
        assert!(e.contains("\"version\""), "{e}");
        let e = check(&Regex::new("^v.*$").unwrap(), "$1").unwrap_err();
        assert!(e.contains("no groups"), "{e}");
    }
}
