//! imagebump: registry events in, in-place GitOps image updates out.
//!
//! See `ARCHITECTURE.md` for the map. Pure layers (`image`, `policy`,
//! `gitops::edit`) do no I/O; only `engine` orchestrates.

pub mod cli;
pub mod config;
pub mod engine;
pub mod gitops;
pub mod image;
pub mod metrics;
mod parsed;
pub mod policy;
pub mod registry;
pub mod secret;
pub mod server;
pub mod webhook;
