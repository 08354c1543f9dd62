//! glibc malloc tuning, applied once at start.
//!
//! glibc gives each thread that meets contention its own arena, up to 8 per core; memory
//! freed in one arena is not reused by the others, so a service whose writer threads,
//! runtime workers and blocking threads each allocate and free in bursts keeps several
//! arenas' worth of free pages resident. Two arenas measured 194 → 163 MB peak RSS in
//! `cargo bench --bench fast_scale` (`MALLOC_ARENA_MAX=2`); `once` (5 threads) did not
//! change. A `MALLOC_ARENA_MAX` the user sets wins (glibc reads it itself).

/// Arenas kept: one for the runtime, one for the git writers to share.
const ARENAS: i32 = 2;

/// Limits glibc's malloc arenas (no-op elsewhere, or when `MALLOC_ARENA_MAX` is set).
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any thread
        // is started, from `main`.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

/// Hands the pages of freed memory back to the kernel (`malloc_trim(0)`; no-op off
/// glibc). glibc returns only the top of each heap on its own, so the garbage of a
/// large, short-lived job — parsing thousands of policy files, a commit of thousands of
/// edits — stays resident between the objects that outlive it. Called after such jobs,
/// never on a path a commit waits for.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
