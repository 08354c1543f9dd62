//! When an image was built, for `minAge` and `newestBuild`: the annotation
//! `org.opencontainers.image.created` of the tag's manifest or index, else the image
//! config's `created` (for an index: of its first platform manifest, skipping
//! attestation entries). Cached by manifest digest — digests are immutable — so a tag
//! that did not move costs one manifest request per scan, a new one up to three.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::Method;

use super::error::RegistryError;
use super::manifest::{body_digest, manifest_call};
use super::transport::{Policy, Registry};
use imagebump_core::image::validate_digest;

/// The OCI annotation for the creation time (RFC 3339).
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// At most this many digests are remembered; when full the cache starts over (a
/// cheap bound: a scan reads few tags, and a miss costs one or two requests).
const MAX_ENTRIES: usize = 4096;

/// Creation times by manifest digest (`None`: the image states none).
#[derive(Debug, Default)]
pub(crate) struct CreatedCache(Mutex<HashMap<String, Option<SystemTime>>>);

impl CreatedCache {
    fn get(&self, digest: &str) -> Option<Option<SystemTime>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .copied()
    }

    fn put(&self, digest: String, created: Option<SystemTime>) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(digest, created);
    }
}

/// The creation time of the image `reference` names, `None` when neither the
/// annotation nor the config says; an unreadable time is a protocol error, never
/// "unknown".
pub(crate) async fn created_of(
    reg: &Registry,
    p: &Policy<'_>,
    cache: &CreatedCache,
    repository: &str,
    reference: &str,
) -> Result<Option<SystemTime>, RegistryError> {
    let f = manifest_call(reg, p, repository, reference, Method::GET).await?;
    let digest = body_digest(reg, &f)?;
    if let Some(hit) = cache.get(&digest) {
        return Ok(hit);
    }
    let body: serde_json::Value = serde_json::from_slice(&f.body)
        .map_err(|e| reg.protocol(format!("manifest of {reference} is not JSON ({e})")))?;
    let created = match annotation(reg, &body)? {
        Some(t) => Some(t),
        None => from_body(reg, p, repository, &body).await?,
    };
    cache.put(digest, created);
    Ok(created)
}

/// The annotation of a manifest or index, parsed.
fn annotation(
    reg: &Registry,
    body: &serde_json::Value,
) -> Result<Option<SystemTime>, RegistryError> {
    match body
        .get("annotations")
        .and_then(|a| a.get(CREATED_ANNOTATION))
        .and_then(|v| v.as_str())
    {
        Some(s) => parse_time(s).map(Some).ok_or_else(|| {
            reg.protocol(format!(
                "annotation {CREATED_ANNOTATION} {s:?} is not an RFC 3339 time"
            ))
        }),
        None => Ok(None),
    }
}

/// The config's `created`, following an index to its first platform manifest.
async fn from_body(
    reg: &Registry,
    p: &Policy<'_>,
    repository: &str,
    body: &serde_json::Value,
) -> Result<Option<SystemTime>, RegistryError> {
    if let Some(entries) = body.get("manifests").and_then(|m| m.as_array()) {
        // buildx adds attestation manifests as `unknown/unknown` entries: not an image.
        let first = entries.iter().find(|e| {
            e.get("platform")
                .and_then(|pl| pl.get("os"))
                .and_then(|o| o.as_str())
                != Some("unknown")
        });
        let Some(digest) = first.and_then(|e| e.get("digest")).and_then(|d| d.as_str()) else {
            return Ok(None);
        };
        validate_digest(digest).map_err(|e| reg.protocol(e))?;
        let f = manifest_call(reg, p, repository, digest, Method::GET).await?;
        let m: serde_json::Value = serde_json::from_slice(&f.body)
            .map_err(|e| reg.protocol(format!("manifest {digest} is not JSON ({e})")))?;
        if let Some(t) = annotation(reg, &m)? {
            return Ok(Some(t));
        }
        return config_created(reg, p, repository, &m).await;
    }
    config_created(reg, p, repository, body).await
}

/// `created` of an image manifest's config blob.
async fn config_created(
    reg: &Registry,
    p: &Policy<'_>,
    repository: &str,
    manifest: &serde_json::Value,
) -> Result<Option<SystemTime>, RegistryError> {
    let (config, cfg) = super::manifest::config_blob(reg, p, repository, manifest).await?;
    match cfg.get("created").and_then(|v| v.as_str()) {
        Some(s) => parse_time(s).map(Some).ok_or_else(|| {
            reg.protocol(format!(
                "image config {config} has created {s:?}, not an RFC 3339 time"
            ))
        }),
        None => Ok(None),
    }
}

/// RFC 3339 with any offset (`Z`, `+02:00`, `-0500`) and up to nanoseconds, as Go,
/// buildkit and buildah write it. (humantime reads only UTC, so the offset is applied
/// here.)
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    // The offset starts after the time of day (`T` or space at index 10).
    const TAIL_AT: usize = "2024-05-01T12:00:00".len();
    let (main, offset) = match s.get(TAIL_AT..)?.find(['Z', 'z', '+', '-']) {
        Some(i) => s.split_at(TAIL_AT + i),
        None => (s, ""),
    };
    let utc = humantime::parse_rfc3339_weak(main).ok()?;
    let shift = match offset {
        "" | "Z" | "z" => return Some(utc),
        o => o,
    };
    let (sign, rest) = shift.split_at(1);
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: u64 = digits[..2].parse().ok()?;
    let minutes: u64 = digits[2..].parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    let by = Duration::from_secs(hours * 3600 + minutes * 60);
    // Local time = UTC + offset, so UTC = local − offset.
    match sign {
        "+" => utc.checked_sub(by),
        _ => utc.checked_add(by),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_offset() {
        let z = parse_time("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(parse_time("2024-05-01T14:00:00+02:00"), Some(z));
        assert_eq!(parse_time("2024-05-01T07:00:00-0500"), Some(z));
        assert_eq!(
            parse_time("2024-05-01T12:00:00.123456789Z"),
            z.checked_add(Duration::from_nanos(123_456_789))
        );
        assert_eq!(parse_time("2024-05-01T12:00:00"), Some(z));
        assert_eq!(
            parse_time("1970-01-01T00:00:00Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        for bad in [
            "",
            "yesterday",
            "2024-05-01",
            "2024-05-01T12:00:00+2",
            "2024-13-01T00:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
