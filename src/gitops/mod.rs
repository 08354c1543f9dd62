//! Writing image updates back to a GitOps repository: pure editors and the git working copy.

pub mod files;
pub mod repo;
