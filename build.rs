//! Stamps the binary with the commit it was built from and the build date, for
//! `imagebump version`, `--version` and `imagebump_build_info`.
//!
//! Commit: `git rev-parse --short HEAD` when the source is a git checkout, else the
//! `IMAGEBUMP_COMMIT` environment variable (the Dockerfile's build argument: the image
//! is built without `.git`), else `unknown`. Date: `SOURCE_DATE_EPOCH` (reproducible
//! builds) if set, else today, UTC, as `YYYY-MM-DD`.
//!
//! Rebuilds stay cheap: cargo reruns this only when HEAD, the branch it points at or the
//! two variables change, so an unchanged tree never rebuilds the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=IMAGEBUMP_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let commit = git_commit(&root)
        .or_else(|| non_empty(std::env::var("IMAGEBUMP_COMMIT").ok()))
        .unwrap_or_else(|| "unknown".to_string());
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
        });
    let (y, m, d) = civil_from_days(epoch.div_euclid(86_400));
    println!("cargo:rustc-env=IMAGEBUMP_COMMIT={commit}");
    println!("cargo:rustc-env=IMAGEBUMP_BUILD_DATE={y:04}-{m:02}-{d:02}");
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The short commit of HEAD, and the files whose change means another commit: HEAD
/// itself and the ref it points at (loose, or in `packed-refs`). Worktrees keep HEAD in
/// their own git dir and refs in the common one, so both are asked of git.
fn git_commit(root: &Path) -> Option<String> {
    if !root.join(".git").exists() {
        return None;
    }
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()?;
        out.status.success().then_some(())?;
        non_empty(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
    };
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    let abs = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            root.join(p)
        }
    };
    if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(abs) {
        watch(&dir.join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]).map(abs) {
        watch(&common.join("packed-refs"));
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(&common.join(r));
        }
    }
    Some(commit)
}

/// A missing path would make cargo rerun the script on every build, so only existing
/// ones are named.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`), so no date crate is needed.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
