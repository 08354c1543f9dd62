//! A **stand-in** for Entra ID, Azure's managed-identity endpoints and ACR's token
//! exchange, after their documentation:
//!
//! - Entra ID `POST /{tenant}/oauth2/v2.0/token`, client-credentials grant with a
//!   federated `client_assertion` (workload identity); errors as
//!   `{"error","error_description":"AADSTS…"}`;
//! - IMDS `GET /metadata/identity/oauth2/token?api-version=…&resource=…` with
//!   `Metadata: true` (400 without), answering `expires_in` as a string;
//! - App Service `GET /msi/token?api-version=2019-08-01&resource=…` with
//!   `X-IDENTITY-HEADER`, answering `expires_on` (epoch seconds);
//! - ACR `POST /oauth2/exchange` (`grant_type=access_token&service&access_token`)
//!   answering `{"refresh_token"}`, or 401 `{"errors":[{"code","message"}]}`.
//!
//! The refresh token it gives is the one passed at start (the registry's htpasswd
//! password for `00000000-0000-0000-0000-000000000000`). As a login server
//! ([`AzureStandIn::login_server`]) it passes every other request on to a real
//! registry, as one ACR host serves both the exchange and `/v2/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::standin::{Req, Resp, StandInServer};

pub const TENANT: &str = "72f988bf-0000-0000-0000-2d7cd011db47";
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const FEDERATED_TOKEN: &str = "eyJ-projected-service-account-token";
pub const IDENTITY_HEADER: &str = "app-service-identity-header";
const ENTRA_TOKEN: &str = "eyJ-entra-id-access-token";

/// The stand-in; drop stops it.
pub struct AzureStandIn {
    server: StandInServer,
    dir: PathBuf,
    expires_in: Arc<AtomicU64>,
}

fn aad_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        serde_json::json!({"error": error, "error_description": description}).to_string(),
    )
}

impl AzureStandIn {
    /// Serves Entra ID tokens living `expires_in` seconds, exchanged for
    /// `refresh_token`; writes the federated token file into `dir`.
    pub fn start(dir: &Path, refresh_token: &str, expires_in: u64) -> AzureStandIn {
        AzureStandIn::serve(dir, refresh_token, expires_in, None)
    }

    /// Like [`start`](Self::start), and also the registry's login server as ACR is one:
    /// every other path (`/v2/…`) is passed on to the real registry at `registry`
    /// (`127.0.0.1:PORT`), so the host that answers `/oauth2/exchange` is the host
    /// whose `/v2/` checks the refresh token.
    pub fn login_server(
        dir: &Path,
        refresh_token: &str,
        expires_in: u64,
        registry: &str,
    ) -> AzureStandIn {
        AzureStandIn::serve(dir, refresh_token, expires_in, Some(registry.to_string()))
    }

    fn serve(
        dir: &Path,
        refresh_token: &str,
        expires_in: u64,
        upstream: Option<String>,
    ) -> AzureStandIn {
        std::fs::write(dir.join("azure-identity-token"), FEDERATED_TOKEN).unwrap();
        let exp = Arc::new(AtomicU64::new(expires_in));
        let (e2, refresh) = (exp.clone(), refresh_token.to_string());
        let server = StandInServer::start(move |req: &Req| {
            let life = e2.load(Ordering::SeqCst);
            let resource_ok =
                req.query("resource").as_deref() == Some("https://containerregistry.azure.net");
            match (req.method.as_str(), req.path()) {
                ("POST", p) if p == format!("/{TENANT}/oauth2/v2.0/token") => {
                    let f = |k: &str| req.form(k).unwrap_or_default();
                    if f("grant_type") != "client_credentials" {
                        return aad_error(
                            400,
                            "unsupported_grant_type",
                            "AADSTS70003: The app requested an unsupported grant type.",
                        );
                    }
                    if f("client_id") != CLIENT_ID {
                        return aad_error(400, "unauthorized_client", "AADSTS700016: Application with identifier was not found in the directory.");
                    }
                    if f("client_assertion_type")
                        != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                        || f("client_assertion") != FEDERATED_TOKEN
                    {
                        return aad_error(401, "invalid_client", "AADSTS700211: No matching federated identity record found for presented assertion issuer.");
                    }
                    if f("scope") != "https://containerregistry.azure.net/.default" {
                        return aad_error(400, "invalid_scope", "AADSTS70011: The provided value for the input parameter 'scope' is not valid.");
                    }
                    Resp::json(200, serde_json::json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": ENTRA_TOKEN}).to_string())
                }
                ("GET", "/metadata/identity/oauth2/token") => {
                    if req.header("Metadata") != Some("true") {
                        return aad_error(
                            400,
                            "invalid_request",
                            "Required metadata header not specified",
                        );
                    }
                    if req.query("api-version").is_none() || !resource_ok {
                        return aad_error(400, "invalid_request", "Required query variable 'api-version' or 'resource' is missing or invalid");
                    }
                    let now = super::now();
                    Resp::json(200, serde_json::json!({"access_token": ENTRA_TOKEN, "refresh_token": "", "expires_in": life.to_string(), "expires_on": (now + life).to_string(), "not_before": now.to_string(), "resource": "https://containerregistry.azure.net", "token_type": "Bearer"}).to_string())
                }
                ("GET", "/msi/token") => {
                    if req.header("X-IDENTITY-HEADER") != Some(IDENTITY_HEADER) {
                        return Resp::json(
                            401,
                            r#"{"statusCode":401,"message":"Unauthorized request. Missing or invalid X-IDENTITY-HEADER."}"#,
                        );
                    }
                    if req.query("api-version").as_deref() != Some("2019-08-01") || !resource_ok {
                        return Resp::json(
                            400,
                            r#"{"statusCode":400,"message":"api-version or resource invalid"}"#,
                        );
                    }
                    let now = super::now();
                    Resp::json(200, serde_json::json!({"access_token": ENTRA_TOKEN, "expires_on": (now + life).to_string(), "resource": "https://containerregistry.azure.net", "token_type": "Bearer", "client_id": CLIENT_ID}).to_string())
                }
                ("POST", "/oauth2/exchange") => {
                    let f = |k: &str| req.form(k).unwrap_or_default();
                    if f("grant_type") != "access_token"
                        || f("service").is_empty()
                        || f("access_token") != ENTRA_TOKEN
                    {
                        return Resp::json(
                            401,
                            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required, visit https://aka.ms/acr/authorization for more information."}]}"#,
                        );
                    }
                    Resp::json(
                        200,
                        serde_json::json!({"refresh_token": refresh}).to_string(),
                    )
                }
                _ => match &upstream {
                    Some(registry) => crate::standin::forward(req, registry),
                    None => Resp::json(404, r#"{"error":"not_found"}"#),
                },
            }
        });
        AzureStandIn {
            server,
            dir: dir.to_path_buf(),
            expires_in: exp,
        }
    }

    /// `http://127.0.0.1:PORT` (authority host, IMDS host, exchange base).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.host())
    }

    /// The federated (projected service account) token file.
    pub fn federated_token_file(&self) -> PathBuf {
        self.dir.join("azure-identity-token")
    }

    /// `127.0.0.1:PORT`: the login server's host (with [`login_server`](Self::login_server)).
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// Entra ID token requests so far (workload identity, IMDS, App Service).
    pub fn entra_tokens(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| {
                r.path().ends_with("/oauth2/v2.0/token")
                    || r.path() == "/metadata/identity/oauth2/token"
                    || r.path() == "/msi/token"
            })
            .count()
    }

    /// Requests to the ACR exchange so far.
    pub fn exchanges(&self) -> usize {
        self.server.count("/oauth2/exchange")
    }

    /// The `service` of the last exchange.
    pub fn last_service(&self) -> Option<String> {
        self.server
            .requests()
            .iter()
            .rev()
            .find(|r| r.path() == "/oauth2/exchange")
            .and_then(|r| r.form("service"))
    }

    /// Changes the lifetime of later Entra ID tokens.
    pub fn set_expires_in(&self, secs: u64) {
        self.expires_in.store(secs, Ordering::SeqCst);
    }
}
