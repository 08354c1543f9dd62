//! SSH commit signatures: SSHSIG (OpenSSH's `PROTOCOL.sshsig`) over the commit object,
//! namespace `git`, SHA-512, PEM-armoured — what `ssh-keygen -Y sign -n git` emits and
//! what `git verify-commit` checks with `gpg.format=ssh` and `gpg.ssh.allowedSignersFile`.

use ssh_key::private::RsaKeypair;
use ssh_key::{Algorithm, HashAlg, LineEnding, Mpint, PrivateKey, SshSig};

use super::{CommitSigner, SignKeyError};

/// The SSHSIG namespace git signs and verifies commits in.
const NAMESPACE: &str = "git";

/// ssh-key's own floor for RSA keys (its `MIN_KEY_SIZE`, which is private).
const RSA_MIN_BITS: usize = 2048;

/// Signs commits with an OpenSSH private key (ed25519, RSA, ECDSA P-256/P-384),
/// decrypted once at construction.
pub struct SshSigner {
    /// Decrypted; ssh-key zeroes the private half when it is dropped.
    key: PrivateKey,
}

impl std::fmt::Debug for SshSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshSigner")
            .field("algorithm", &self.key.algorithm().as_str())
            .finish_non_exhaustive()
    }
}

impl SshSigner {
    /// Parses an OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`), decrypts it
    /// with `passphrase` when it is encrypted, and makes one signature to prove it can.
    pub fn new(key_text: &str, passphrase: Option<&str>) -> Result<SshSigner, SignKeyError> {
        // Key files are often read without their final newline; the PEM decoder wants it.
        let text = format!("{}\n", key_text.trim());
        let parse_err = |reason: String| SignKeyError::Parse {
            expected: "an OpenSSH private key (-----BEGIN OPENSSH PRIVATE KEY-----)",
            reason,
        };
        if !text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
            // The PEM decoder's words for this ("invalid data (NUL byte)") mislead.
            return Err(parse_err(if text.contains("-----BEGIN ") {
                "a PEM key of another format: convert it with `ssh-keygen -p -f FILE`".into()
            } else {
                "no such header".into()
            }));
        }
        let key = PrivateKey::from_openssh(&text).map_err(|e| parse_err(e.to_string()))?;
        let key = if key.is_encrypted() {
            match passphrase {
                None => return Err(SignKeyError::NeedsPassphrase),
                Some(p) => key
                    .decrypt(p.as_bytes())
                    .map_err(|_| SignKeyError::WrongPassphrase)?,
            }
        } else {
            key
        };
        let signer = SshSigner { key };
        const PROBE: &[u8] = b"imagebump: can this key sign?";
        let unusable = |e: String| {
            SignKeyError::Unusable(format!("{} key: {e}", signer.key.algorithm().as_str()))
        };
        let sig = signer.sshsig(PROBE).map_err(unusable)?;
        signer
            .key
            .public_key()
            .verify(NAMESPACE, PROBE, &sig)
            .map_err(|e| unusable(format!("its signature does not verify: {e}")))?;
        Ok(signer)
    }
}

impl SshSigner {
    fn sshsig(&self, msg: &[u8]) -> Result<SshSig, String> {
        match self.key.key_data().rsa() {
            Some(rsa) => sign_rsa(rsa, &self.key, msg),
            None => self
                .key
                .sign(NAMESPACE, HashAlg::Sha512, msg)
                .map_err(|e| e.to_string()),
        }
    }
}

impl CommitSigner for SshSigner {
    fn sign(&self, commit: &[u8]) -> Result<String, String> {
        self.sshsig(commit)
            .and_then(|sig| sig.to_pem(LineEnding::LF).map_err(|e| e.to_string()))
            .map_err(|e| format!("SSH signature failed: {e}"))
    }
}

/// RSA keys are signed here, not by ssh-key 0.6.7: its conversion to an `rsa` key passes
/// the prime `p` twice instead of `p` and `q`, so every RSA signature fails. The same
/// SSHSIG as `ssh-keygen -Y sign` makes: `rsa-sha2-512` (PKCS#1 v1.5, SHA-512) over the
/// SSHSIG signed data.
fn sign_rsa(kp: &RsaKeypair, key: &PrivateKey, msg: &[u8]) -> Result<SshSig, String> {
    let int = |m: &Mpint| {
        m.as_positive_bytes()
            .map(rsa::BigUint::from_bytes_be)
            .ok_or_else(|| "an RSA key component is not a positive integer".to_string())
    };
    let private = rsa::RsaPrivateKey::from_components(
        int(&kp.public.n)?,
        int(&kp.public.e)?,
        int(&kp.private.d)?,
        vec![int(&kp.private.p)?, int(&kp.private.q)?],
    )
    .map_err(|_| "the RSA key's components do not form a key".to_string())?;
    if rsa::traits::PublicKeyParts::size(&private) * 8 < RSA_MIN_BITS {
        return Err(format!("RSA keys need at least {RSA_MIN_BITS} bits"));
    }
    let data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, msg).map_err(|e| e.to_string())?;
    let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha512>::new(private);
    let raw = rsa::signature::Signer::try_sign(&signer, &data)
        .map_err(|_| "RSA signing failed".to_string())?;
    let sig = ssh_key::Signature::new(
        Algorithm::Rsa {
            hash: Some(HashAlg::Sha512),
        },
        rsa::signature::SignatureEncoding::to_vec(&raw),
    )
    .map_err(|e| e.to_string())?;
    SshSig::new(
        key.public_key().key_data().clone(),
        NAMESPACE,
        HashAlg::Sha512,
        sig,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_one_line_error_without_the_text() {
        let e = SshSigner::new("not a key at all, s3cret", None).unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("not an OpenSSH private key"), "{s}");
        assert!(!s.contains("s3cret") && !s.contains('\n'), "{s}");
    }
}
