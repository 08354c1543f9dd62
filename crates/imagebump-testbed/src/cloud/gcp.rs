//! A **stand-in** for Google's token services, after their documentation:
//!
//! - the metadata server's
//!   `GET /computeMetadata/v1/instance/service-accounts/default/token`, which answers
//!   only with `Metadata-Flavor: Google` (403 otherwise);
//! - OAuth 2.0's `POST /token` with the JWT bearer grant
//!   (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…`), checking
//!   the RS256 signature against the service account's public key (`openssl dgst`),
//!   `iss`, `aud` and `scope`; errors as `{"error":"invalid_grant",
//!   "error_description":…}` with 400;
//! - STS's `POST /v1/token` token exchange (RFC 8693) for workload identity federation,
//!   checking `audience`, `subject_token_type` and the subject token;
//! - for an external account whose `credential_source` is a `url`, the identity
//!   provider's local token endpoint: `GET /subject-token` with `Metadata: True`
//!   (as Azure IMDS is asked when federating from Azure), answering
//!   `{"access_token": <subject token>}`, 400 without the header.
//!
//! Every access token issued is the one given at start; `expires_in` is settable.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine;

use crate::registry::run;
use crate::standin::{Req, Resp, StandInServer};

/// The stand-in and the credential files that point at it.
pub struct GcpStandIn {
    server: StandInServer,
    dir: PathBuf,
    expires_in: Arc<AtomicU64>,
}

/// The service account the key file is for.
pub const SERVICE_ACCOUNT: &str = "imagebump@test-project.iam.gserviceaccount.com";
/// The workload identity pool provider audience of the external-account file.
pub const AUDIENCE: &str =
    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s";
/// The federated token the subject-token file holds.
pub const SUBJECT_TOKEN: &str = "eyJ-kubernetes-service-account-token";

fn oauth_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        serde_json::json!({"error": error, "error_description": description}).to_string(),
    )
}

impl GcpStandIn {
    /// Starts serving `access_token` with `expires_in` seconds; writes a service
    /// account key (a fresh RSA key) and an external-account file into `dir`.
    pub fn start(dir: &Path, access_token: &str, expires_in: u64) -> GcpStandIn {
        let key = dir.join("sa.key");
        let public = dir.join("sa.pub");
        run(Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key));
        run(Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public));
        let expires = Arc::new(AtomicU64::new(expires_in));
        let (tok, exp, work) = (access_token.to_string(), expires.clone(), dir.to_path_buf());
        let port = Arc::new(AtomicU64::new(0));
        let port2 = port.clone();
        let server = StandInServer::start(move |req: &Req| {
            let answer = || {
                Resp::json(
                    200,
                    serde_json::json!({
                        "access_token": tok,
                        "expires_in": exp.load(Ordering::SeqCst),
                        "token_type": "Bearer"
                    })
                    .to_string(),
                )
            };
            match (req.method.as_str(), req.path()) {
                ("GET", "/computeMetadata/v1/instance/service-accounts/default/token") => {
                    if req.header("Metadata-Flavor") != Some("Google") {
                        return Resp::json(403, "Missing required header: Metadata-Flavor");
                    }
                    answer()
                }
                ("POST", "/token") => {
                    if req.form("grant_type").as_deref()
                        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
                    {
                        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type");
                    }
                    let aud = format!("http://127.0.0.1:{}/token", port2.load(Ordering::SeqCst));
                    match check_jwt(&work, &req.form("assertion").unwrap_or_default(), &aud) {
                        Ok(()) => answer(),
                        Err(why) => oauth_error(400, "invalid_grant", why),
                    }
                }
                ("POST", "/v1/token") => {
                    let f = |k: &str| req.form(k).unwrap_or_default();
                    if f("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" {
                        return oauth_error(400, "invalid_request", "Invalid grant_type");
                    }
                    if f("audience") != AUDIENCE {
                        return oauth_error(400, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid");
                    }
                    if f("subject_token_type") != "urn:ietf:params:oauth:token-type:jwt" {
                        return oauth_error(400, "invalid_request", "Invalid subject_token_type");
                    }
                    if f("subject_token") != SUBJECT_TOKEN {
                        return oauth_error(
                            400,
                            "invalid_grant",
                            "The provided subject token is invalid",
                        );
                    }
                    Resp::json(
                        200,
                        serde_json::json!({
                            "access_token": tok,
                            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                            "token_type": "Bearer",
                            "expires_in": exp.load(Ordering::SeqCst)
                        })
                        .to_string(),
                    )
                }
                ("GET", "/subject-token") => {
                    if req.header("Metadata") != Some("True") {
                        return oauth_error(
                            400,
                            "invalid_request",
                            "Required metadata header not specified",
                        );
                    }
                    Resp::json(
                        200,
                        serde_json::json!({"access_token": SUBJECT_TOKEN, "token_type": "Bearer"})
                            .to_string(),
                    )
                }
                _ => Resp::json(404, r#"{"error":"not_found"}"#),
            }
        });
        port.store(u64::from(server.port), Ordering::SeqCst);
        let base = format!("http://127.0.0.1:{}", server.port);
        let sa = serde_json::json!({
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": "k1",
            "private_key": std::fs::read_to_string(&key).unwrap(),
            "client_email": SERVICE_ACCOUNT,
            "token_uri": format!("{base}/token"),
        });
        std::fs::write(dir.join("service-account.json"), sa.to_string()).unwrap();
        std::fs::write(dir.join("subject-token"), SUBJECT_TOKEN).unwrap();
        let ext = serde_json::json!({
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("{base}/v1/token"),
            "credential_source": {"file": dir.join("subject-token"), "format": {"type": "text"}},
        });
        std::fs::write(dir.join("external-account.json"), ext.to_string()).unwrap();
        let mut by_url = ext.clone();
        by_url["credential_source"] = serde_json::json!({
            "url": format!("{base}/subject-token"),
            "headers": {"Metadata": "True"},
            "format": {"type": "json", "subject_token_field_name": "access_token"},
        });
        std::fs::write(dir.join("external-account-url.json"), by_url.to_string()).unwrap();
        GcpStandIn {
            server,
            dir: dir.to_path_buf(),
            expires_in: expires,
        }
    }

    /// `127.0.0.1:PORT`, for `GCE_METADATA_HOST`.
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// A service account key file whose `token_uri` is this stand-in.
    pub fn service_account_file(&self) -> PathBuf {
        self.dir.join("service-account.json")
    }

    /// An external-account (workload identity federation) file using this stand-in.
    pub fn external_account_file(&self) -> PathBuf {
        self.dir.join("external-account.json")
    }

    /// An external-account file whose `credential_source` is this stand-in's
    /// `/subject-token` URL (with its `Metadata: True` header, JSON format).
    pub fn external_account_url_file(&self) -> PathBuf {
        self.dir.join("external-account-url.json")
    }

    /// Requests for the subject token at `/subject-token` so far.
    pub fn subject_token_requests(&self) -> usize {
        self.server.count("/subject-token")
    }

    /// The subject-token file the external-account file names.
    pub fn subject_token_file(&self) -> PathBuf {
        self.dir.join("subject-token")
    }

    /// Token requests received so far (on the three token endpoints).
    pub fn issued(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| {
                matches!(
                    r.path(),
                    "/token"
                        | "/v1/token"
                        | "/computeMetadata/v1/instance/service-accounts/default/token"
                )
            })
            .count()
    }

    /// Changes `expires_in` of later answers.
    pub fn set_expires_in(&self, secs: u64) {
        self.expires_in.store(secs, Ordering::SeqCst);
    }
}

/// Checks a JWT bearer assertion: RS256 over `header.claims` with the service
/// account's key, and the claims Google requires.
fn check_jwt(dir: &Path, jwt: &str, aud: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe");
    };
    let dec = |x: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(x);
    let (Ok(header), Ok(claims), Ok(sig)) = (dec(h), dec(c), dec(s)) else {
        return Err("Invalid JWT Signature.");
    };
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|_| "Invalid JWT")?;
    let claims: serde_json::Value = serde_json::from_slice(&claims).map_err(|_| "Invalid JWT")?;
    if header["alg"] != "RS256" {
        return Err("Invalid JWT: alg must be RS256");
    }
    // One file pair per check: concurrent checks must not overwrite each other's.
    let n = rand::random::<u64>();
    let (data, sigf) = (
        dir.join(format!("jwt-{n}.data")),
        dir.join(format!("jwt-{n}.sig")),
    );
    std::fs::write(&data, format!("{h}.{c}")).unwrap();
    std::fs::write(&sigf, sig).unwrap();
    let ok = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("sa.pub"))
        .arg("-signature")
        .arg(&sigf)
        .arg(&data)
        .output()
        .is_ok_and(|o| o.status.success());
    let _ = (std::fs::remove_file(data), std::fs::remove_file(sigf));
    if !ok {
        return Err("Invalid JWT Signature.");
    }
    let now = super::now();
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    if claims["iss"] != SERVICE_ACCOUNT
        || claims["aud"] != aud
        || claims["scope"].as_str().is_none_or(str::is_empty)
        || iat > now + 60
        || exp <= now
        || exp - iat > 3600
    {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
    }
    Ok(())
}
