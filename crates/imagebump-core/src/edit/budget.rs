//! The budget every parse of a GitOps file runs under.
//!
//! A file is read from a repository anyone with push access can write to, so parsing it
//! must cost bounded time and memory whatever it holds. Aliases cost O(1) (an alias
//! shares the anchored node, it is never copied), and a file that passes any limit below
//! is refused as a whole with `file:line` ([`super::EditError::OverBudget`]) before it is
//! edited; the other files of a plan go on.

/// Largest file parsed, in bytes (4 MiB; the largest values file of the charts surveyed
/// for the Helm editor is under 200 KiB).
pub const MAX_BYTES: usize = 4 * 1024 * 1024;

/// Deepest nesting of mappings and sequences (the tree is walked recursively).
pub const MAX_DEPTH: usize = 128;

/// Most nodes (scalars, mappings, sequences, aliases) in one file, all documents together.
pub const MAX_NODES: usize = 1_000_000;

/// Most aliases (`*name`) in one file. Each costs O(1), but a reader that follows them
/// could still multiply the work, so their number is bounded too.
pub const MAX_ALIASES: usize = 10_000;
