//! Tidy tests: the workspace's conventions, enforced from `cargo test` (as rust-analyzer
//! does). Each failure says which rule broke and where.
//!
//! - Pure crates (`imagebump-core`) have no async runtime, HTTP or git library among
//!   their normal dependencies, direct or transitive, and their code does no I/O.
//! - The webhook crate does not depend on a server framework.
//! - Every crate's `lib.rs` opens with a doc comment that states its invariant.
//! - No source file is longer than [`MAX_LINES`] unless its top comment says why.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Longest a source file may be without explaining itself.
const MAX_LINES: usize = 800;

/// Crates that must stay free of I/O, and what they may not depend on.
const PURE: &[&str] = &["imagebump-core"];
const IO_CRATES: &[&str] = &[
    "tokio",
    "reqwest",
    "hyper",
    "axum",
    "git2",
    "mio",
    "libgit2-sys",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Names of every package `name` depends on at run time, transitively: what
/// `cargo tree -p NAME -e normal` lists (the issue's own check).
fn closure(name: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree", "-p", name, "-e", "normal", "--prefix", "none", "--locked",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn pure_crates_have_no_io_dependencies() {
    for krate in PURE {
        let all = closure(krate);
        let bad: Vec<&&str> = IO_CRATES.iter().filter(|c| all.contains(**c)).collect();
        assert!(
            bad.is_empty(),
            "{krate} must stay pure, but depends (maybe transitively) on {bad:?}; \
             move the code that needs them to the imagebump package or an I/O crate"
        );
    }
}

#[test]
fn webhook_crate_has_no_server_framework() {
    let all = closure("imagebump-webhook");
    for c in ["axum", "hyper", "tokio"] {
        assert!(
            !all.contains(c),
            "imagebump-webhook depends on {c}: providers take `http::HeaderMap` and bytes; \
             answering is the server's job"
        );
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

#[test]
fn pure_crates_do_no_io_in_code() {
    // Paths whose use means I/O; tests (after `#[cfg(test)]`) may use them.
    const FORBIDDEN: &[&str] = &[
        "std::fs",
        "std::net",
        "std::env",
        "std::process",
        // Time values may be passed in; reading the clock is the caller's job.
        "SystemTime::now",
        "Instant::now",
        "File::open",
        "read_to_string(",
    ];
    for krate in PURE {
        let mut files = Vec::new();
        rust_files(&root().join("crates").join(krate).join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (i, line) in code.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for bad in FORBIDDEN {
                    assert!(
                        !line.contains(bad),
                        "{}:{}: `{bad}` in the pure crate {krate}; take the value as a \
                         parameter and do the I/O in the caller",
                        f.display(),
                        i + 1
                    );
                }
            }
        }
    }
}

#[test]
fn every_crate_documents_its_invariant() {
    let mut libs = vec![root().join("src/lib.rs")];
    for e in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        libs.push(e.path().join("src/lib.rs"));
    }
    for lib in libs {
        let text = std::fs::read_to_string(&lib).unwrap();
        let doc: String = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !doc.is_empty(),
            "{}: a crate opens with a `//!` doc comment saying what it is",
            lib.display()
        );
        assert!(
            doc.to_lowercase().contains("invariant"),
            "{}: the crate's doc comment states its architecture invariant",
            lib.display()
        );
    }
}

#[test]
fn no_source_file_is_too_long_without_saying_why() {
    let mut files = Vec::new();
    for dir in ["src", "crates", "tests", "benches"] {
        let d = root().join(dir);
        if d.exists() {
            rust_files(&d, &mut files);
        }
    }
    let mut long = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines = text.lines().count();
        let head: String = text.lines().take(12).collect::<Vec<_>>().join("\n");
        // The top comment explains a long file with a line starting "Long:".
        if lines > MAX_LINES && !head.contains("Long:") {
            long.push(format!("{} ({lines} lines)", f.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines: split them by concern, or say why in the top comment \
         (a line starting `Long:`): {long:?}"
    );
}
