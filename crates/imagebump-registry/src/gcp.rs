//! `provider: gcp` — Google Artifact Registry / Container Registry: an OAuth access
//! token used as Basic `oauth2accesstoken:<token>` (what `gcloud auth
//! configure-docker` does), found as Google's client libraries find one:
//!
//! 1. `GOOGLE_APPLICATION_CREDENTIALS` names a JSON file:
//!    - `"type": "service_account"` — a key: a self-signed RS256 JWT exchanged at its
//!      `token_uri` (JWT bearer grant, RFC 7523);
//!    - `"type": "external_account"` — workload identity federation: the subject token
//!      from `credential_source.file` or `credential_source.url` (with `headers`; as
//!      text or a JSON field, `format`) exchanged at `token_url` (STS, RFC 8693), then,
//!      with `service_account_impersonation_url`, a service account's token.
//! 2. Otherwise the metadata server (GKE workload identity, GCE):
//!    `http://$GCE_METADATA_HOST/computeMetadata/v1/instance/service-accounts/default/token`
//!    (`metadata.google.internal` by default) with `Metadata-Flavor: Google`.
//!
//! Each answer's `expires_in` is honoured; [`crate::provider::Cached`] renews it early.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Method;

use crate::oauth::{self, Body};
use crate::provider::{Credential, CredentialError, CredentialFuture, CredentialProvider};
use imagebump_core::secret::Secret;

/// The scope every token is asked for (Artifact Registry accepts it).
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const DEFAULT_METADATA_HOST: &str = "metadata.google.internal";

/// Where the token comes from.
#[derive(Clone)]
enum Source {
    Metadata {
        host: String,
    },
    ServiceAccount {
        email: String,
        key_pem: Secret,
        key_id: Option<String>,
        token_uri: String,
    },
    External {
        subject: Subject,
        /// `credential_source.format.subject_token_field_name` for a JSON answer.
        json_field: Option<String>,
        audience: String,
        subject_token_type: String,
        token_url: String,
        impersonation_url: Option<String>,
    },
}

/// Where an external account's subject token comes from (`credential_source`).
#[derive(Clone)]
enum Subject {
    /// `file`: read anew for each exchange (kubelet rotates it).
    File(PathBuf),
    /// `url` with `headers`: fetched for each exchange (an identity provider's local
    /// token endpoint, e.g. Azure IMDS for federation from Azure).
    Url {
        url: String,
        headers: Vec<(String, Secret)>,
    },
}

/// GCP credentials for one registry.
#[derive(Clone)]
pub struct GcpProvider {
    http: reqwest::Client,
    source: Source,
}

impl GcpProvider {
    /// Finds the credentials as Google's libraries do, reading variables through `env`
    /// (`std::env::var` in the service; a map in tests) and the credentials file now, so
    /// a bad file fails start-up naming it.
    pub fn discover(
        http: reqwest::Client,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GcpProvider, CredentialError> {
        let source = match env("GOOGLE_APPLICATION_CREDENTIALS").filter(|s| !s.is_empty()) {
            Some(path) => from_file(&PathBuf::from(path))?,
            None => Source::Metadata {
                host: env("GCE_METADATA_HOST")
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| DEFAULT_METADATA_HOST.to_string()),
            },
        };
        Ok(GcpProvider { http, source })
    }

    /// [`discover`](Self::discover) from the process environment, with its own HTTP
    /// client (environment proxies apply).
    pub fn from_env() -> Result<GcpProvider, CredentialError> {
        GcpProvider::discover(oauth::http_client()?, &|k| std::env::var(k).ok())
    }

    async fn token(&self) -> Result<Credential, CredentialError> {
        let (token, life) = match &self.source {
            Source::Metadata { host } => {
                let who = "GCP metadata server";
                let url = format!(
                    "http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
                );
                let mut h = HeaderMap::new();
                h.insert("Metadata-Flavor", HeaderValue::from_static("Google"));
                let v = oauth::call(&self.http, who, Method::GET, &url, h, Body::None).await?;
                access_token(&v, who)?
            }
            Source::ServiceAccount {
                email,
                key_pem,
                key_id,
                token_uri,
            } => {
                let who = "Google OAuth (service account key)";
                let jwt = sign_jwt(email, key_pem, key_id.as_deref(), token_uri)?;
                let body = oauth::form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", jwt.expose()),
                ]);
                let v = oauth::call(
                    &self.http,
                    who,
                    Method::POST,
                    token_uri,
                    HeaderMap::new(),
                    Body::Form(body),
                )
                .await?;
                access_token(&v, who)?
            }
            Source::External {
                subject,
                json_field,
                audience,
                subject_token_type,
                token_url,
                impersonation_url,
            } => {
                let subject = self.subject_token(subject, json_field.as_deref()).await?;
                let who = "Google STS (workload identity federation)";
                let body = oauth::form(&[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("audience", audience),
                    ("scope", SCOPE),
                    (
                        "requested_token_type",
                        "urn:ietf:params:oauth:token-type:access_token",
                    ),
                    ("subject_token_type", subject_token_type),
                    ("subject_token", subject.expose()),
                ]);
                let v = oauth::call(
                    &self.http,
                    who,
                    Method::POST,
                    token_url,
                    HeaderMap::new(),
                    Body::Form(body),
                )
                .await?;
                let (sts, life) = access_token(&v, who)?;
                match impersonation_url {
                    None => (sts, life),
                    Some(url) => self.impersonate(url, &sts).await?,
                }
            }
        };
        Ok(Credential {
            username: "oauth2accesstoken".to_string(),
            password: token,
            lifetime: Some(life),
        })
    }

    /// The federated subject token, from its file or URL, as `text` or a JSON field.
    async fn subject_token(
        &self,
        subject: &Subject,
        json_field: Option<&str>,
    ) -> Result<Secret, CredentialError> {
        let (whence, text) = match subject {
            Subject::File(file) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    CredentialError::fatal(format!(
                        "cannot read the subject token file {}: {e}",
                        file.display()
                    ))
                })?;
                (format!("subject token file {}", file.display()), text)
            }
            Subject::Url { url, headers } => {
                let who = "the external account's credential_source.url";
                let mut h = HeaderMap::new();
                for (k, v) in headers {
                    let name =
                        reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                            CredentialError::fatal(format!(
                                "credential_source.headers: {k:?} is not a header name"
                            ))
                        })?;
                    let mut value = HeaderValue::from_str(v.expose()).map_err(|_| {
                        CredentialError::fatal(format!(
                            "credential_source.headers.{k} is not a header value"
                        ))
                    })?;
                    value.set_sensitive(true);
                    h.insert(name, value);
                }
                let (origin, body) =
                    oauth::call_raw(&self.http, who, Method::GET, url, h, Body::None).await?;
                let text = String::from_utf8(body).map_err(|_| {
                    CredentialError::fatal(format!("{who} ({origin}): answer is not UTF-8"))
                })?;
                (format!("the subject token from {origin}"), text)
            }
        };
        subject_from_text(&whence, &text, json_field)
    }

    /// IAM Credentials `generateAccessToken`: `{"accessToken","expireTime"}`.
    async fn impersonate(
        &self,
        url: &str,
        sts: &Secret,
    ) -> Result<(Secret, Duration), CredentialError> {
        let who = "Google IAM Credentials (impersonation)";
        let mut h = HeaderMap::new();
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", sts.expose()))
            .map_err(|_| CredentialError::fatal(format!("{who}: STS token is not a header")))?;
        auth.set_sensitive(true);
        h.insert(AUTHORIZATION, auth);
        let body = serde_json::json!({"scope": [SCOPE], "lifetime": "3600s"}).to_string();
        let v = oauth::call(&self.http, who, Method::POST, url, h, Body::Json(body)).await?;
        let token = oauth::field(&v, "accessToken", who)?;
        let expire = oauth::field(&v, "expireTime", who)?;
        let at = humantime::parse_rfc3339_weak(expire)
            .map_err(|_| CredentialError::fatal(format!("{who}: expireTime is not RFC 3339")))?;
        let life = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Ok((Secret::new(token), life))
    }
}

impl CredentialProvider for GcpProvider {
    fn fetch(&self) -> CredentialFuture<'_> {
        Box::pin(async move { self.token().await.map(Some) })
    }

    fn name(&self) -> String {
        "gcp".to_string()
    }
}

fn access_token(v: &serde_json::Value, who: &str) -> Result<(Secret, Duration), CredentialError> {
    let tok = oauth::field(v, "access_token", who)?;
    // Google's tokens live an hour; an answer without expires_in is treated as such.
    let life = oauth::expires_in(v).unwrap_or(Duration::from_secs(3600));
    Ok((Secret::new(tok), life))
}

fn from_file(path: &std::path::Path) -> Result<Source, CredentialError> {
    let where_ = format!("GOOGLE_APPLICATION_CREDENTIALS file {}", path.display());
    let text = std::fs::read_to_string(path)
        .map_err(|e| CredentialError::fatal(format!("cannot read {where_}: {e}")))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|_| CredentialError::fatal(format!("{where_} is not JSON")))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let need = |k: &str| {
        s(k).filter(|x| !x.is_empty())
            .ok_or_else(|| CredentialError::fatal(format!("{where_} has no {k}")))
    };
    match s("type").as_deref() {
        Some("service_account") => Ok(Source::ServiceAccount {
            email: need("client_email")?,
            key_pem: Secret::new(need("private_key")?),
            key_id: s("private_key_id"),
            token_uri: s("token_uri").unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string()),
        }),
        Some("external_account") => {
            let (subject, json_field) = credential_source(v.get("credential_source"), &where_)?;
            Ok(Source::External {
                subject,
                json_field,
                audience: need("audience")?,
                subject_token_type: need("subject_token_type")?,
                token_url: s("token_url")
                    .unwrap_or_else(|| "https://sts.googleapis.com/v1/token".into()),
                impersonation_url: s("service_account_impersonation_url"),
            })
        }
        other => Err(CredentialError::fatal(format!(
            "{where_}: type {other:?} is not service_account or external_account"
        ))),
    }
}

/// An external account's `credential_source`, as Google documents it: `file` or `url`
/// (with optional `headers`), and `format` — `{"type": "text"}` (the default) or
/// `{"type": "json", "subject_token_field_name": …}`.
fn credential_source(
    src: Option<&serde_json::Value>,
    where_: &str,
) -> Result<(Subject, Option<String>), CredentialError> {
    let bad = |what: &str| CredentialError::fatal(format!("{where_}: credential_source{what}"));
    let src = src
        .filter(|s| s.is_object())
        .ok_or_else(|| bad(" is missing (it names a file or url)"))?;
    let str_at = |p: &str| src.pointer(p).and_then(|x| x.as_str());
    let subject = match (str_at("/file"), str_at("/url")) {
        (Some(f), None) if !f.is_empty() => Subject::File(PathBuf::from(f)),
        (None, Some(u)) => {
            reqwest::Url::parse(u).map_err(|_| bad(&format!(".url {u:?} is not a URL")))?;
            let mut headers = Vec::new();
            match src.get("headers") {
                None => {}
                Some(serde_json::Value::Object(m)) => {
                    for (k, v) in m {
                        let v = v
                            .as_str()
                            .ok_or_else(|| bad(&format!(".headers.{k} is not a string")))?;
                        headers.push((k.clone(), Secret::new(v)));
                    }
                }
                Some(_) => return Err(bad(".headers is not a map of names to values")),
            }
            Subject::Url {
                url: u.to_string(),
                headers,
            }
        }
        (Some(_), Some(_)) => return Err(bad(" has both file and url; keep one")),
        _ if src.get("executable").is_some() || src.get("environment_id").is_some() => {
            return Err(bad(
                ": executable and AWS (environment_id) sources are not supported; use file or url",
            ))
        }
        _ => return Err(bad(" names neither a file nor a url")),
    };
    let json_field = match str_at("/format/type") {
        None | Some("text") => None,
        Some("json") => Some(
            str_at("/format/subject_token_field_name")
                .filter(|f| !f.is_empty())
                .ok_or_else(|| bad(".format is json but has no subject_token_field_name"))?
                .to_string(),
        ),
        Some(t) => return Err(bad(&format!(".format.type {t:?} is not text or json"))),
    };
    Ok((subject, json_field))
}

/// The subject token in `text` (from `whence`, for messages): all of it, trimmed, or
/// the string field `json_field` of a JSON object.
fn subject_from_text(
    whence: &str,
    text: &str,
    json_field: Option<&str>,
) -> Result<Secret, CredentialError> {
    let token = match json_field {
        None => text.trim().to_string(),
        Some(f) => serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get(f)?.as_str().map(str::to_string))
            .ok_or_else(|| CredentialError::fatal(format!("{whence} has no string field {f:?}")))?,
    };
    if token.is_empty() {
        return Err(CredentialError::fatal(format!("{whence} is empty")));
    }
    Ok(Secret::new(token))
}

/// The RS256 JWT of Google's JWT bearer grant, signed with the key's private key
/// (OpenSSL, which native-tls already links).
fn sign_jwt(
    email: &str,
    key_pem: &Secret,
    key_id: Option<&str>,
    aud: &str,
) -> Result<Secret, CredentialError> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if let Some(k) = key_id {
        header["kid"] = serde_json::Value::String(k.to_string());
    }
    let claims = serde_json::json!({
        "iss": email, "scope": SCOPE, "aud": aud, "iat": now, "exp": now + 3600,
    });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let bad = || {
        CredentialError::fatal(
            "the service account key's private_key is not a usable RSA PEM key".to_string(),
        )
    };
    let key = openssl::pkey::PKey::private_key_from_pem(key_pem.expose().as_bytes())
        .map_err(|_| bad())?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
        .map_err(|_| bad())?;
    signer.update(input.as_bytes()).map_err(|_| bad())?;
    let sig = signer.sign_to_vec().map_err(|_| bad())?;
    Ok(Secret::new(format!("{input}.{}", b64(&sig))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery() {
        let http = reqwest::Client::new();
        let p = GcpProvider::discover(http.clone(), &|_| None).unwrap();
        assert!(matches!(p.source, Source::Metadata { ref host } if host == DEFAULT_METADATA_HOST));
        let p = GcpProvider::discover(http.clone(), &|k| {
            (k == "GCE_METADATA_HOST").then(|| "127.0.0.1:9".to_string())
        })
        .unwrap();
        assert!(matches!(p.source, Source::Metadata { ref host } if host == "127.0.0.1:9"));
        let e = GcpProvider::discover(http, &|k| {
            (k == "GOOGLE_APPLICATION_CREDENTIALS").then(|| "/nonexistent/key.json".to_string())
        })
        .err()
        .unwrap();
        assert!(e.detail.contains("/nonexistent/key.json"), "{e}");
    }
}
