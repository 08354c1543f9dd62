//! imagebump's pure logic: everything that decides, nothing that fetches.
//!
//! - [`image`]: image references (parse, normalise, compare).
//! - [`policy`]: the policy model, loaded *from text* (the caller reads the file and passes
//!   its text with a name for error positions); constraints and tag selection.
//! - [`edit`]: the in-place editors (text in, new text or a `file:line` refusal out).
//! - [`decision`]: stable image identities (`application/name`), wishes, and the typed
//!   decisions every status line is rendered from.
//! - [`plan`]: wishes + file texts → new texts; [`message`]: the one commit-message builder.
//! - [`hold`]: `# imagebump: hold` markers on the lines of image values.
//! - [`manual`]: manual changes (a person's commit away from imagebump's value), told
//!   from a file's history the caller passes in.
//! - [`pull`]: a pull request's title, body and proposed versions, from the commit
//!   messages on its head branch.
//! - [`notice`]: notifications: events, per-entry filters, each chat format's body.
//! - [`secret`]: a secret value that never prints.
//! - [`link`]: links to a commit on its forge (`git.commitUrl`, or derived for public forges).
//! - [`trigger`]: deploy triggers' payloads (Argo CD's GitHub push event, templated
//!   webhook bodies) and the web URL of a git URL.
//!
//! **Architecture invariant:** no I/O. No network, no filesystem, no clock, no
//! environment: every input is a value the caller passes in, so everything here is
//! deterministic and testable in memory. The dependencies carry no async runtime, HTTP
//! or git library (tokio, reqwest, hyper, axum, git2); the imagebump package's tidy test
//! (`tests/tidy.rs`) fails if one appears.

#![warn(missing_docs)]

pub mod decision;
pub mod edit;
pub mod hold;
pub mod image;
pub mod link;
pub mod manual;
pub mod message;
pub mod notice;
pub mod parsed;
pub mod plan;
pub mod policy;
pub mod pull;
pub mod secret;
pub mod template;
pub mod trigger;
