//! Credentials and the registry auth handshake: Docker `config.json`, host-name
//! normalisation, `WWW-Authenticate` challenges and bearer-token responses.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine;

use imagebump_core::image::DOCKER_HUB;
use imagebump_core::secret::Secret;

/// Why a Docker config file could not be used.
///
/// Messages never quote values from the file, so a password cannot leak through them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerConfigError {
    /// The file could not be read.
    #[error("cannot read docker config {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error, in words.
        reason: String,
    },
    /// The file is not JSON, or not shaped like a Docker config.
    #[error("docker config is invalid: {0}")]
    Invalid(String),
}

/// Registry credentials read from a Docker `config.json` (or a Kubernetes
/// `.dockerconfigjson` Secret, which is the same JSON).
///
/// Keys of `auths` may be a host (`ghcr.io`), a URL (`https://ghcr.io/v2/`) or Docker
/// Hub's historic `https://index.docker.io/v1/`; all are normalised with
/// [`normalise_host`]. An entry carries either `auth` (base64 of `user:password`) or
/// `username` and `password`. The legacy `.dockercfg` shape (the map without the
/// `auths` wrapper) is read too. Credential helpers are named by `credHelpers` (per
/// host, wins) and `credsStore` (every host without inline credentials); running them
/// is [`crate::helper`]'s job. `identitytoken` entries are skipped.
#[derive(Clone, Default)]
pub struct DockerConfig {
    auths: HashMap<String, (String, Secret)>,
    helpers: HashMap<String, String>,
    store: Option<String>,
}

impl std::fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut hosts: Vec<_> = self.auths.keys().collect();
        hosts.sort();
        f.debug_struct("DockerConfig")
            .field("hosts", &hosts)
            .field("helpers", &self.helpers)
            .field("store", &self.store)
            .finish()
    }
}

impl DockerConfig {
    /// Parses the JSON text of a Docker config.
    pub fn parse(json: &str) -> Result<DockerConfig, DockerConfigError> {
        // Parse to a Value first: serde_json's *type* errors quote the offending value,
        // its syntax errors only give a position.
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| DockerConfigError::Invalid(format!("not JSON ({e})")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| DockerConfigError::Invalid("the top level is not an object".into()))?;
        let (helpers, store) = helpers_of(obj)?;
        let empty = serde_json::Map::new();
        let auths = match obj.get("auths") {
            Some(a) => a
                .as_object()
                .ok_or_else(|| DockerConfigError::Invalid("\"auths\" is not an object".into()))?,
            None if obj.values().all(|v| v.get("auth").is_some()) => obj,
            None => &empty,
        };
        let mut out = HashMap::new();
        for (key, entry) in auths {
            let host = normalise_host(key);
            let field = |name: &str| {
                entry
                    .get(name)
                    .and_then(|v| v.as_str())
                    .filter(|s| !s.is_empty())
            };
            let creds = if let Some(auth) = field("auth") {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|_| {
                        DockerConfigError::Invalid(format!("auth of {host:?} is not base64"))
                    })?;
                let text = String::from_utf8(raw).map_err(|_| {
                    DockerConfigError::Invalid(format!("auth of {host:?} is not UTF-8"))
                })?;
                let (user, pass) = text.split_once(':').ok_or_else(|| {
                    DockerConfigError::Invalid(format!("auth of {host:?} is not user:password"))
                })?;
                (user.to_string(), Secret::new(pass))
            } else if let (Some(u), Some(p)) = (field("username"), field("password")) {
                (u.to_string(), Secret::new(p))
            } else {
                continue;
            };
            // A bare host wins over a URL form of the same host; otherwise first wins.
            if !out.contains_key(&host) || !key.contains("://") {
                out.insert(host, creds);
            }
        }
        Ok(DockerConfig {
            auths: out,
            helpers,
            store,
        })
    }

    /// Reads and parses a Docker config file.
    pub fn load(path: &Path) -> Result<DockerConfig, DockerConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| DockerConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        DockerConfig::parse(&text)
    }

    /// The (username, password) for a registry host, if the file has some.
    /// `host` may be written any way [`normalise_host`] accepts.
    pub fn credentials_for(&self, host: &str) -> Option<(String, Secret)> {
        self.auths.get(&normalise_host(host)).cloned()
    }

    /// The credential helper for a registry host: its `credHelpers` entry, else
    /// `credsStore` when the file holds no inline credentials for the host (Docker's
    /// order). The name `x` means the binary `docker-credential-x`.
    pub fn helper_for(&self, host: &str) -> Option<String> {
        let host = normalise_host(host);
        if let Some(h) = self.helpers.get(&host) {
            return Some(h.clone());
        }
        if self.auths.contains_key(&host) {
            return None;
        }
        self.store.clone()
    }

    /// The normalised hosts that have credentials, sorted.
    pub fn hosts(&self) -> Vec<String> {
        let mut h: Vec<_> = self.auths.keys().cloned().collect();
        h.sort();
        h
    }
}

/// `credHelpers` (host → helper name, hosts normalised) and `credsStore`; empty names
/// are ignored, as Docker does.
type Helpers = (HashMap<String, String>, Option<String>);

fn helpers_of(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<Helpers, DockerConfigError> {
    let mut helpers = HashMap::new();
    if let Some(h) = obj.get("credHelpers") {
        let h = h
            .as_object()
            .ok_or_else(|| DockerConfigError::Invalid("\"credHelpers\" is not an object".into()))?;
        for (host, name) in h {
            let name = name.as_str().ok_or_else(|| {
                DockerConfigError::Invalid(format!("credHelpers of {host:?} is not a string"))
            })?;
            if !name.is_empty() {
                helpers.insert(normalise_host(host), name.to_string());
            }
        }
    }
    let store = match obj.get("credsStore") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| DockerConfigError::Invalid("\"credsStore\" is not a string".into()))?
                .to_string(),
        ),
    }
    .filter(|s| !s.is_empty());
    Ok((helpers, store))
}

/// Normalises a registry host as written in configs: drops a scheme and any path,
/// lowercases, and maps Docker Hub's aliases (`index.docker.io`,
/// `registry-1.docker.io`, `registry.hub.docker.com`) to `docker.io`.
pub fn normalise_host(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("").to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" | "docker.io" => {
            DOCKER_HUB.to_string()
        }
        _ => host,
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// `Basic realm=…`.
    Basic,
    /// `Bearer realm=…,service=…,scope=…`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value. Unknown schemes give `None`.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    let realm = params.get("realm")?.clone();
    Some(Challenge::Bearer {
        realm,
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// Parses `key=value, key="quoted, value"` auth-params (RFC 7235).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        _ => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// What a token endpoint answers (Docker token spec; OAuth2 uses `access_token`).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// Tokens without `expires_in` live 60 s (Docker token spec).
pub(crate) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// The longest a token is reused, whatever its `expires_in` says (1 hour): a huge value
/// must not overflow, and a token is cheap to fetch again.
pub(crate) const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

impl TokenResponse {
    /// The token and how long to use it: its lifetime less a safety margin (10%,
    /// at most 10 s), so a token is never sent in its last moments.
    pub fn into_parts(self) -> Option<(String, Duration)> {
        let token = self.token.or(self.access_token).filter(|t| !t.is_empty())?;
        let life = self
            .expires_in
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s).min(MAX_TOKEN_LIFETIME))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let margin = (life / 10).min(Duration::from_secs(10));
        Some((token, life - margin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn docker_config_forms() {
        let json = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "ghcr.io": {{"username": "u2", "password": "p2"}},
                "https://Quay.io": {{"auth": "{}"}},
                "http://localhost:5000/v2/": {{"auth": "{}"}},
                "helper.example": {{"identitytoken": "x"}}
            }}, "credHelpers": {{"gcr.io": "gcloud"}}}}"#,
            b64("hubuser:hub:pass"),
            b64("q:qp"),
            b64("l:lp")
        );
        let c = DockerConfig::parse(&json).unwrap();
        let (u, p) = c.credentials_for("docker.io").unwrap();
        assert_eq!((u.as_str(), p.expose()), ("hubuser", "hub:pass"));
        assert!(c.credentials_for("registry-1.docker.io").is_some());
        assert_eq!(c.credentials_for("ghcr.io").unwrap().1.expose(), "p2");
        assert_eq!(c.credentials_for("quay.io").unwrap().0, "q");
        assert_eq!(c.credentials_for("localhost:5000").unwrap().0, "l");
        assert!(c.credentials_for("helper.example").is_none());
        assert!(c.credentials_for("gcr.io").is_none());
        assert_eq!(c.helper_for("https://gcr.io").as_deref(), Some("gcloud"));
        assert_eq!(c.helper_for("ghcr.io"), None);
        assert!(!format!("{c:?}").contains("qp"));
    }

    #[test]
    fn creds_store_covers_hosts_without_inline_credentials() {
        let json = format!(
            r#"{{"auths": {{"a.example": {{}}, "b.example": {{"auth": "{}"}}}},
                "credsStore": "pass", "credHelpers": {{"c.example": "ecr-login"}}}}"#,
            b64("u:p")
        );
        let c = DockerConfig::parse(&json).unwrap();
        assert_eq!(c.helper_for("a.example").as_deref(), Some("pass"));
        assert_eq!(c.helper_for("other.example").as_deref(), Some("pass"));
        assert_eq!(c.helper_for("b.example"), None);
        assert_eq!(c.helper_for("c.example").as_deref(), Some("ecr-login"));
        // A helpers-only file (no "auths") is a config too.
        let c = DockerConfig::parse(r#"{"credHelpers": {"r.example": "x"}}"#).unwrap();
        assert_eq!(c.helper_for("r.example").as_deref(), Some("x"));
        assert!(DockerConfig::parse(r#"{"credsStore": 3}"#).is_err());
    }

    #[test]
    fn docker_config_errors_do_not_leak() {
        let e = DockerConfig::parse(r#"{"auths": {"h": {"auth": "c2VjcmV0"}}}"#).unwrap_err();
        assert!(e.to_string().contains("user:password"), "{e}");
        assert!(!e.to_string().contains("secret"));
        let e =
            DockerConfig::parse(r#"{"auths": {"h": {"auth": "!!not-b64-hunter2"}}}"#).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(DockerConfig::parse("not json").is_err());
        assert!(DockerConfig::parse("{}").unwrap().hosts().is_empty());
        // Legacy .dockercfg: no "auths" wrapper.
        let legacy = format!(r#"{{"r.example": {{"auth": "{}"}}}}"#, b64("a:b"));
        assert!(DockerConfig::parse(&legacy)
            .unwrap()
            .credentials_for("r.example")
            .is_some());
    }

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge("bearer realm=http://t/token"),
            Some(Challenge::Bearer {
                realm: "http://t/token".into(),
                service: None,
                scope: None
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn token_lifetimes() {
        let t: TokenResponse = serde_json::from_str(r#"{"token":"t","expires_in":300}"#).unwrap();
        assert_eq!(t.into_parts(), Some(("t".into(), Duration::from_secs(290))));
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(t.into_parts(), Some(("a".into(), Duration::from_secs(54))));
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"t","expires_in":18446744073709551615}"#).unwrap();
        assert_eq!(
            t.into_parts(),
            Some(("t".into(), Duration::from_secs(3590)))
        );
        let t: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert_eq!(t.into_parts(), None);
    }

    #[test]
    fn hosts_normalise() {
        assert_eq!(normalise_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalise_host("GHCR.io"), "ghcr.io");
        assert_eq!(
            normalise_host("http://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
    }
}
