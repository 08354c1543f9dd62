//! libgit2's process-wide options, set once before this crate's first libgit2 operation.

use std::sync::Once;

static LIBGIT2_OPTS: Once = Once::new();

/// Bounded server timeouts, so that a dead server cannot hang a writer forever.
pub(crate) fn init() {
    LIBGIT2_OPTS.call_once(|| {
        // SAFETY: libgit2 global options; set once, before this crate runs any other
        // libgit2 operation (every entry point, `WorkingCopy::open`, calls this first, and
        // this crate is the service's only libgit2 user).
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(15_000);
            let _ = git2::opts::set_server_timeout_in_milliseconds(60_000);
        }
    });
}
