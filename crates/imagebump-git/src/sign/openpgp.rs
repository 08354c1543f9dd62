//! OpenPGP commit signatures: a detached binary signature over the commit object,
//! ASCII-armoured (`-----BEGIN PGP SIGNATURE-----`) — what `git commit -S` gets from
//! `gpg --detach-sign --armor`, and what `git verify-commit` checks with GnuPG.

use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
use pgp::packet::Signature;
use pgp::types::{Password, PublicKeyTrait, SecretKeyTrait};

use super::{CommitSigner, SignKeyError};

/// Signs commits with an armoured OpenPGP secret key (`gpg --export-secret-keys --armor`):
/// with its primary key when that may sign, else with its newest signing subkey.
pub struct OpenPgpSigner {
    key: SignedSecretKey,
    /// `None`: the primary key signs; `Some(i)`: `key.secret_subkeys[i]` does.
    subkey: Option<usize>,
    /// Unlocks the key for each signature (the key stays encrypted in memory).
    passphrase: Password,
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
    /// key that signs, and makes one signature with `passphrase` to prove it unlocks.
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
        let encrypted = match subkey {
            None => key.primary_key.secret_params().is_encrypted(),
            Some(i) => key.secret_subkeys[i].key.secret_params().is_encrypted(),
        };
        let passphrase = match (encrypted, passphrase) {
            (true, None) => return Err(SignKeyError::NeedsPassphrase),
            (true, Some(p)) => Password::from(p),
            (false, _) => Password::empty(),
        };
        let signer = OpenPgpSigner {
            key,
            subkey,
            passphrase,
        };
        if signer.sign(b"imagebump: can this key sign?").is_err() {
            return Err(if encrypted {
                SignKeyError::WrongPassphrase
            } else {
                SignKeyError::Unusable(format!(
                    "its {:?} key does not make signatures here",
                    signer.signing_key().algorithm()
                ))
            });
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

impl CommitSigner for OpenPgpSigner {
    fn sign(&self, commit: &[u8]) -> Result<String, String> {
        let key = self.signing_key();
        let hash = key.hash_alg();
        let sig = match self.subkey {
            None => DetachedSignature::sign_binary_data(
                rand08::thread_rng(),
                &self.key.primary_key,
                &self.passphrase,
                hash,
                commit,
            ),
            Some(i) => DetachedSignature::sign_binary_data(
                rand08::thread_rng(),
                &self.key.secret_subkeys[i].key,
                &self.passphrase,
                hash,
                commit,
            ),
        };
        // rPGP's messages may quote packet contents: a fixed line instead.
        let failed = |_| "OpenPGP signature failed (rPGP could not sign with the key)".to_string();
        sig.map_err(failed)?
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
