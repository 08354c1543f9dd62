//! `imagebump validate`'s checks of `registries:` beyond parsing: a `proxy` that is a
//! URL, a `clientCert`/`clientKey` pair that is there, is PEM and belongs together, and
//! for `provider:` whether the environment holds what the provider needs. Problems name
//! the config file, the line and the key; a provider whose identity may still come from
//! the machine (a metadata endpoint) is a warning, not a problem.
//!
//! The environment is passed in (`env`), so the checks see what the caller sees.

use std::path::Path;

use imagebump_core::edit::locate::line_of;
use imagebump_core::policy::Problem;

use crate::config::{CloudProvider, Config, RegistrySection};
use crate::secret::SecretRef;

/// What the checks found: problems (exit 2) and warnings.
#[derive(Debug, Default)]
pub struct Found {
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

/// Checks every registry of `cfg` (loaded from `config_path`).
pub fn check(config_path: &Path, cfg: &Config, env: &dyn Fn(&str) -> Option<String>) -> Found {
    let text = std::fs::read_to_string(config_path).ok();
    let mut found = Found::default();
    for (i, r) in cfg.registries.iter().enumerate() {
        let at = |key: &str, message: String| {
            let path = format!("registries[{i}]{key}");
            let mut p = Problem::new(
                config_path,
                format!("registries[{i}]{key} ({}): {message}", r.host),
            );
            p.line = text.as_deref().and_then(|t| line_of(t, &path));
            p
        };
        if let Some(p) = &r.proxy {
            if let Err(why) = proxy_url(p) {
                found.problems.push(at(".proxy", why));
            }
        }
        match client_identity(r) {
            Ok(()) => {}
            Err((key, why)) => found.problems.push(at(key, why)),
        }
        let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        match r.provider {
            None => {}
            Some(CloudProvider::Azure) => {
                for (bad, why) in azure(&var) {
                    let p = at(".provider", why);
                    if bad {
                        found.problems.push(p);
                    } else {
                        found.warnings.push(warning(p));
                    }
                }
            }
            Some(CloudProvider::Gcp) => {
                for (bad, why) in gcp(&var) {
                    let p = at(".provider", why);
                    if bad {
                        found.problems.push(p);
                    } else {
                        found.warnings.push(warning(p));
                    }
                }
            }
            Some(CloudProvider::Aws) => {
                for (bad, why) in aws(&var, &r.host) {
                    let p = at(".provider", why);
                    if bad {
                        found.problems.push(p);
                    } else {
                        found.warnings.push(warning(p));
                    }
                }
            }
        }
    }
    found
}

fn warning(mut p: Problem) -> Problem {
    p.message = format!("warning: {}", p.message);
    p
}

/// A proxy must be an absolute `http`, `https` or `socks5` URL with a host.
fn proxy_url(p: &str) -> Result<(), String> {
    let why = || {
        format!("{p:?} is not a proxy URL like http://proxy.example:3128 (scheme http, https or socks5, and a host)")
    };
    let u = reqwest::Url::parse(p).map_err(|_| why())?;
    let scheme_ok = matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h");
    if !scheme_ok || u.host_str().is_none_or(str::is_empty) {
        return Err(why());
    }
    Ok(())
}

/// Both or neither; each resolvable; PEM, PKCS#8, and a key of the certificate. The
/// error names the key (`.clientCert`) and never the content.
fn client_identity(r: &RegistrySection) -> Result<(), (&'static str, String)> {
    let (cert, key) = match (&r.client_cert, &r.client_key) {
        (None, None) => return Ok(()),
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => {
            return Err((
                ".clientCert",
                "needs clientKey as well (set both or neither)".into(),
            ))
        }
        (None, Some(_)) => {
            return Err((
                ".clientKey",
                "needs clientCert as well (set both or neither)".into(),
            ))
        }
    };
    let read = |what: &'static str, s: &SecretRef| s.resolve().map_err(|e| (what, e.to_string()));
    let cert_pem = read(".clientCert", cert)?;
    let key_pem = read(".clientKey", key)?;
    let id = imagebump_registry::ClientIdentity { cert_pem, key_pem };
    imagebump_registry::check_identity(&id).map_err(|why| {
        let key = if why.contains("certificate is not PEM") {
            ".clientCert"
        } else {
            ".clientKey"
        };
        (key, why)
    })
}

/// (is it a problem, what) for `provider: azure`, in the order the provider looks.
fn azure(var: &dyn Fn(&str) -> Option<String>) -> Vec<(bool, String)> {
    if let Some(file) = var("AZURE_FEDERATED_TOKEN_FILE") {
        let mut out: Vec<(bool, String)> = ["AZURE_CLIENT_ID", "AZURE_TENANT_ID"]
            .into_iter()
            .filter(|k| var(k).is_none())
            .map(|k| (true, format!("azure workload identity: AZURE_FEDERATED_TOKEN_FILE is set but {k} is not (the workload identity webhook sets both; is the pod labelled azure.workload.identity/use: \"true\"?)")))
            .collect();
        if std::fs::metadata(&file).is_err() {
            out.push((false, format!("azure workload identity: AZURE_FEDERATED_TOKEN_FILE {file} does not exist here (kubelet projects it into the pod)")));
        }
        return out;
    }
    match (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
        (Some(_), Some(_)) => Vec::new(),
        (Some(_), None) => vec![(true, "azure managed identity: IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not".into())],
        _ => vec![(false, "azure finds no identity in the environment: neither workload identity (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID) nor App Service managed identity (IDENTITY_ENDPOINT, IDENTITY_HEADER) is set, so IMDS (169.254.169.254) will be asked, which answers only on Azure VMs and AKS nodes with a managed identity".into())],
    }
}

/// (is it a problem, what) for `provider: gcp`.
fn gcp(var: &dyn Fn(&str) -> Option<String>) -> Vec<(bool, String)> {
    if var("GOOGLE_APPLICATION_CREDENTIALS").is_some() {
        // The same discovery the service does: the file is read and checked now.
        let http = reqwest::Client::new();
        return match imagebump_registry::gcp::GcpProvider::discover(http, &|k| var(k)) {
            Ok(_) => Vec::new(),
            Err(e) => vec![(true, format!("gcp: {}", e.detail))],
        };
    }
    if var("GCE_METADATA_HOST").is_some() {
        return Vec::new();
    }
    vec![(false, "gcp finds no credentials file: GOOGLE_APPLICATION_CREDENTIALS is not set, so the metadata server (metadata.google.internal) will be asked, which answers only on GKE (workload identity) and GCE".into())]
}

/// (is it a problem, what) for `provider: aws`.
fn aws(var: &dyn Fn(&str) -> Option<String>, host: &str) -> Vec<(bool, String)> {
    if !cfg!(feature = "ecr") {
        return vec![(true, "aws: this imagebump was built without the `ecr` feature; rebuild with default features".into())];
    }
    let mut out = Vec::new();
    let ecr_host = imagebump_registry::normalise_host(host);
    let region_in_host = ecr_host.contains(".dkr.ecr") && ecr_host.contains(".amazonaws.com");
    if !region_in_host && var("AWS_REGION").is_none() && var("AWS_DEFAULT_REGION").is_none() {
        out.push((false, "aws: the host is not <account>.dkr.ecr.<region>.amazonaws.com and neither AWS_REGION nor AWS_DEFAULT_REGION is set; the SDK will look for a region in the profile or IMDS".into()));
    }
    if var("AWS_ROLE_ARN").is_some() != var("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() {
        out.push((true, "aws web identity (IRSA): AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE go together (the EKS pod identity webhook sets both; is the service account annotated eks.amazonaws.com/role-arn?)".into()));
    }
    let any = [
        "AWS_ACCESS_KEY_ID",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
    ]
    .iter()
    .any(|k| var(k).is_some());
    let home_files = var("HOME").is_some_and(|h| {
        Path::new(&h).join(".aws/credentials").exists()
            || Path::new(&h).join(".aws/config").exists()
    });
    if !any && !home_files {
        out.push((false, "aws finds no credentials in the environment: none of AWS_ACCESS_KEY_ID, AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity, ECS), AWS_PROFILE or ~/.aws/credentials, so IMDSv2 will be asked, which answers only on EC2 and EKS nodes".into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies() {
        assert!(proxy_url("http://proxy.corp:3128").is_ok());
        assert!(proxy_url("socks5://127.0.0.1:1080").is_ok());
        assert!(proxy_url("proxy.corp:3128").is_err());
        assert!(proxy_url("ftp://proxy").is_err());
        assert!(proxy_url("not a url").is_err());
    }

    #[test]
    fn azure_needs() {
        let none = |_: &str| None;
        let w = azure(&none);
        assert!(
            matches!(&w[..], [(false, m)] if m.contains("AZURE_FEDERATED_TOKEN_FILE") && m.contains("IDENTITY_ENDPOINT")),
            "{w:?}"
        );
        let half =
            |k: &str| (k == "AZURE_FEDERATED_TOKEN_FILE").then(|| "/nonexistent".to_string());
        let w = azure(&half);
        assert!(
            w.iter()
                .any(|(bad, m)| *bad && m.contains("AZURE_TENANT_ID")),
            "{w:?}"
        );
        let app = |k: &str| k.starts_with("IDENTITY_").then(|| "x".to_string());
        assert!(azure(&app).is_empty());
    }
}
