//! Authenticity checks: HMAC signatures over the raw body, static headers, path secrets.
//!
//! Every comparison involving the secret is constant-time: HMAC tags go through
//! `Mac::verify_slice`; plain values are compared as SHA-256 digests with `subtle`, so
//! neither the secret's bytes nor its length leak through timing.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::{Provider, Receiver, WebhookError};

/// The static header read when the receiver names none.
pub(super) const DEFAULT_HEADER: &str = "Authorization";

/// Checks a delivery's credentials for its receiver's provider.
pub(super) fn authenticate(
    receiver: &Receiver,
    headers: &HeaderMap,
    path_secret: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let secret = receiver.secret.expose().as_bytes();
    if secret.is_empty() {
        return Err(WebhookError::unauthorized(
            "the receiver has an empty secret and accepts nothing",
        ));
    }
    let header_name = receiver.header.as_deref().unwrap_or(DEFAULT_HEADER);
    match receiver.provider {
        Provider::Github => {
            let sig = header(headers, "X-Hub-Signature-256")
                .ok_or_else(|| WebhookError::unauthorized("missing X-Hub-Signature-256 header"))?;
            let hex = strip_prefix_ci(sig, "sha256=").ok_or_else(|| {
                WebhookError::unauthorized("X-Hub-Signature-256 must read sha256=<hex>")
            })?;
            signed::<Sha256>(secret, body, hex, "X-Hub-Signature-256")
        }
        Provider::Gitea => {
            let sigs: Vec<&str> = ["X-Forgejo-Signature", "X-Gitea-Signature"]
                .iter()
                .filter_map(|h| header(headers, h))
                .collect();
            if sigs.is_empty() {
                return Err(WebhookError::unauthorized(
                    "missing X-Forgejo-Signature / X-Gitea-Signature header",
                ));
            }
            if sigs.iter().any(|s| hmac_ok::<Sha256>(secret, body, s)) {
                Ok(())
            } else {
                Err(WebhookError::unauthorized(
                    "X-Gitea-Signature does not match the body",
                ))
            }
        }
        Provider::Nexus => {
            let sig = header(headers, "X-Nexus-Webhook-Signature").ok_or_else(|| {
                WebhookError::unauthorized("missing X-Nexus-Webhook-Signature header")
            })?;
            signed::<Sha1>(secret, body, sig, "X-Nexus-Webhook-Signature")
        }
        Provider::GenericHmac => {
            let sig = header(headers, "X-Signature")
                .ok_or_else(|| WebhookError::unauthorized("missing X-Signature header"))?;
            let (alg, hex) = sig.split_once('=').ok_or_else(|| {
                WebhookError::unauthorized("X-Signature must read <sha1|sha256|sha512>=<hex>")
            })?;
            match alg.trim().to_ascii_lowercase().as_str() {
                "sha1" => signed::<Sha1>(secret, body, hex, "X-Signature"),
                "sha256" => signed::<Sha256>(secret, body, hex, "X-Signature"),
                "sha512" => signed::<Sha512>(secret, body, hex, "X-Signature"),
                _ => Err(WebhookError::unauthorized(
                    "X-Signature algorithm must be sha1, sha256 or sha512",
                )),
            }
        }
        Provider::Jfrog => {
            if let Some(v) = header(headers, "X-JFrog-Event-Auth") {
                // Signing mode sends the HMAC; plain mode sends the secret itself.
                if hmac_ok::<Sha256>(secret, body, v) || plain_eq(v.as_bytes(), secret) {
                    return Ok(());
                }
            }
            if receiver.header.is_some() && static_header_ok(headers, header_name, secret) {
                return Ok(());
            }
            Err(WebhookError::unauthorized(
                "missing or wrong X-JFrog-Event-Auth header",
            ))
        }
        Provider::Distribution | Provider::Harbor | Provider::Ecr | Provider::Zot => {
            if static_header_ok(headers, header_name, secret) {
                Ok(())
            } else {
                Err(WebhookError::unauthorized(format!(
                    "missing or wrong {header_name} header"
                )))
            }
        }
        Provider::Acr | Provider::Generic => {
            if static_header_ok(headers, header_name, secret) || path_ok(path_secret, secret) {
                Ok(())
            } else {
                Err(WebhookError::unauthorized(format!(
                    "missing or wrong secret (in the {header_name} header or the URL path)"
                )))
            }
        }
        Provider::DockerHub | Provider::Quay | Provider::Gar | Provider::Aliyun => {
            if path_ok(path_secret, secret) {
                Ok(())
            } else {
                Err(WebhookError::unauthorized(
                    "missing or wrong secret in the URL path (/hooks/{name}/{secret})",
                ))
            }
        }
    }
}

/// A header's value as text, trimmed; `None` when absent, empty or not visible ASCII.
pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    (!v.is_empty()).then_some(v)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Constant-time equality of two byte strings that also hides their lengths.
pub(super) fn plain_eq(given: &[u8], secret: &[u8]) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(secret);
    a.as_slice().ct_eq(b.as_slice()).into()
}

fn path_ok(path_secret: Option<&str>, secret: &[u8]) -> bool {
    match path_secret {
        Some(p) if !p.is_empty() => plain_eq(p.as_bytes(), secret),
        _ => false,
    }
}

/// The header equals the secret exactly, or is `Bearer <secret>`, `Secret <secret>`
/// (Harbor 1.x) or `Basic <base64 of secret>`.
///
/// The exact match comes first because many users store the whole header value
/// (`Bearer X`) as the secret; every form is compared, so a secret that itself starts
/// with a scheme word still matches either way.
fn static_header_ok(headers: &HeaderMap, name: &str, secret: &[u8]) -> bool {
    let Some(value) = header(headers, name) else {
        return false;
    };
    let mut ok = plain_eq(value.as_bytes(), secret);
    for scheme in ["Bearer ", "Secret "] {
        if let Some(token) = strip_prefix_ci(value, scheme) {
            ok |= plain_eq(token.trim().as_bytes(), secret);
        }
    }
    if let Some(b64) = strip_prefix_ci(value, "Basic ") {
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            ok |= plain_eq(&decoded, secret);
        }
    }
    ok
}

/// Checks a hex HMAC of the body; an error names the header.
fn signed<D>(secret: &[u8], body: &[u8], hex_sig: &str, header: &str) -> Result<(), WebhookError>
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    if hmac_ok::<D>(secret, body, hex_sig) {
        Ok(())
    } else {
        Err(WebhookError::unauthorized(format!(
            "{header} does not match the body"
        )))
    }
}

/// True when `hex_sig` is the hex HMAC of `body` under `secret` (constant-time).
pub(super) fn hmac_ok<D>(secret: &[u8], body: &[u8], hex_sig: &str) -> bool
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    let Ok(sig) = hex::decode(hex_sig.trim()) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<D> as KeyInit>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The hex HMAC of `body` under `secret`, as senders compute it (tests sign with it).
#[cfg(test)]
pub(super) fn hmac_hex<D>(secret: &[u8], body: &[u8]) -> String
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_known_vector() {
        // RFC 4231 style check with a well-known pair.
        let sig = hmac_hex::<Sha256>(b"key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            sig,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert!(hmac_ok::<Sha256>(
            b"key",
            b"The quick brown fox jumps over the lazy dog",
            &sig.to_uppercase()
        ));
        assert!(!hmac_ok::<Sha256>(b"key", b"other", &sig));
        assert!(!hmac_ok::<Sha256>(b"key", b"x", "not hex"));
        assert!(!hmac_ok::<Sha256>(b"key", b"x", ""));
    }

    #[test]
    fn static_header_forms() {
        let mut h = HeaderMap::new();
        for (value, ok) in [
            ("s3cret", true),
            ("Bearer s3cret", true),
            ("Secret s3cret", true), // Harbor 1.x
            ("secret s3cret", true),
            ("bearer s3cret", true),
            ("Basic czNjcmV0", true), // base64("s3cret")
            ("Basic !!!", false),
            ("Bearer wrong", false),
            ("s3cret2", false),
            ("", false),
        ] {
            h.insert("authorization", value.parse().unwrap());
            assert_eq!(
                static_header_ok(&h, "Authorization", b"s3cret"),
                ok,
                "{value:?}"
            );
        }
        assert!(!static_header_ok(
            &HeaderMap::new(),
            "Authorization",
            b"s3cret"
        ));
    }

    #[test]
    fn whole_header_value_stored_as_the_secret() {
        // Users often copy the whole `Authorization` value into the secret.
        let mut h = HeaderMap::new();
        for (secret, value, ok) in [
            ("Bearer X", "Bearer X", true),
            ("bearer X", "bearer X", true),
            ("Bearer X", "X", false),
            ("Bearer X", "Bearer Y", false),
            ("Secret abc", "Secret abc", true),
            ("Basic dTpw", "Basic dTpw", true),
            ("u:p", "Basic dTpw", true), // base64("u:p")
        ] {
            h.insert("authorization", value.parse().unwrap());
            assert_eq!(
                static_header_ok(&h, "Authorization", secret.as_bytes()),
                ok,
                "{secret:?} vs {value:?}"
            );
        }
    }

    #[test]
    fn path_secret() {
        assert!(path_ok(Some("abc"), b"abc"));
        assert!(!path_ok(Some("abd"), b"abc"));
        assert!(!path_ok(Some(""), b"abc"));
        assert!(!path_ok(None, b"abc"));
    }

    #[test]
    fn prefixes_never_panic_on_multibyte() {
        assert_eq!(strip_prefix_ci("é", "sha256="), None);
        assert_eq!(strip_prefix_ci("SHA256=ab", "sha256="), Some("ab"));
        assert_eq!(strip_prefix_ci("Bearéé", "Bearer "), None);
    }
}
