//! `provider: azure` — Azure Container Registry, as `az acr login` does it: an Entra ID
//! access token, exchanged at the registry's `POST /oauth2/exchange`
//! (`grant_type=access_token`) for an ACR refresh token, used as Basic
//! `00000000-0000-0000-0000-000000000000:<refresh token>`.
//!
//! The Entra ID token comes, in the Azure SDKs' order, from:
//! 1. workload identity: `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_CLIENT_ID`,
//!    `AZURE_TENANT_ID` (`AZURE_AUTHORITY_HOST`, default
//!    `https://login.microsoftonline.com/`) — the client-credentials grant with the
//!    federated token as `client_assertion`;
//! 2. App Service / Functions managed identity: `IDENTITY_ENDPOINT` with
//!    `X-IDENTITY-HEADER: $IDENTITY_HEADER`;
//! 3. IMDS managed identity: `http://169.254.169.254/metadata/identity/oauth2/token`
//!    with `Metadata: true` (`AZURE_POD_IDENTITY_AUTHORITY_HOST` overrides the host, as
//!    in the SDKs; `AZURE_CLIENT_ID` picks a user-assigned identity).
//!
//! The refresh token's own `exp` (it is a JWT) bounds its reuse; when it has none, the
//! Entra ID token's lifetime does.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;

use crate::oauth::{self, Body};
use crate::provider::{Credential, CredentialError, CredentialFuture, CredentialProvider};
use imagebump_core::secret::Secret;

/// The Entra ID resource of ACR's data plane.
const RESOURCE: &str = "https://containerregistry.azure.net";
/// The username of an ACR refresh token.
pub const ACR_USER: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Clone)]
enum Source {
    Workload {
        token_file: PathBuf,
        client_id: String,
        token_url: String,
    },
    AppService {
        endpoint: String,
        header: Secret,
        client_id: Option<String>,
    },
    Imds {
        url: String,
        client_id: Option<String>,
    },
}

/// ACR credentials for one registry.
#[derive(Clone)]
pub struct AzureProvider {
    http: reqwest::Client,
    source: Source,
    /// `https://<registry>/oauth2/exchange`.
    exchange_url: String,
    /// The registry's login server, the exchange's `service`.
    service: String,
}

impl AzureProvider {
    /// Finds the identity from variables read through `env`; `registry` is the login
    /// server (`myregistry.azurecr.io`) and `exchange_url` its `/oauth2/exchange`.
    pub fn discover(
        http: reqwest::Client,
        env: &dyn Fn(&str) -> Option<String>,
        registry: &str,
        exchange_url: String,
    ) -> Result<AzureProvider, CredentialError> {
        let var = |k: &str| env(k).filter(|s| !s.trim().is_empty());
        let client_id = var("AZURE_CLIENT_ID");
        let source = if let Some(file) = var("AZURE_FEDERATED_TOKEN_FILE") {
            let need = |k: &str| {
                var(k).ok_or_else(|| {
                    CredentialError::fatal(format!(
                        "AZURE_FEDERATED_TOKEN_FILE is set but {k} is not (the workload identity webhook sets both; is the pod labelled azure.workload.identity/use: \"true\"?)"
                    ))
                })
            };
            let tenant = need("AZURE_TENANT_ID")?;
            let client_id = need("AZURE_CLIENT_ID")?;
            let authority = var("AZURE_AUTHORITY_HOST")
                .unwrap_or_else(|| "https://login.microsoftonline.com/".to_string());
            Source::Workload {
                token_file: PathBuf::from(file),
                client_id,
                token_url: format!(
                    "{}/{tenant}/oauth2/v2.0/token",
                    authority.trim_end_matches('/')
                ),
            }
        } else if let (Some(endpoint), Some(header)) =
            (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER"))
        {
            Source::AppService {
                endpoint,
                header: Secret::new(header),
                client_id,
            }
        } else {
            let host = var("AZURE_POD_IDENTITY_AUTHORITY_HOST")
                .unwrap_or_else(|| "http://169.254.169.254".to_string());
            Source::Imds {
                url: format!(
                    "{}/metadata/identity/oauth2/token",
                    host.trim_end_matches('/')
                ),
                client_id,
            }
        };
        Ok(AzureProvider {
            http,
            source,
            exchange_url,
            service: registry.to_string(),
        })
    }

    /// [`discover`](Self::discover) from the process environment.
    pub fn from_env(
        registry: &str,
        exchange_url: String,
    ) -> Result<AzureProvider, CredentialError> {
        AzureProvider::discover(
            oauth::http_client()?,
            &|k| std::env::var(k).ok(),
            registry,
            exchange_url,
        )
    }

    /// The Entra ID access token and its lifetime.
    async fn entra_token(&self) -> Result<(Secret, Duration), CredentialError> {
        match &self.source {
            Source::Workload {
                token_file,
                client_id,
                token_url,
            } => {
                let who = "Entra ID (workload identity)";
                // Read per exchange: kubelet rotates the projected token.
                let assertion = std::fs::read_to_string(token_file).map_err(|e| {
                    CredentialError::fatal(format!(
                        "cannot read AZURE_FEDERATED_TOKEN_FILE {}: {e}",
                        token_file.display()
                    ))
                })?;
                let scope = format!("{RESOURCE}/.default");
                let body = oauth::form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("scope", &scope),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.trim()),
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
                token_of(&v, who)
            }
            Source::AppService {
                endpoint,
                header,
                client_id,
            } => {
                let who = "Azure managed identity (App Service)";
                let mut url = reqwest::Url::parse(endpoint).map_err(|_| {
                    CredentialError::fatal(format!("IDENTITY_ENDPOINT {endpoint:?} is not a URL"))
                })?;
                url.query_pairs_mut()
                    .append_pair("api-version", "2019-08-01")
                    .append_pair("resource", RESOURCE);
                if let Some(c) = client_id {
                    url.query_pairs_mut().append_pair("client_id", c);
                }
                let mut h = HeaderMap::new();
                let mut v = HeaderValue::from_str(header.expose())
                    .map_err(|_| CredentialError::fatal("IDENTITY_HEADER is not a header value"))?;
                v.set_sensitive(true);
                h.insert("X-IDENTITY-HEADER", v);
                let v =
                    oauth::call(&self.http, who, Method::GET, url.as_str(), h, Body::None).await?;
                token_of(&v, who)
            }
            Source::Imds { url, client_id } => {
                let who = "Azure IMDS (managed identity)";
                let mut u = reqwest::Url::parse(url).map_err(|_| {
                    CredentialError::fatal(format!("IMDS URL {url:?} is not a URL"))
                })?;
                u.query_pairs_mut()
                    .append_pair("api-version", "2018-02-01")
                    .append_pair("resource", RESOURCE);
                if let Some(c) = client_id {
                    u.query_pairs_mut().append_pair("client_id", c);
                }
                let mut h = HeaderMap::new();
                h.insert("Metadata", HeaderValue::from_static("true"));
                let v =
                    oauth::call(&self.http, who, Method::GET, u.as_str(), h, Body::None).await?;
                token_of(&v, who)
            }
        }
    }

    async fn fetch_acr(&self) -> Result<Credential, CredentialError> {
        let (aad, aad_life) = self.entra_token().await?;
        let who = "ACR token exchange";
        let body = oauth::form(&[
            ("grant_type", "access_token"),
            ("service", &self.service),
            ("access_token", aad.expose()),
        ]);
        let v = oauth::call(
            &self.http,
            who,
            Method::POST,
            &self.exchange_url,
            HeaderMap::new(),
            Body::Form(body),
        )
        .await?;
        let refresh = oauth::field(&v, "refresh_token", who)?;
        let life = jwt_lifetime(refresh).unwrap_or(aad_life);
        Ok(Credential {
            username: ACR_USER.to_string(),
            password: Secret::new(refresh),
            lifetime: Some(life),
        })
    }
}

impl CredentialProvider for AzureProvider {
    fn fetch(&self) -> CredentialFuture<'_> {
        Box::pin(async move { self.fetch_acr().await.map(Some) })
    }

    fn name(&self) -> String {
        "azure".to_string()
    }
}

/// `access_token` and its lifetime: `expires_in` (Entra ID, IMDS) or `expires_on`
/// (App Service, seconds since the epoch).
fn token_of(v: &serde_json::Value, who: &str) -> Result<(Secret, Duration), CredentialError> {
    let tok = oauth::field(v, "access_token", who)?;
    let life = oauth::expires_in(v)
        .or_else(|| {
            let on = v.get("expires_on")?;
            let at = on
                .as_u64()
                .or_else(|| on.as_str().and_then(|s| s.trim().parse().ok()))?;
            Some(Duration::from_secs(at.saturating_sub(unix_now())))
        })
        .unwrap_or(Duration::from_secs(300));
    Ok((Secret::new(tok), life))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The time left until a JWT's `exp` (read, not verified: the registry verifies it).
fn jwt_lifetime(token: &str) -> Option<Duration> {
    let claims = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    let exp = v.get("exp")?.as_u64()?;
    Some(Duration::from_secs(exp.saturating_sub(unix_now())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_order() {
        let http = reqwest::Client::new();
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(kk, _)| *kk == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let p =
            AzureProvider::discover(http.clone(), &env(&[]), "r.azurecr.io", "x".into()).unwrap();
        assert!(
            matches!(p.source, Source::Imds { ref url, .. } if url == "http://169.254.169.254/metadata/identity/oauth2/token")
        );
        let p = AzureProvider::discover(
            http.clone(),
            &env(&[
                ("IDENTITY_ENDPOINT", "http://x/msi"),
                ("IDENTITY_HEADER", "h"),
            ]),
            "r",
            "x".into(),
        )
        .unwrap();
        assert!(matches!(p.source, Source::AppService { .. }));
        let e = AzureProvider::discover(
            http,
            &env(&[("AZURE_FEDERATED_TOKEN_FILE", "/t")]),
            "r",
            "x".into(),
        )
        .err()
        .unwrap();
        assert!(e.detail.contains("AZURE_TENANT_ID"), "{e}");
    }

    #[test]
    fn refresh_token_lifetime_from_its_exp() {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let tok = format!(
            "{}.{}.sig",
            b("{}"),
            b(&format!("{{\"exp\":{}}}", unix_now() + 100))
        );
        let l = jwt_lifetime(&tok).unwrap();
        assert!(
            l <= Duration::from_secs(100) && l >= Duration::from_secs(98),
            "{l:?}"
        );
        assert_eq!(jwt_lifetime("opaque"), None);
    }
}
