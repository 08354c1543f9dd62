//! A file's recent history, for telling a person's change from imagebump's own: the
//! versions of one path along the first-parent line from HEAD (the base the last sync
//! brought the copy to), newest first, only commits that changed the path, bounded.
//!
//! Nothing is stored outside git: what imagebump last wrote and who changed it since are
//! read from the commits themselves (author + [`TRAILER`], as for the push branch), so
//! the answer is the same after a restart and on another replica.

use std::path::Path;

use git2::{Commit, ErrorCode, ObjectType, Oid};

use crate::copy::WorkingCopy;
use crate::error::GitError;
#[cfg(doc)]
use crate::rebuild::TRAILER;

/// The trailer of a commit that ends a manual-change hold of an image; its value is the
/// image id (`application/name`). The same key as `imagebump_core::message::RELEASE_TRAILER`.
pub const RELEASE_TRAILER: &str = "Imagebump-Release";

/// Commits walked at most by [`WorkingCopy::file_history`] (first parent, from HEAD),
/// whether or not they touched the path.
pub const HISTORY_WALK_LIMIT: usize = 500;

/// One version of a file: the commit that produced it and the text it had then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    /// The commit (full hex id).
    pub commit: String,
    /// Its author, `Name <email>`.
    pub author: String,
    /// Made by imagebump (configured author, trailer, one parent).
    pub is_imagebump: bool,
    /// The values of its [`RELEASE_TRAILER`] lines (image ids whose hold it ends).
    pub releases: Vec<String>,
    /// The file's text after the commit; `None` when the commit deleted it or it is not
    /// UTF-8 text.
    pub text: Option<String>,
}

impl WorkingCopy {
    /// The last `max_versions` versions of `rel` along the first-parent line from HEAD,
    /// newest first: each commit whose version of `rel` differs from its first parent's,
    /// and each commit carrying a [`RELEASE_TRAILER`] (with the text it has). At most
    /// [`HISTORY_WALK_LIMIT`] commits are walked.
    pub fn file_history(
        &self,
        rel: &Path,
        max_versions: usize,
    ) -> Result<Vec<FileVersion>, GitError> {
        let e = |e: git2::Error| self.git_err("read the file history", e);
        let mut out = Vec::new();
        let head = match self.repo.head() {
            Ok(h) => h.peel_to_commit().map_err(e)?,
            Err(err) if err.code() == ErrorCode::UnbornBranch => return Ok(out),
            Err(err) => return Err(e(err)),
        };
        let mut cur = head;
        let mut blob = blob_at(&cur, rel).map_err(e)?;
        for _ in 0..HISTORY_WALK_LIMIT {
            if out.len() >= max_versions {
                break;
            }
            let parent = cur.parents().next();
            let parent_blob = match &parent {
                Some(p) => blob_at(p, rel).map_err(e)?,
                None => None,
            };
            // A release may not touch the file, yet it ends a hold of what the file holds.
            if blob != parent_blob || has_release(&cur) {
                out.push(self.version(&cur, blob).map_err(e)?);
            }
            match parent {
                Some(p) => {
                    cur = p;
                    blob = parent_blob;
                }
                None => break,
            }
        }
        Ok(out)
    }

    fn version(&self, c: &Commit<'_>, blob: Option<Oid>) -> Result<FileVersion, git2::Error> {
        let msg = String::from_utf8_lossy(c.message_raw_bytes());
        let releases = msg
            .lines()
            .filter_map(|l| l.strip_prefix(RELEASE_TRAILER)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let text = match blob {
            Some(id) => String::from_utf8(self.repo.find_blob(id)?.content().to_vec()).ok(),
            None => None,
        };
        let a = c.author();
        Ok(FileVersion {
            commit: c.id().to_string(),
            author: format!(
                "{} <{}>",
                String::from_utf8_lossy(a.name_bytes()),
                String::from_utf8_lossy(a.email_bytes())
            ),
            is_imagebump: self.why_foreign(c).is_none(),
            releases,
            text,
        })
    }
}

fn has_release(c: &Commit<'_>) -> bool {
    String::from_utf8_lossy(c.message_raw_bytes())
        .lines()
        .any(|l| {
            l.strip_prefix(RELEASE_TRAILER)
                .is_some_and(|r| r.starts_with(':'))
        })
}

/// The blob `rel` names in `c`'s tree (`None`: absent or not a file).
fn blob_at(c: &Commit<'_>, rel: &Path) -> Result<Option<Oid>, git2::Error> {
    let tree = c.tree()?;
    match tree.get_path(rel) {
        Ok(entry) if entry.kind() == Some(ObjectType::Blob) => Ok(Some(entry.id())),
        Ok(_) => Ok(None),
        Err(err) if err.code() == ErrorCode::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}
