//! Test harness: real parts (Distribution registry, git servers) started on free ports.
#![allow(dead_code)]

pub mod cli;
pub mod gitserver;
#[allow(unused_imports)]
pub use imagebump_testbed::registry;
