//! What this binary is: version, commit and build date, stamped by `build.rs`.
//!
//! Shown by `imagebump version`, `--version` and the `imagebump_build_info` series, so
//! "which build is running" has one answer everywhere.

/// The package version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short commit the binary was built from, or `unknown`.
pub const COMMIT: &str = env!("IMAGEBUMP_COMMIT");

/// The build date, `YYYY-MM-DD` (UTC; `SOURCE_DATE_EPOCH` when set).
pub const BUILD_DATE: &str = env!("IMAGEBUMP_BUILD_DATE");

/// What `--version` prints after the program name: `0.1.0 (commit 3d44d41, built 2026-12-02)`.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("IMAGEBUMP_COMMIT"),
    ", built ",
    env!("IMAGEBUMP_BUILD_DATE"),
    ")"
);

/// The line `imagebump version` prints: `imagebump 0.1.0 (commit 3d44d41, built 2026-12-02)`.
pub fn line() -> String {
    format!("imagebump {LONG_VERSION}")
}
