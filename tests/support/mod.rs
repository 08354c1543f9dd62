//! Test harness: real parts (Distribution registry, git servers) started on free ports,
//! from `imagebump-testbed`, plus running the real binary.
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod fleet;
pub mod replicas;
pub mod service;
pub use imagebump_testbed::{gitserver, registry};
pub mod chromium;
pub mod tagged;
