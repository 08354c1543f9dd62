//! `imagebump version`: the same line as `--version`.

use std::process::ExitCode;

/// Prints `imagebump VERSION (commit C, built DATE)`.
pub fn run() -> ExitCode {
    println!("{}", crate::build_info::line());
    ExitCode::SUCCESS
}
