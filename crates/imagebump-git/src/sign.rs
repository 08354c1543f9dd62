//! Commit signing: the signature a commit carries in its `gpgsig` header, made over the
//! commit object's bytes, as `git commit -S` does (SSH signatures with
//! `gpg.format=ssh`, or OpenPGP).
//!
//! The signer is the caller's ([`GitConfig::signer`](crate::GitConfig)): it may re-read a
//! rotated key between commits. Every commit this crate makes, including replayed
//! push-branch commits, goes through [`WorkingCopy::make_commit`] and so through the
//! signer when one is set. The two signers git verifies, [`SshSigner`] and
//! [`OpenPgpSigner`], live in the submodules `ssh` and `openpgp`; their constructors check
//! the key (and passphrase) up front, so a bad key fails at start-up, not at the first
//! commit.

use git2::{Oid, Signature, Tree};

use crate::copy::WorkingCopy;
use crate::error::GitError;

mod openpgp;
mod ssh;

pub use openpgp::OpenPgpSigner;
pub use ssh::SshSigner;

/// Signs commit objects.
pub trait CommitSigner: Send + Sync {
    /// The ASCII-armoured signature of `commit` (the raw commit object without its
    /// signature header), as git puts it in `gpgsig`: `-----BEGIN SSH SIGNATURE-----…`
    /// or `-----BEGIN PGP SIGNATURE-----…`. The error is one line, without key material.
    fn sign(&self, commit: &[u8]) -> Result<String, String>;
}

/// A signing key (or its passphrase) that cannot be used. One line; never holds the key,
/// the passphrase or any part of them: the caller adds where the key came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignKeyError {
    /// The text is not a key of the expected kind.
    #[error("not {expected}: {reason}")]
    Parse {
        /// What was expected (`an OpenSSH private key`, …).
        expected: &'static str,
        /// What is wrong, in the library's or our words.
        reason: String,
    },
    /// The key is encrypted and no passphrase was given.
    #[error("the key is passphrase-protected: give its passphrase")]
    NeedsPassphrase,
    /// The passphrase does not unlock the key.
    #[error("the passphrase does not unlock the key")]
    WrongPassphrase,
    /// The key parses but cannot make the signatures git verifies.
    #[error("the key cannot sign commits: {0}")]
    Unusable(String),
}

/// What a commit made by [`WorkingCopy::make_commit`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Made {
    /// A new commit on the local branch: HEAD's branch moves to it.
    OnHead,
    /// A push-branch commit replayed onto a new base: no ref moves.
    Replayed,
}

impl WorkingCopy {
    /// Create a commit object, signed when the copy has a signer. [`Made::OnHead`] then
    /// moves the branch HEAD points at to it, as `repo.commit(Some("HEAD"), …)` does: only
    /// if it still points at the first parent (a compare-and-swap, `Modified`
    /// otherwise), with the reflog message `commit: <subject>`.
    pub(crate) fn make_commit(
        &self,
        made: Made,
        author: &Signature<'_>,
        committer: &Signature<'_>,
        message: &str,
        tree: &Tree<'_>,
        parent: &git2::Commit<'_>,
    ) -> Result<Oid, GitError> {
        let op = match made {
            Made::OnHead => "commit",
            Made::Replayed => "rebuild the push branch",
        };
        let update_head = made == Made::OnHead;
        let e = |e: git2::Error| self.git_err(op, e);
        let Some(signer) = &self.config.signer else {
            let head = update_head.then_some("HEAD");
            return self
                .repo
                .commit(head, author, committer, message, tree, &[parent])
                .map_err(e);
        };
        let buf = self
            .repo
            .commit_create_buffer(author, committer, message, tree, &[parent])
            .map_err(e)?;
        let signature = signer.sign(&buf).map_err(|reason| GitError::Sign {
            url: self.display_url.clone(),
            reason,
        })?;
        let text = std::str::from_utf8(&buf).map_err(|_| GitError::Sign {
            url: self.display_url.clone(),
            reason: "the commit object is not UTF-8 (author or message)".into(),
        })?;
        // libgit2 writes every newline of the signature as a header continuation: a
        // trailing one would leave a line holding a single space, which git never writes.
        let oid = self
            .repo
            .commit_signed(text, signature.trim_end(), Some("gpgsig"))
            .map_err(e)?;
        if update_head {
            let head = self.repo.find_reference("HEAD").map_err(e)?;
            let branch = head
                .symbolic_target()
                .ok()
                .flatten()
                .map(str::to_string)
                .ok_or_else(|| GitError::Git {
                    op,
                    url: self.display_url.clone(),
                    message: "HEAD is detached; expected the local branch".into(),
                    code: git2::ErrorCode::GenericError,
                    class: git2::ErrorClass::Reference,
                })?;
            let subject = message.lines().next().unwrap_or_default();
            self.repo
                .reference_matching(
                    &branch,
                    oid,
                    true,
                    parent.id(),
                    &format!("commit: {subject}"),
                )
                .map_err(e)?;
        }
        Ok(oid)
    }
}
