//! `provider: aws` — Amazon ECR: `GetAuthorizationToken` with the AWS SDK's standard
//! credential chain (environment, shared config and credentials files and profiles,
//! web identity / IRSA, EKS Pod Identity and ECS container endpoints, IMDSv2), whose
//! answer is base64 `AWS:<password>`, used as Basic and renewed before its `expiresAt`
//! (12 hours). The region comes from the registry host
//! (`<account>.dkr.ecr.<region>.amazonaws.com`), else the SDK's own lookup;
//! `AWS_ENDPOINT_URL_ECR` / `AWS_ENDPOINT_URL` override the endpoint, as everywhere in
//! the SDK.

use std::time::{Duration, SystemTime};

use base64::Engine;
use tokio::sync::OnceCell;

use crate::error::one_line;
use crate::provider::{Credential, CredentialError, CredentialFuture, CredentialProvider};
use imagebump_core::secret::Secret;

/// ECR credentials for one registry.
pub struct EcrProvider {
    host: String,
    region: Option<String>,
    registry_id: Option<String>,
    /// The SDK client, built on first use (loading the chain is async).
    client: OnceCell<aws_sdk_ecr::Client>,
}

/// The account and region of an ECR host, if it is one
/// (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`, also `.amazonaws.com.cn` and FIPS).
pub fn parse_host(host: &str) -> Option<(String, String)> {
    let host = host.split(':').next()?;
    let mut parts = host.split('.');
    let account = parts.next()?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if parts.next()? != "dkr" {
        return None;
    }
    let ecr = parts.next()?;
    if ecr != "ecr" && ecr != "ecr-fips" {
        return None;
    }
    let region = parts.next()?;
    (parts.next()? == "amazonaws").then(|| (account.to_string(), region.to_string()))
}

impl EcrProvider {
    /// A provider for the registry at `host`.
    pub fn new(host: &str) -> EcrProvider {
        let parsed = parse_host(host);
        EcrProvider {
            host: host.to_string(),
            region: parsed.as_ref().map(|(_, r)| r.clone()),
            registry_id: parsed.map(|(a, _)| a),
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> &aws_sdk_ecr::Client {
        self.client
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(r) = &self.region {
                    loader = loader.region(aws_config::Region::new(r.clone()));
                }
                aws_sdk_ecr::Client::new(&loader.load().await)
            })
            .await
    }

    async fn token(&self) -> Result<Credential, CredentialError> {
        let client = self.client().await;
        let mut req = client.get_authorization_token();
        if let Some(id) = &self.registry_id {
            // Deprecated in the API but still honoured; harmless for the caller's own
            // account, and needed for a registry in another account.
            #[allow(deprecated)]
            {
                req = req.registry_ids(id.clone());
            }
        }
        let out = req.send().await.map_err(|e| {
            use aws_sdk_ecr::error::ProvideErrorMetadata;
            let transient = matches!(
                e,
                aws_sdk_ecr::error::SdkError::TimeoutError(_)
                    | aws_sdk_ecr::error::SdkError::DispatchFailure(_)
            );
            let detail = match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => aws_sdk_ecr::error::DisplayErrorContext(&e).to_string(),
            };
            let msg = format!(
                "ECR GetAuthorizationToken for {}: {}",
                self.host,
                one_line(&detail, 300)
            );
            if transient {
                CredentialError::transient(msg)
            } else {
                CredentialError::fatal(msg)
            }
        })?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| CredentialError::fatal("ECR answered no authorizationData"))?;
        let token = data
            .authorization_token()
            .ok_or_else(|| CredentialError::fatal("ECR answered no authorizationToken"))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| CredentialError::fatal("ECR's authorizationToken is not base64"))?;
        let (user, pass) = raw.split_once(':').ok_or_else(|| {
            CredentialError::fatal("ECR's authorizationToken is not user:password")
        })?;
        // ECR tokens live 12 hours; expiresAt says exactly.
        let life = data
            .expires_at()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .map(|at| {
                at.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            })
            .unwrap_or(Duration::from_secs(12 * 3600));
        Ok(Credential {
            username: user.to_string(),
            password: Secret::new(pass),
            lifetime: Some(life),
        })
    }
}

impl CredentialProvider for EcrProvider {
    fn fetch(&self) -> CredentialFuture<'_> {
        Box::pin(async move { self.token().await.map(Some) })
    }

    fn name(&self) -> String {
        "aws".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            parse_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            Some(("123456789012".into(), "eu-west-1".into()))
        );
        assert_eq!(
            parse_host("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com"),
            Some(("123456789012".into(), "us-east-1".into()))
        );
        assert_eq!(
            parse_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            Some(("123456789012".into(), "cn-north-1".into()))
        );
        assert_eq!(parse_host("ghcr.io"), None);
        assert_eq!(parse_host("127.0.0.1:5000"), None);
    }
}
