//! Per-application policy files: model, loading, validation, and tag selection. No I/O
//! except reading the policy files themselves in `load`.

pub mod constraint;
pub mod select;
