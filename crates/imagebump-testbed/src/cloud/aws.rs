//! A **stand-in** for Amazon ECR's `GetAuthorizationToken` (and nothing else of the
//! API), after its documentation: `POST /` with `X-Amz-Target:
//! AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken` and
//! `Content-Type: application/x-amz-json-1.1`, signed with SigV4 (the stand-in checks
//! the `Authorization` header's scheme, access key id and `…/ecr/aws4_request` scope,
//! not the signature itself); answers `{"authorizationData":[{"authorizationToken",
//! "expiresAt","proxyEndpoint"}]}`, or `400` `{"__type":"UnrecognizedClientException",
//! "message":…}` for an unknown key, as ECR does.
//!
//! It also stands in for STS's `AssumeRoleWithWebIdentity` (IRSA), after the STS API
//! reference: an unsigned `POST /` form (`Action`, `Version=2011-06-15`, `RoleArn`,
//! `RoleSessionName`, `WebIdentityToken`) answered with the documented XML, or an
//! `<ErrorResponse>` (`InvalidIdentityToken`, 400). Its session credentials are
//! accepted by the ECR side with their `X-Amz-Security-Token`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine;

use crate::standin::{Req, Resp, StandInServer};

/// The access key id the stand-in accepts.
pub const ACCESS_KEY_ID: &str = "AKIASTANDIN000000001";
/// Its secret (the stand-in does not verify signatures).
pub const SECRET_ACCESS_KEY: &str = "stand-in-secret-access-key";
/// The role IRSA assumes.
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/imagebump";
/// The projected service account token STS accepts.
pub const WEB_IDENTITY_TOKEN: &str = "eyJ-eks-projected-token";
/// The session credentials STS hands out.
pub const SESSION_KEY_ID: &str = "ASIASTANDINSESSION01";
pub const SESSION_TOKEN: &str = "stand-in-session-token";

/// STS `AssumeRoleWithWebIdentity` (query protocol, XML answers).
fn assume_role(req: &Req) -> Resp {
    let xml = |status: u16, body: String| {
        Resp {
            body: body.into_bytes(),
            ..Resp::status(status)
        }
        .header("Content-Type", "text/xml")
    };
    let f = |k: &str| req.form(k).unwrap_or_default();
    if f("Version") != "2011-06-15" || f("RoleArn") != ROLE_ARN || f("RoleSessionName").is_empty() {
        return xml(400, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>RoleArn, RoleSessionName or Version invalid</Message></Error><RequestId>r1</RequestId></ErrorResponse>".into());
    }
    if f("WebIdentityToken") != WEB_IDENTITY_TOKEN {
        return xml(400, "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Couldn't retrieve verification key from your identity provider</Message></Error><RequestId>r2</RequestId></ErrorResponse>".into());
    }
    let exp = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
    );
    xml(200, format!("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{SESSION_KEY_ID}</AccessKeyId><SecretAccessKey>stand-in-session-secret</SecretAccessKey><SessionToken>{SESSION_TOKEN}</SessionToken><Expiration>{exp}</Expiration></Credentials><SubjectFromWebIdentityToken>system:serviceaccount:imagebump:imagebump</SubjectFromWebIdentityToken><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/imagebump/s</Arn><AssumedRoleId>AROASTANDIN:s</AssumedRoleId></AssumedRoleUser><Provider>oidc.eks.eu-west-1.amazonaws.com</Provider><Audience>sts.amazonaws.com</Audience></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r3</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"))
}

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
            if req.form("Action").as_deref() == Some("AssumeRoleWithWebIdentity") {
                return assume_role(req);
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
            let session_ok = parts.first() == Some(&SESSION_KEY_ID)
                && req.header("X-Amz-Security-Token") == Some(SESSION_TOKEN);
            if parts.first() != Some(&ACCESS_KEY_ID) && !session_ok {
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
        self.server
            .requests()
            .iter()
            .filter(|r| r.header("X-Amz-Target").is_some())
            .count()
    }

    /// AssumeRoleWithWebIdentity calls so far.
    pub fn assume_role_calls(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| r.form("Action").as_deref() == Some("AssumeRoleWithWebIdentity"))
            .count()
    }

    /// Changes how long later tokens live.
    pub fn set_expires_in(&self, secs: u64) {
        self.expires_in.store(secs, Ordering::SeqCst);
    }
}
