//! Commit signing: the signature a commit carries in its `gpgsig` header, made over the
//! commit object's bytes, as `git commit -S` does (SSH signatures with
//! `gpg.format=ssh`, or OpenPGP).
//!
//! The signer is the caller's ([`GitConfig::signer`](crate::GitConfig)): it may re-read a
//! rotated key between commits. Every commit this crate makes, including replayed
//! push-branch commits, goes through it when one is set.

/// Signs commit objects.
pub trait CommitSigner: Send + Sync {
    /// The ASCII-armoured signature of `commit` (the raw commit object without its
    /// signature header), as git puts it in `gpgsig`: `-----BEGIN SSH SIGNATURE-----…`
    /// or `-----BEGIN PGP SIGNATURE-----…`. The error is one line, without key material.
    fn sign(&self, commit: &[u8]) -> Result<String, String>;
}
