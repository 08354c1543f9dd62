//! Where a repository is on its forge: the host and the owner path read from its git URL
//! (`https://`, `ssh://`, scp-like `git@host:path`), the API base URL derived from them,
//! and the percent-encoding the API paths and queries need.

use crate::{ForgeError, Provider};

/// A repository as its forge names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath {
    /// `https` or `http` when the git URL was HTTP(S); `https` for SSH URLs.
    pub scheme: String,
    /// Host, with its port for HTTP(S) URLs (an SSH port says nothing about the API's).
    pub host: String,
    /// The path segments without `.git`: `[owner, name]`, on GitLab `[group, sub…, name]`.
    pub segments: Vec<String>,
}

impl RepoPath {
    /// Reads the repository from its git URL; `provider` says how many segments it has.
    pub fn parse(url: &str, provider: Provider) -> Result<RepoPath, ForgeError> {
        let bad = |why: &str| {
            ForgeError::Config(format!(
                "repository URL {}: {why}; expected https://HOST/OWNER/NAME.git, \
                 ssh://git@HOST/OWNER/NAME.git or git@HOST:OWNER/NAME.git",
                redact(url)
            ))
        };
        let (scheme, host, path) = if let Some((scheme, rest)) = url.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            let (authority, path) = rest.split_once('/').ok_or_else(|| bad("no path"))?;
            // Credentials in the URL are the git side's business; never the API host.
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = match scheme.as_str() {
                "https" | "http" => host_port.to_string(),
                "ssh" | "git+ssh" => strip_port(host_port).to_string(),
                "file" => return Self::local(rest),
                _ => return Err(bad("unsupported scheme")),
            };
            let scheme = if scheme == "http" { "http" } else { "https" };
            (scheme.to_string(), host, path)
        } else if let Some((authority, path)) = url.split_once(':') {
            // scp-like: [user@]host:path (no scheme, no port).
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            ("https".to_string(), host.to_string(), path)
        } else {
            return Err(bad("not a URL"));
        };
        if host.is_empty() || host.contains('/') {
            return Err(bad("no host"));
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let path = path.trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let ok = match provider {
            Provider::Gitlab => segments.len() >= 2,
            _ => segments.len() == 2,
        };
        if !ok {
            return Err(bad(match provider {
                Provider::Gitlab => "a GitLab project path is GROUP[/SUBGROUP…]/NAME",
                Provider::Bitbucket => "a Bitbucket repository is WORKSPACE/SLUG",
                _ => "a repository is OWNER/NAME",
            }));
        }
        Ok(RepoPath {
            scheme,
            host,
            segments,
        })
    }

    /// A `file://` repository (tests): no forge host, so `apiUrl` is needed; the owner
    /// and name are its last two path segments.
    fn local(path: &str) -> Result<RepoPath, ForgeError> {
        let path = path.trim_end_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let segments: Vec<String> = path
            .rsplit('/')
            .filter(|s| !s.is_empty())
            .take(2)
            .map(str::to_string)
            .collect();
        if segments.len() < 2 {
            return Err(ForgeError::Config(format!(
                "repository URL file://{path}: a file:// repository needs OWNER/NAME.git as \
                 its last two path segments"
            )));
        }
        Ok(RepoPath {
            scheme: "file".into(),
            host: String::new(),
            segments: segments.into_iter().rev().collect(),
        })
    }

    /// Whether the repository is on a forge host (not `file://`).
    pub fn has_host(&self) -> bool {
        !self.host.is_empty()
    }

    /// The owner (GitLab: the namespace path; Bitbucket: the workspace).
    pub fn owner(&self) -> String {
        self.segments[..self.segments.len() - 1].join("/")
    }

    /// The repository's name (Bitbucket: its slug).
    pub fn name(&self) -> &str {
        &self.segments[self.segments.len() - 1]
    }

    /// The whole path, `owner/name`.
    pub fn full(&self) -> String {
        self.segments.join("/")
    }

    /// The provider's API base URL for this repository's host, as documented on
    /// [`crate::ForgeConfig::api_url`].
    pub fn default_api_url(&self, provider: Provider) -> String {
        let root = format!("{}://{}", self.scheme, self.host);
        match provider {
            Provider::Github if self.host.eq_ignore_ascii_case("github.com") => {
                "https://api.github.com".into()
            }
            Provider::Github => format!("{root}/api/v3"),
            Provider::Gitlab => format!("{root}/api/v4"),
            Provider::Gitea => format!("{root}/api/v1"),
            Provider::Bitbucket => "https://api.bitbucket.org/2.0".into(),
        }
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..h.len() + 1]);
    }
    host.split_once(':').map_or(host, |(h, _)| h)
}

/// The URL without credentials, for messages.
pub(crate) fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}/{path}"),
                None => url.to_string(),
            }
        }
        None => match url.rsplit_once('@') {
            Some((_, rest)) => format!("***@{rest}"),
            None => url.to_string(),
        },
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters: safe in a path
/// segment (a GitLab project path's `/` becomes `%2F`) and in a query value.
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k=v&…`, each key and value percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(url: &str, provider: Provider) -> RepoPath {
        RepoPath::parse(url, provider).unwrap()
    }

    #[test]
    fn reads_owner_and_name_from_each_url_form() {
        for url in [
            "https://github.com/acme/fleet.git",
            "https://github.com/acme/fleet",
            "https://x-access-token:ghp_secret@github.com/acme/fleet.git/",
            "ssh://git@github.com/acme/fleet.git",
            "ssh://git@github.com:22/acme/fleet.git",
            "git@github.com:acme/fleet.git",
            "github.com:acme/fleet",
        ] {
            let r = p(url, Provider::Github);
            assert_eq!(r.host, "github.com", "{url}");
            assert_eq!((r.owner().as_str(), r.name()), ("acme", "fleet"), "{url}");
            assert_eq!(
                r.default_api_url(Provider::Github),
                "https://api.github.com"
            );
        }
    }

    #[test]
    fn a_file_url_names_its_last_two_segments_and_no_host() {
        let r = p("file:///tmp/x/acme/fleet.git", Provider::Gitlab);
        assert_eq!((r.full().as_str(), r.has_host()), ("acme/fleet", false));
        assert!(RepoPath::parse("file:///fleet.git", Provider::Github).is_err());
    }

    #[test]
    fn default_api_urls_follow_the_host() {
        let r = p(
            "https://git.example.com:8443/acme/fleet.git",
            Provider::Github,
        );
        assert_eq!(
            r.default_api_url(Provider::Github),
            "https://git.example.com:8443/api/v3"
        );
        let r = p(
            "git@gitlab.example.com:platform/team/fleet.git",
            Provider::Gitlab,
        );
        assert_eq!(r.owner(), "platform/team");
        assert_eq!(r.full(), "platform/team/fleet");
        assert_eq!(
            r.default_api_url(Provider::Gitlab),
            "https://gitlab.example.com/api/v4"
        );
        let r = p(
            "ssh://git@gitea.example.com:2222/acme/fleet.git",
            Provider::Gitea,
        );
        assert_eq!(
            r.default_api_url(Provider::Gitea),
            "https://gitea.example.com/api/v1"
        );
        let r = p("http://127.0.0.1:3000/acme/fleet.git", Provider::Gitea);
        assert_eq!(
            r.default_api_url(Provider::Gitea),
            "http://127.0.0.1:3000/api/v1"
        );
        let r = p("git@bitbucket.org:acme/fleet.git", Provider::Bitbucket);
        assert_eq!(
            r.default_api_url(Provider::Bitbucket),
            "https://api.bitbucket.org/2.0"
        );
    }

    #[test]
    fn refuses_paths_the_provider_cannot_name_without_leaking_credentials() {
        for (url, provider) in [
            ("https://github.com/acme/team/fleet.git", Provider::Github),
            ("https://github.com/fleet.git", Provider::Github),
            ("https://gitlab.com/fleet.git", Provider::Gitlab),
            ("https://bitbucket.org/acme", Provider::Bitbucket),
            ("ftp://host/acme/fleet", Provider::Gitea),
            ("fleet", Provider::Gitea),
            ("https://user:hunter2@github.com/", Provider::Github),
        ] {
            let e = RepoPath::parse(url, provider).unwrap_err().to_string();
            assert!(e.contains("expected https://"), "{url}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn encodes_gitlab_project_paths_and_query_values() {
        assert_eq!(pct("platform/team/fleet"), "platform%2Fteam%2Ffleet");
        assert_eq!(
            query(&[("head", "acme:imagebump/updates"), ("q", "a=\"b c\"")]),
            "?head=acme%3Aimagebump%2Fupdates&q=a%3D%22b%20c%22"
        );
    }
}
