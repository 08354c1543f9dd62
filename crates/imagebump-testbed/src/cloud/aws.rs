//! A **stand-in** for Amazon ECR's `GetAuthorizationToken` (and nothing else of the
//! API), after its documentation: `POST /` with `X-Amz-Target:
//! AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken` and
//! `Content-Type: application/x-amz-json-1.1`, signed with SigV4 (the stand-in checks
//! the `Authorization` header's scheme, access key id and `…/ecr/aws4_request` scope,
//! not the signature itself); answers `{"authorizationData":[{"authorizationToken",
//! "expiresAt","proxyEndpoint"}]}`, or `400` `{"__type":"UnrecognizedClientException",
//! "message":…}` for an unknown key, as ECR does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine;

use crate::standin::{Req, Resp, StandInServer};

/// The access key id the stand-in accepts.
pub const ACCESS_KEY_ID: &str = "AKIASTANDIN000000001";
/// Its secret (the stand-in does not verify signatures).
pub const SECRET_ACCESS_KEY: &str = "stand-in-secret-access-key";

/// An `application/x-amz-json-1.1` answer.
fn amz_json(status: u16, v: serde_json::Value) -> Resp {
    Resp {
        body: v.to_string().into_bytes(),
        ..Resp::status(status)
    }
    .header("Content-Type", "application/x-amz-json-1.1")
}

pub struct EcrStandIn {
    server: StandInServer,
    expires_in: Arc<AtomicU64>,
}

impl EcrStandIn {
    /// Serves tokens `AWS:<password>` expiring `expires_in` seconds from each answer.
    pub fn start(password: &str, expires_in: u64) -> EcrStandIn {
        let exp = Arc::new(AtomicU64::new(expires_in));
        let (e2, pw) = (exp.clone(), password.to_string());
        let server = StandInServer::start(move |req: &Req| {
            let err = |status: u16, ty: &str, msg: &str| {
                amz_json(status, serde_json::json!({"__type": ty, "message": msg}))
                    .header("x-amzn-ErrorType", ty)
            };
            if req.method != "POST" || req.path() != "/" {
                return err(404, "UnknownOperationException", "Unknown operation");
            }
            if req.header("X-Amz-Target")
                != Some("AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken")
            {
                return err(400, "UnknownOperationException", "Unknown operation");
            }
            let auth = req.header("Authorization").unwrap_or("");
            let Some(cred) = auth
                .strip_prefix("AWS4-HMAC-SHA256 Credential=")
                .and_then(|c| c.split(',').next())
            else {
                return err(
                    400,
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                );
            };
            let parts: Vec<&str> = cred.split('/').collect();
            if parts.first() != Some(&ACCESS_KEY_ID) {
                return err(
                    400,
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                );
            }
            if parts.len() != 5 || parts[3] != "ecr" || parts[4] != "aws4_request" {
                return err(
                    400,
                    "InvalidSignatureException",
                    "Credential should be scoped to correct service: 'ecr'.",
                );
            }
            let now = super::now();
            let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{pw}"));
            amz_json(
                200,
                serde_json::json!({"authorizationData": [{
                    "authorizationToken": token,
                    "expiresAt": (now + e2.load(Ordering::SeqCst)) as f64,
                    "proxyEndpoint": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
                }]}),
            )
        });
        EcrStandIn {
            server,
            expires_in: exp,
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_ECR`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.host())
    }

    /// GetAuthorizationToken calls so far.
    pub fn calls(&self) -> usize {
        self.server.count("/")
    }

    /// Changes how long later tokens live.
    pub fn set_expires_in(&self, secs: u64) {
        self.expires_in.store(secs, Ordering::SeqCst);
    }
}
