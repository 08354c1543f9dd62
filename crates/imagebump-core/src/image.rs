//! Image references: parsing and normalisation the way Docker and OCI tools do it.
//!
//! `nginx` is `docker.io/library/nginx`; `localhost:5000/app` has a port, not a tag;
//! `app:1.2@sha256:…` carries both. Two references name the same image when their
//! normalised names are equal, however each was written. This module does no I/O.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

/// The registry Docker Hub's short names belong to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ImageError {
    /// The reference as given.
    pub input: String,
    /// What is wrong with it, in words.
    pub reason: String,
}

/// A parsed, normalised image reference.
///
/// Equality and hashing are on the normalised form, so `nginx` equals
/// `docker.io/library/nginx` and `index.docker.io/library/nginx`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// Registry host, with port if any (`docker.io`, `ghcr.io`, `localhost:5000`).
    pub registry: String,
    /// Repository path inside the registry (`library/nginx`, `org/app`).
    pub repository: String,
    /// Tag, if the reference carries one.
    pub tag: Option<String>,
    /// Digest (`sha256:…`), if the reference carries one.
    pub digest: Option<String>,
}

/// The pieces of a reference exactly as written, before normalisation.
///
/// Editors use this to keep the repository part as the file wrote it (`nginx` stays
/// `nginx`) while replacing only the tag and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawParts<'a> {
    /// Everything before the tag and digest, as written.
    pub name: &'a str,
    /// The tag, without its `:`.
    pub tag: Option<&'a str>,
    /// The digest, without its `@`.
    pub digest: Option<&'a str>,
}

static PATH_COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").unwrap());
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$",
    )
    .unwrap()
});

/// Splits a reference into name, tag and digest as written, without validating.
///
/// The tag is the part after the last `:` that follows the last `/`, so a registry
/// port (`localhost:5000/app`) is never mistaken for a tag.
pub fn split_raw(s: &str) -> RawParts<'_> {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(i) => RawParts {
            name: &rest[..last_slash + i],
            tag: Some(&rest[last_slash + i + 1..]),
            digest,
        },
        None => RawParts {
            name: rest,
            tag: None,
            digest,
        },
    }
}

/// Checks a digest string (`sha256:<64 hex>` or `sha512:<128 hex>`, lowercase).
pub fn validate_digest(d: &str) -> Result<(), String> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err(format!(
            "digest {d:?} has no algorithm (expected sha256:<hex>)"
        ));
    };
    let want = match alg {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(format!("digest algorithm {alg:?} is not sha256 or sha512")),
    };
    if hex.len() != want || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "digest {d:?} must be {alg}: followed by {want} lowercase hex digits"
        ));
    }
    Ok(())
}

/// Checks a tag: a word character, then up to 127 of `[A-Za-z0-9_.-]`.
///
/// Checked byte by byte, not with a regex: the OCI grammar is ASCII, and the regex it was
/// (`[\w][\w.-]{0,127}`) both let Unicode letters through and, with Unicode `\w` repeated
/// 127 times, compiled to ~16 MB of automaton on first use — a third of `once`'s peak RSS.
pub fn validate_tag(t: &str) -> Result<(), String> {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let ok = match t.as_bytes().split_first() {
        Some((first, rest)) => {
            t.len() <= 128
                && word(first)
                && rest.iter().all(|b| word(b) || matches!(b, b'.' | b'-'))
        }
        None => false,
    };
    if ok {
        Ok(())
    } else if t.is_empty() {
        Err("the tag is empty".into())
    } else {
        Err(format!(
            "tag {t:?} must start with a letter, digit or _ and hold at most 128 of [A-Za-z0-9_.-]"
        ))
    }
}

impl ImageRef {
    /// Parses and normalises a reference such as `nginx`, `ghcr.io/org/app:1.2.3`,
    /// `localhost:5000/app@sha256:…` or `app:1.2@sha256:…`.
    pub fn parse(s: &str) -> Result<ImageRef, ImageError> {
        let err = |reason: String| ImageError {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("the reference is empty".into()));
        }
        if s.trim() != s {
            return Err(err("leading or trailing whitespace".into()));
        }
        let raw = split_raw(s);
        if let Some(d) = raw.digest {
            validate_digest(d).map_err(err)?;
        }
        if let Some(t) = raw.tag {
            validate_tag(t).map_err(err)?;
        }
        let (registry, repository) = normalise_name(raw.name).map_err(err)?;
        Ok(ImageRef {
            registry,
            repository,
            tag: raw.tag.map(str::to_string),
            digest: raw.digest.map(str::to_string),
        })
    }

    /// `registry/repository`, the normalised name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same image without tag and digest.
    pub fn without_version(&self) -> ImageRef {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: None,
        }
    }

    /// True when both name the same repository, whatever their tags or digests.
    pub fn same_repository(&self, other: &ImageRef) -> bool {
        self.registry == other.registry && self.repository == other.repository
    }

    /// The host that serves the registry API (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }
}

/// Splits a name into (registry, repository), filling in Docker Hub defaults.
fn normalise_name(name: &str) -> Result<(String, String), String> {
    if name.is_empty() {
        return Err("the repository name is empty".into());
    }
    let (domain, path) = match name.split_once('/') {
        // Docker's rule: the first component is a host if it has a dot or a port, or is localhost.
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    if !DOMAIN.is_match(&domain) {
        return Err(format!(
            "registry host {domain:?} is not a valid host[:port]"
        ));
    }
    let domain = match domain.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        _ => domain,
    };
    for component in path.split('/') {
        if component.is_empty() {
            return Err(format!("repository {path:?} has an empty path component"));
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "repository {path:?} must be lowercase (found {component:?})"
            ));
        }
        if !PATH_COMPONENT.is_match(component) {
            return Err(format!(
                "repository path component {component:?} may hold only a-z, 0-9 and single separators . _ __ -"
            ));
        }
    }
    let path = if domain == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if domain.len() + 1 + path.len() > 255 {
        return Err("the name is longer than 255 characters".into());
    }
    Ok((domain, path))
}

impl FromStr for ImageRef {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_short_names() {
        assert_eq!(p("nginx").name(), "docker.io/library/nginx");
        assert_eq!(p("nginx:1.25").tag.as_deref(), Some("1.25"));
        assert_eq!(p("bitnami/redis").name(), "docker.io/bitnami/redis");
        assert_eq!(p("docker.io/nginx"), p("nginx"));
        assert_eq!(p("index.docker.io/library/nginx"), p("nginx"));
        assert_eq!(p("nginx").api_host(), "registry-1.docker.io");
    }

    #[test]
    fn hosts_and_ports() {
        let r = p("localhost:5000/app");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag),
            ("localhost:5000", "app", None)
        );
        let r = p("localhost:5000/team/app:v2");
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.repository, "team/app");
        let r = p("localhost/app");
        assert_eq!(r.registry, "localhost");
        let r = p("127.0.0.1:5000/a/b/c:1.0.0");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "a/b/c")
        );
        let r = p("ghcr.io/org/app:1.2.3");
        assert_eq!(r.name(), "ghcr.io/org/app");
        assert_eq!(r.api_host(), "ghcr.io");
        let r = p("[::1]:5000/app:1");
        assert_eq!(r.registry, "[::1]:5000");
    }

    #[test]
    fn digests() {
        let r = p(&format!("app@{D}"));
        assert_eq!((r.tag.clone(), r.digest.as_deref()), (None, Some(D)));
        assert_eq!(r.name(), "docker.io/library/app");
        let r = p(&format!("app:1.2@{D}"));
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        assert_eq!(r.to_string(), format!("docker.io/library/app:1.2@{D}"));
        let r = p(&format!("localhost:5000/app@{D}"));
        assert_eq!(r.registry, "localhost:5000");
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "Nginx",
            "ghcr.io/Org/app",
            "app:",
            "app@",
            "app@sha256:abc",
            "app@md5:0123",
            &format!("app@{}", D.to_uppercase()),
            "/app",
            "app/",
            "a//b",
            "ghcr.io/",
            "app:-x",
            "app:has space",
            " app",
            "a..b",
            "-app",
            "app-",
            "bad_host:port/app",
        ] {
            let e = ImageRef::parse(bad);
            assert!(e.is_err(), "{bad:?} should be rejected, got {e:?}");
        }
        let msg = ImageRef::parse("ghcr.io/Org/app").unwrap_err().to_string();
        assert!(msg.contains("lowercase"), "{msg}");
        let msg = ImageRef::parse("app@sha256:abc").unwrap_err().to_string();
        assert!(msg.contains("64 lowercase hex"), "{msg}");
    }

    #[test]
    fn separators_and_uppercase_hosts() {
        p("my_org/my__app");
        p("my-org/a---b");
        p("a.b/c.d_e-f");
        assert_eq!(
            p("Registry.Example.com/app").registry,
            "Registry.Example.com"
        );
        let long_tag = "a".repeat(128);
        p(&format!("app:{long_tag}"));
        assert!(ImageRef::parse(&format!("app:{long_tag}a")).is_err());
    }

    #[test]
    fn tags_follow_the_ascii_grammar() {
        for ok in ["1", "_x", "v1.2.3-rc.1_b", "A-._"] {
            assert_eq!(validate_tag(ok), Ok(()), "{ok}");
        }
        // Unicode word characters were accepted by the former `\w` regex.
        for bad in ["", ".1", "-1", "é", "1.é", "a b", "a:b", "a/b", "a+b"] {
            assert!(validate_tag(bad).is_err(), "{bad:?}");
        }
        assert!(validate_tag(&"a".repeat(128)).is_ok());
        assert!(validate_tag(&"a".repeat(129)).is_err());
    }

    #[test]
    fn raw_split_keeps_text() {
        let r = split_raw("localhost:5000/app");
        assert_eq!(
            r,
            RawParts {
                name: "localhost:5000/app",
                tag: None,
                digest: None
            }
        );
        let r = split_raw("nginx:1.2@sha256:x");
        assert_eq!(
            (r.name, r.tag, r.digest),
            ("nginx", Some("1.2"), Some("sha256:x"))
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "ghcr.io/org/app:1",
            "localhost:5000/x/y",
            "docker.io/library/nginx:latest",
        ] {
            assert_eq!(p(s).to_string(), s);
            assert_eq!(p(&p(s).to_string()), p(s));
        }
    }
}
