//! Real parts for imagebump's tests: the CNCF Distribution registry (plain, htpasswd,
//! token auth with a test issuer, notifications), the named stand-in registry for faults a
//! real one cannot produce on cue, a stand-in `CONNECT` proxy (`proxy`), stand-ins for cloud token services
//! (`cloud`: GCP, Azure, ECR), git servers (`file://`, smart HTTP, SSH), and named
//! stand-ins for the forges' pull-request APIs (`forge`: GitHub, GitLab, Gitea,
//! Bitbucket — no forge runs here) over real bare repositories, each started on a free
//! 127.0.0.1 port and stopped when dropped; `signing` makes SSH and OpenPGP keys with the
//! real tools and asks `git verify-commit` about signed commits; `deploy` stands in for
//! Argo CD's webhook and refresh API and a Flux Receiver (deploy triggers).
//!
//! **Invariant:** a dev-dependency only, never linked into the binary; a stand-in is
//! named as one and used only for what a real part cannot do on cue.
#![allow(dead_code)]

pub mod cloud;
pub mod deploy;
pub mod forge;
pub mod gitserver;
pub mod ports;
pub mod proxy;
pub mod registry;
pub mod signing;
pub mod standin;
pub mod tls;
pub mod token;
