//! Links to a commit on its forge's web page (`git.commitUrl`), for the status page.
//!
//! A template is minijinja over [`VARIABLES`]: `commit` (the full id), `branch` (the base
//! branch) and `repository` (the git URL's path without a leading `/` or a trailing
//! `.git`, e.g. `org/fleet`). It is checked when the config loads: it must parse, use
//! only those variables and render an `https://` or `http://` URL, so a link can never
//! be `javascript:` or point nowhere. Without a template, one is derived for the public
//! forges whose commit pages have a known shape ([`derive`]); otherwise there is no link
//! and the status page shows the bare commit id.

/// The variables a `commitUrl` template may use.
pub const VARIABLES: &[&str] = &["commit", "branch", "repository"];

/// Why a `commitUrl` template is unusable, or a link could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// It does not parse.
    #[error("commitUrl does not parse (line {line} of the template): {message}")]
    Syntax {
        /// 1-based line within the template.
        line: usize,
        /// The template engine's message.
        message: String,
    },
    /// It names a variable that does not exist.
    #[error("commitUrl uses unknown variable `{name}`; known: {}", VARIABLES.join(", "))]
    Unknown {
        /// The variable.
        name: String,
    },
    /// It fails to render.
    #[error("commitUrl fails to render: {0}")]
    Render(String),
    /// What it renders is not a web address.
    #[error("commitUrl must render an https:// or http:// URL, not {0:?}")]
    NotHttp(String),
}

/// What a link is made of.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitVars<'a> {
    /// The full commit id.
    pub commit: &'a str,
    /// The base branch.
    pub branch: &'a str,
    /// The repository's path on its host (`org/fleet`).
    pub repository: &'a str,
}

/// Checks a template with a sample commit: it parses, uses only [`VARIABLES`] and
/// renders an http(s) URL.
pub fn check(template: &str) -> Result<(), LinkError> {
    crate::template::check(template, VARIABLES).map_err(|p| match p {
        crate::template::Problem::Syntax { line, detail, .. } => LinkError::Syntax {
            line,
            message: detail,
        },
        crate::template::Problem::Unknown { name } => LinkError::Unknown { name },
    })?;
    render(
        template,
        &CommitVars {
            commit: "0123456789abcdef0123456789abcdef01234567",
            branch: "main",
            repository: "org/fleet",
        },
    )
    .map(|_| ())
}

/// The link to one commit.
pub fn render(template: &str, vars: &CommitVars<'_>) -> Result<String, LinkError> {
    let url = environment()
        .render_str(template, vars)
        .map_err(|e| LinkError::Render(e.to_string()))?;
    let url = url.trim().to_string();
    let http = url.starts_with("https://") || url.starts_with("http://");
    // A scheme alone, or whitespace inside, is not a usable link.
    if !http || url.contains(char::is_whitespace) || url.ends_with("://") {
        return Err(LinkError::NotHttp(url));
    }
    Ok(url)
}

/// The `repository` variable of a git URL: its path, without a leading `/` or a
/// trailing `/` or `.git` (`https://github.com/org/fleet.git` → `org/fleet`).
pub fn repository_path(git_url: &str) -> String {
    let after = git_url.split_once("://").map_or(git_url, |(_, r)| r);
    let path = after.split_once('/').map_or("", |(_, p)| p);
    let path = path.trim_matches('/');
    path.strip_suffix(".git").unwrap_or(path).to_string()
}

/// A template for the public forges whose commit pages have a known shape, from an
/// `https://` or `ssh://` git URL on github.com, gitlab.com, bitbucket.org or
/// codeberg.org; `None` for any other host (self-hosted forges differ: set `commitUrl`).
pub fn derive(git_url: &str) -> Option<String> {
    let (scheme, rest) = git_url.split_once("://")?;
    if scheme != "https" && scheme != "ssh" {
        return None;
    }
    let authority = rest.split('/').next()?;
    // ssh://git@host:port/… — the user and port are not part of the web address.
    let host = authority.rsplit('@').next()?.split(':').next()?;
    let path = repository_path(git_url);
    if path.is_empty() {
        return None;
    }
    let commit_path = match host.to_ascii_lowercase().as_str() {
        "github.com" | "codeberg.org" => "commit",
        "gitlab.com" => "-/commit",
        "bitbucket.org" => "commits",
        _ => return None,
    };
    Some(format!(
        "https://{}/{{{{ repository }}}}/{commit_path}/{{{{ commit }}}}",
        host.to_ascii_lowercase()
    ))
}

fn environment() -> minijinja::Environment<'static> {
    // An unknown attribute is an error, not an empty part of a link.
    crate::template::environment()
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "0123456789abcdef0123456789abcdef01234567";

    fn vars() -> CommitVars<'static> {
        CommitVars {
            commit: C,
            branch: "main",
            repository: "org/fleet",
        }
    }

    #[test]
    fn renders_the_three_variables() {
        let t = "https://git.example.com/{{ repository }}/commit/{{ commit }}?b={{ branch }}";
        check(t).unwrap();
        assert_eq!(
            render(t, &vars()).unwrap(),
            format!("https://git.example.com/org/fleet/commit/{C}?b=main")
        );
    }

    #[test]
    fn refuses_unknown_variables_bad_syntax_and_other_schemes() {
        assert_eq!(
            check("https://x/{{ comit }}"),
            Err(LinkError::Unknown {
                name: "comit".into()
            })
        );
        assert!(matches!(
            check("https://x/{{ commit "),
            Err(LinkError::Syntax { .. })
        ));
        assert!(matches!(
            check("javascript:alert({{ commit }})"),
            Err(LinkError::NotHttp(_))
        ));
        assert!(matches!(check("https://"), Err(LinkError::NotHttp(_))));
    }

    #[test]
    fn derives_links_for_public_forges_only() {
        let link = |url: &str| {
            derive(url).map(|t| {
                let path = repository_path(url);
                render(
                    &t,
                    &CommitVars {
                        repository: &path,
                        ..vars()
                    },
                )
                .unwrap()
            })
        };
        assert_eq!(
            link("https://github.com/org/fleet.git").unwrap(),
            format!("https://github.com/org/fleet/commit/{C}")
        );
        assert_eq!(
            link("https://gitlab.com/group/sub/fleet.git").unwrap(),
            format!("https://gitlab.com/group/sub/fleet/-/commit/{C}")
        );
        assert_eq!(
            link("ssh://git@bitbucket.org/team/fleet.git").unwrap(),
            format!("https://bitbucket.org/team/fleet/commits/{C}")
        );
        assert_eq!(
            link("https://codeberg.org/org/fleet").unwrap(),
            format!("https://codeberg.org/org/fleet/commit/{C}")
        );
        assert_eq!(link("https://git.example.com/org/fleet.git"), None);
        assert_eq!(link("file:///srv/git/fleet.git"), None);
        assert_eq!(link("http://github.com/org/fleet.git"), None);
        assert_eq!(link("https://github.com/"), None);
    }
}
