//! What every user template has in common — commit messages, pull-request texts, commit
//! links, notification and deploy-trigger bodies: one minijinja environment that treats
//! an unknown attribute as an error (never an empty string in a commit subject, a link
//! or a JSON body) and offers `tojson`, and the check that a template parses and names
//! only the variables its caller provides.
//!
//! Each caller keeps its own variables, sample values and wording of errors.

/// Functions minijinja provides as globals; `undeclared_variables` reports them too.
pub const GLOBALS: &[&str] = &["range", "dict", "namespace"];

/// Why a template cannot be used, before any rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It does not parse.
    Syntax {
        /// 1-based line within the template.
        line: usize,
        /// The template engine's own detail.
        detail: String,
        /// The template engine's whole message (with the line).
        message: String,
    },
    /// It names a variable the caller does not provide (the first, alphabetically).
    Unknown {
        /// The variable.
        name: String,
    },
}

/// The environment every template renders in: strict about undefined values, with the
/// `tojson` filter.
pub fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("tojson", tojson);
    env
}

/// The `tojson` filter: a value as JSON (strings quoted and escaped), so a template can
/// put any variable into a JSON body safely. minijinja's own needs its `json` feature,
/// which the workspace leaves off.
pub fn tojson(v: minijinja::Value) -> Result<String, minijinja::Error> {
    serde_json::to_string(&v)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string()))
}

/// Checks that `template` parses and names only `variables` (and minijinja's globals).
/// Rendering a sample — which catches attribute typos — is the caller's, with its own
/// values.
pub fn check(template: &str, variables: &[&str]) -> Result<(), Problem> {
    let env = environment();
    let t = env
        .template_from_str(template)
        .map_err(|e| Problem::Syntax {
            line: e.line().unwrap_or(1),
            detail: e.detail().unwrap_or("syntax error").to_string(),
            message: e.to_string(),
        })?;
    let mut unknown: Vec<_> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !variables.contains(&v.as_str()) && !GLOBALS.contains(&v.as_str()))
        .collect();
    unknown.sort();
    match unknown.into_iter().next() {
        Some(name) => Err(Problem::Unknown { name }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_unknown_variable_and_allows_globals() {
        assert_eq!(
            check("{{ zeta }} {{ alpha }} {{ known }}", &["known"]),
            Err(Problem::Unknown {
                name: "alpha".into()
            })
        );
        assert_eq!(
            check("{% for i in range(2) %}{{ known }}{% endfor %}", &["known"]),
            Ok(())
        );
    }

    #[test]
    fn a_syntax_error_has_its_line() {
        match check("ok\n{{ broken", &[]) {
            Err(Problem::Syntax { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_attributes_fail_and_tojson_quotes() {
        let env = environment();
        assert!(env
            .render_str("{{ x.nope }}", minijinja::context! { x => "s" })
            .is_err());
        assert_eq!(
            env.render_str("{{ x | tojson }}", minijinja::context! { x => "a\"b" })
                .unwrap(),
            r#""a\"b""#
        );
    }
}
