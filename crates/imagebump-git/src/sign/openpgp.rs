//! OpenPGP commit signatures: a detached binary signature over the commit object,
//! ASCII-armoured (`-----BEGIN PGP SIGNATURE-----`) — what `git commit -S` gets from
//! `gpg --detach-sign --armor`, and what `git verify-commit` checks with GnuPG.

use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
use pgp::packet::Signature;
use pgp::types::{Password, PublicKeyTrait, SecretKeyTrait};

use super::{CommitSigner, SignKeyError};

/// Signs commits with an armoured OpenPGP secret key (`gpg --export-secret-keys --armor`):
/// with its primary key when that may sign, else with its newest signing subkey. The key
/// is unlocked once, at construction, and kept unlocked in memory (as `gpg-agent` caches
/// it).
pub struct OpenPgpSigner {
    key: SignedSecretKey,
    /// `None`: the primary key signs; `Some(i)`: `key.secret_subkeys[i]` does.
    subkey: Option<usize>,
}

impl std::fmt::Debug for OpenPgpSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenPgpSigner")
            .field("fingerprint", &self.signing_key().fingerprint().to_string())
            .finish_non_exhaustive()
    }
}

/// May the key a self-signature (or binding signature) describes make data signatures?
/// A signature without key flags is taken to allow it (as GnuPG does for old keys).
fn may_sign(sigs: &[Signature]) -> bool {
    sigs.iter()
        .max_by_key(|s| s.created().copied())
        .is_none_or(|s| {
            let flags = s.key_flags();
            flags.sign()
                || !s
                    .config()
                    .is_some_and(|c| c.hashed_subpackets().any(is_flags))
        })
}

fn is_flags(p: &pgp::packet::Subpacket) -> bool {
    matches!(p.data, pgp::packet::SubpacketData::KeyFlags(_))
}

impl OpenPgpSigner {
    /// Parses an armoured secret key (`-----BEGIN PGP PRIVATE KEY BLOCK-----`), picks the
    /// key that signs, unlocks it with `passphrase` and makes one signature to prove it
    /// can.
    pub fn new(key_text: &str, passphrase: Option<&str>) -> Result<OpenPgpSigner, SignKeyError> {
        let parse_err = |reason: &str| SignKeyError::Parse {
            expected: "an armoured OpenPGP secret key (-----BEGIN PGP PRIVATE KEY BLOCK-----)",
            reason: reason.to_string(),
        };
        if !key_text.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
            return Err(parse_err("no such armour header"));
        }
        // The library's parse errors can quote packet contents: they are not shown.
        let (key, _) = SignedSecretKey::from_string(key_text)
            .map_err(|_| parse_err("the armoured block does not parse as a secret key"))?;
        key.verify()
            .map_err(|_| parse_err("its self-signatures do not verify"))?;
        let primary_signs = {
            let sigs: Vec<Signature> = key
                .details
                .users
                .iter()
                .flat_map(|u| u.signatures.iter().cloned())
                .chain(key.details.direct_signatures.iter().cloned())
                .collect();
            may_sign(&sigs)
        };
        let subkey = if primary_signs {
            None
        } else {
            let newest = key
                .secret_subkeys
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    !s.signatures.is_empty() && s.signatures.iter().all(|b| b.key_flags().sign())
                })
                .max_by_key(|(_, s)| *s.key.public_key().created_at());
            match newest {
                Some((i, _)) => Some(i),
                None => {
                    return Err(SignKeyError::Unusable(
                        "neither the primary key nor a subkey may sign (key flags)".into(),
                    ))
                }
            }
        };
        let mut key = key;
        let (encrypted, unlocked) = match (subkey, passphrase) {
            (None, p) => {
                let k = &mut key.primary_key;
                (
                    k.secret_params().is_encrypted(),
                    p.map(|p| k.remove_password(&p.into())),
                )
            }
            (Some(i), p) => {
                let k = &mut key.secret_subkeys[i].key;
                (
                    k.secret_params().is_encrypted(),
                    p.map(|p| k.remove_password(&p.into())),
                )
            }
        };
        // Unlocked once, like the SSH key: a protected key's S2K costs ~0.2 s per use.
        match (encrypted, unlocked) {
            (true, None) => return Err(SignKeyError::NeedsPassphrase),
            (true, Some(Err(_))) => return Err(SignKeyError::WrongPassphrase),
            _ => {}
        }
        let signer = OpenPgpSigner { key, subkey };
        // Verified too: a legacy 16-bit checksum can let a wrong passphrase "unlock".
        const PROBE: &[u8] = b"imagebump: can this key sign?";
        let probe = signer.detached(PROBE);
        let verified = probe.is_ok_and(|sig| match signer.subkey {
            None => sig
                .verify(signer.key.primary_key.public_key(), PROBE)
                .is_ok(),
            Some(i) => sig
                .verify(signer.key.secret_subkeys[i].key.public_key(), PROBE)
                .is_ok(),
        });
        if !verified && encrypted {
            return Err(SignKeyError::WrongPassphrase);
        }
        if !verified {
            return Err(SignKeyError::Unusable(format!(
                "its {:?} key does not make signatures here",
                signer.signing_key().algorithm()
            )));
        }
        Ok(signer)
    }

    fn signing_key(&self) -> &dyn SecretKeyTrait {
        match self.subkey {
            None => &self.key.primary_key,
            Some(i) => &self.key.secret_subkeys[i].key,
        }
    }
}

impl OpenPgpSigner {
    fn detached(&self, data: &[u8]) -> pgp::errors::Result<DetachedSignature> {
        let hash = self.signing_key().hash_alg();
        let (rng, pw) = (rand08::thread_rng(), Password::empty());
        match self.subkey {
            None => {
                DetachedSignature::sign_binary_data(rng, &self.key.primary_key, &pw, hash, data)
            }
            Some(i) => DetachedSignature::sign_binary_data(
                rng,
                &self.key.secret_subkeys[i].key,
                &pw,
                hash,
                data,
            ),
        }
    }
}

impl CommitSigner for OpenPgpSigner {
    fn sign(&self, commit: &[u8]) -> Result<String, String> {
        // rPGP's messages may quote packet contents: a fixed line instead.
        let failed = |_| "OpenPGP signature failed (rPGP could not sign with the key)".to_string();
        self.detached(commit)
            .map_err(failed)?
            .to_armored_string(ArmorOptions::default())
            .map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_one_line_error_without_the_text() {
        let e = OpenPgpSigner::new("-----BEGIN PGP PRIVATE KEY BLOCK-----\ns3cret\n", None)
            .unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("not an armoured OpenPGP secret key"), "{s}");
        assert!(!s.contains("s3cret") && !s.contains('\n'), "{s}");
    }
}
