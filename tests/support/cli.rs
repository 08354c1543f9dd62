//! Running the real `imagebump` binary the way a user does.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// What one run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `imagebump ARGS` in `cwd` with a clean `IMAGEBUMP_*` environment plus `env`.
pub fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imagebump"));
    c.current_dir(cwd).args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("IMAGEBUMP_") {
            c.env_remove(k);
        }
    }
    c.envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run imagebump");
    Run {
        code: status.code().expect("exit code"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}
