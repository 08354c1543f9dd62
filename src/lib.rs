//! imagebump: registry events in, in-place GitOps image updates out.
//!
//! The `imagebump` package joins the workspace's crates: `engine` orchestrates
//! (event → scan → select → plan → write), `server` is the HTTP face, `cli` the commands.
//! Pure logic lives in `imagebump_core`, the registry client in `imagebump_registry`, the
//! working copy in `imagebump_git`, webhook parsing in `imagebump_webhook`. See
//! `ARCHITECTURE.md` for the map.
//!
//! **Architecture invariant:** only `engine` orchestrates, and data flows one way through
//! it (event → scan → select → plan → write); `server` and `cli` only translate between
//! the outside (HTTP, flags, exit codes) and the engine, and the crates below know nothing
//! of this package.

#![warn(missing_docs)]

pub mod build_info;
pub mod cli;
pub(crate) mod config;
pub mod engine;
pub mod image_metrics;
pub mod malloc;
pub mod metrics;
pub mod policy_files;
pub mod policy_source;
pub(crate) mod secret;
pub mod server;
