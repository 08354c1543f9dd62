//! libgit2's process-wide options, set once before this crate's first libgit2 operation.

use std::sync::Once;

static LIBGIT2_OPTS: Once = Once::new();

/// Pack files are read through windows of this size (libgit2's default on 64-bit: 1 GiB,
/// so a whole pack is one mapping and every page read stays resident).
const MWINDOW_SIZE: usize = 4 << 20;
/// Pack windows mapped at once, all repositories together; beyond it libgit2 unmaps
/// the least recently used (default 8 GiB). Pages touched in a mapping count as resident.
const MWINDOW_MAPPED_LIMIT: usize = 16 << 20;
/// libgit2's cache of parsed trees and commits, all repositories together (default
/// 256 MiB): a 20,000-file repository's trees would otherwise stay parsed after a write.
const OBJECT_CACHE_MAX: isize = 8 << 20;

/// Bounded server timeouts, so that a dead server cannot hang a writer forever.
pub(crate) fn init() {
    LIBGIT2_OPTS.call_once(|| {
        // SAFETY: libgit2 global options; set once, before this crate runs any other
        // libgit2 operation (every entry point, `WorkingCopy::open`, calls this first, and
        // this crate is the service's only libgit2 user).
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(15_000);
            let _ = git2::opts::set_server_timeout_in_milliseconds(60_000);
            let _ = git2::opts::set_mwindow_size(MWINDOW_SIZE);
            let _ = git2::opts::set_mwindow_mapped_limit(MWINDOW_MAPPED_LIMIT);
            let _ = git2::opts::set_cache_max_size(OBJECT_CACHE_MAX);
        }
    });
}
