//! Manifest digests and platform checks.

use oci_client::manifest::{
    OciImageIndex, IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE,
};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use sha2::{Digest, Sha256};

use super::error::RegistryError;
use super::metrics::RequestKind;
use super::transport::{Call, Fetched, Policy, Registry};
use imagebump_core::image::validate_digest;

/// The `Accept` header for manifests: index and list first, so a multi-arch tag
/// resolves to its index digest (what `docker pull` and Kubernetes pin).
/// (Kept literal since consts cannot join strings; a test checks it against
/// oci-client's media-type constants.)
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

const DIGEST_HEADER: &str = "docker-content-digest";

fn manifest_path(repository: &str, reference: &str) -> String {
    format!("/v2/{repository}/manifests/{reference}")
}

fn what(reference: &str) -> String {
    if reference.contains(':') {
        format!("manifest {reference}")
    } else {
        format!("tag {reference}")
    }
}

/// The digest a tag points at: `HEAD` first (the `Docker-Content-Digest` header),
/// `GET` if the `HEAD` gives no usable header or is refused, then the header or the
/// sha256 of the body.
pub(crate) async fn resolve_digest(
    reg: &Registry,
    p: &Policy<'_>,
    repository: &str,
    reference: &str,
) -> Result<String, RegistryError> {
    match manifest_call(reg, p, repository, reference, Method::HEAD).await {
        Ok(f) => {
            if let Some(d) = header_digest(&f) {
                return Ok(d);
            }
        }
        // A registry that refuses HEAD (405 and the like) gets a GET.
        Err(RegistryError::Protocol { .. }) => {}
        Err(e) => return Err(e),
    }
    let f = manifest_call(reg, p, repository, reference, Method::GET).await?;
    body_digest(reg, &f)
}

/// One request for the manifest `reference` of `repository`, accepting every manifest type.
pub(crate) async fn manifest_call(
    reg: &Registry,
    p: &Policy<'_>,
    repository: &str,
    reference: &str,
    method: Method,
) -> Result<Fetched, RegistryError> {
    let url = reg.url(&manifest_path(repository, reference))?;
    reg.api(
        p,
        Call {
            kind: RequestKind::Manifest,
            repository,
            method,
            url: &url,
            accept: MANIFEST_ACCEPT,
            what: &what(reference),
        },
    )
    .await
}

fn header_digest(f: &Fetched) -> Option<String> {
    let d = f
        .headers
        .get(DIGEST_HEADER)?
        .to_str()
        .ok()?
        .trim()
        .to_string();
    validate_digest(&d).ok().map(|_| d)
}

/// The digest of a fetched manifest: sha256 of the bytes, checked against the
/// header when the header uses sha256 too.
pub(crate) fn body_digest(reg: &Registry, f: &Fetched) -> Result<String, RegistryError> {
    let computed = format!("sha256:{}", hex::encode(Sha256::digest(&f.body)));
    match header_digest(f) {
        Some(h) if h.starts_with("sha256:") && h != computed => Err(reg.protocol(format!(
            "manifest digest header {h} does not match its body ({computed})"
        ))),
        Some(h) => Ok(h),
        None => Ok(computed),
    }
}

/// A platform as written in policies: `os/arch[/variant]` (`linux/arm64/v8`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformSpec {
    os: String,
    arch: String,
    variant: Option<String>,
}

impl PlatformSpec {
    pub fn parse(s: &str) -> Option<PlatformSpec> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, v] => (*os, *arch, Some(v.to_ascii_lowercase())),
            _ => return None,
        };
        if os.is_empty() || arch.is_empty() {
            return None;
        }
        Some(PlatformSpec {
            os: os.to_ascii_lowercase(),
            arch: normalise_arch(arch),
            variant,
        })
    }

    fn new(os: &str, arch: &str, variant: Option<&str>) -> PlatformSpec {
        PlatformSpec {
            os: os.to_ascii_lowercase(),
            arch: normalise_arch(arch),
            variant: variant
                .filter(|v| !v.is_empty())
                .map(str::to_ascii_lowercase),
        }
    }

    /// Does an image for `have` satisfy this requirement? A requirement without a
    /// variant takes any variant; with one, a missing variant counts as the
    /// architecture's default (arm64 → v8, arm → v7, amd64 → v1).
    fn satisfied_by(&self, have: &PlatformSpec) -> bool {
        if self.os != have.os || self.arch != have.arch {
            return false;
        }
        match &self.variant {
            None => true,
            Some(v) => {
                let d = default_variant(&have.arch);
                have.variant.as_deref().or(d) == Some(v.as_str())
            }
        }
    }
}

fn normalise_arch(a: &str) -> String {
    match a.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.to_string(),
    }
}

fn default_variant(arch: &str) -> Option<&'static str> {
    match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        "amd64" => Some("v1"),
        _ => None,
    }
}

/// The platforms a tag offers: from its index, or from the config blob of a
/// single-platform manifest.
pub(crate) async fn platforms_of(
    reg: &Registry,
    p: &Policy<'_>,
    repository: &str,
    reference: &str,
) -> Result<Vec<PlatformSpec>, RegistryError> {
    let f = manifest_call(reg, p, repository, reference, Method::GET).await?;
    let body: serde_json::Value = serde_json::from_slice(&f.body)
        .map_err(|e| reg.protocol(format!("manifest is not JSON ({e})")))?;
    let media_type = body
        .get("mediaType")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .or_else(|| {
            f.headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let is_index = media_type == OCI_IMAGE_INDEX_MEDIA_TYPE
        || media_type == IMAGE_MANIFEST_LIST_MEDIA_TYPE
        || (media_type.is_empty() && body.get("manifests").is_some());
    if is_index {
        // oci-client's index type: it is what the crate is for.
        let index: OciImageIndex = serde_json::from_value(body)
            .map_err(|e| reg.protocol(format!("image index is malformed ({e})")))?;
        return Ok(index
            .manifests
            .iter()
            .filter_map(|m| m.platform.as_ref())
            .map(|pl| {
                PlatformSpec::new(
                    &pl.os.to_string(),
                    &pl.architecture.to_string(),
                    pl.variant.as_deref(),
                )
            })
            .collect());
    }
    if media_type != OCI_IMAGE_MEDIA_TYPE && media_type != IMAGE_MANIFEST_MEDIA_TYPE {
        return Err(reg.protocol(format!("unsupported manifest media type {media_type:?}")));
    }
    let (_, cfg) = config_blob(reg, p, repository, &body).await?;
    let s = |k: &str| cfg.get(k).and_then(|v| v.as_str()).unwrap_or("");
    if s("os").is_empty() || s("architecture").is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![PlatformSpec::new(
        s("os"),
        s("architecture"),
        Some(s("variant")),
    )])
}

/// True when every required platform is offered.
pub(crate) fn all_satisfied(required: &[PlatformSpec], have: &[PlatformSpec]) -> bool {
    required
        .iter()
        .all(|r| have.iter().any(|h| r.satisfied_by(h)))
}

/// The config blob of an image manifest: its digest and its JSON. One request, counted
/// as a manifest request; shared by the platform check and the build-time lookup.
pub(crate) async fn config_blob(
    reg: &Registry,
    p: &Policy<'_>,
    repository: &str,
    manifest: &serde_json::Value,
) -> Result<(String, serde_json::Value), RegistryError> {
    let config = manifest
        .get("config")
        .and_then(|c| c.get("digest"))
        .and_then(|d| d.as_str())
        .ok_or_else(|| reg.protocol("image manifest has no config digest"))?;
    validate_digest(config).map_err(|e| reg.protocol(e))?;
    let url = reg.url(&format!("/v2/{repository}/blobs/{config}"))?;
    let f = reg
        .api(
            p,
            Call {
                kind: RequestKind::Manifest,
                repository,
                method: Method::GET,
                url: &url,
                accept: "*/*",
                what: &format!("config blob {config}"),
            },
        )
        .await?;
    let cfg = serde_json::from_slice(&f.body)
        .map_err(|e| reg.protocol(format!("image config is not JSON ({e})")))?;
    Ok((config.to_string(), cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists_oci_client_types() {
        for t in [
            OCI_IMAGE_INDEX_MEDIA_TYPE,
            IMAGE_MANIFEST_LIST_MEDIA_TYPE,
            OCI_IMAGE_MEDIA_TYPE,
            IMAGE_MANIFEST_MEDIA_TYPE,
        ] {
            assert!(MANIFEST_ACCEPT.split(", ").any(|a| a.trim() == t), "{t}");
        }
    }

    #[test]
    fn platform_matching() {
        let p = |s: &str| PlatformSpec::parse(s).unwrap();
        let have = vec![
            PlatformSpec::new("linux", "amd64", None),
            PlatformSpec::new("linux", "arm64", Some("v8")),
        ];
        assert!(all_satisfied(
            &[p("linux/amd64"), p("linux/arm64/v8")],
            &have
        ));
        assert!(all_satisfied(&[p("linux/arm64")], &have));
        assert!(all_satisfied(&[p("linux/x86_64")], &have));
        assert!(!all_satisfied(&[p("linux/arm/v7")], &have));
        assert!(!all_satisfied(&[p("windows/amd64")], &have));
        let bare = vec![PlatformSpec::new("linux", "arm64", None)];
        assert!(all_satisfied(&[p("linux/arm64/v8")], &bare));
        assert!(PlatformSpec::parse("linux").is_none());
        assert!(PlatformSpec::parse("linux/").is_none());
    }
}
