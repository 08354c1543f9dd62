//! Headless Chromium (Debian's `chromium`), for tests that load a page in a real browser:
//! the DOM after parsing (`--dump-dom`) and screenshots (`--screenshot`). Each run gets
//! a fresh profile directory and no background networking.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the browser is installed (`scripts/install-deps.sh` installs it).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Fails the test, with what to do, when Chromium is not installed.
pub fn require() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/install-deps.sh (it installs Debian's chromium package)"
    );
}

/// Runs Chromium headless on `url` with `args` (its own flags come first); its stdout,
/// or a failure after `timeout`.
fn run(url: &str, args: &[String], timeout: Duration) -> String {
    require();
    let profile = tempfile::tempdir().unwrap();
    let out = tempfile::NamedTempFile::new().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Containers often have a tiny /dev/shm.
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(out.reopen().unwrap())
        .stderr(err.reopen().unwrap())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {timeout:?}:\n{}",
                std::fs::read_to_string(err.path()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "chromium failed ({status}):\n{}",
        std::fs::read_to_string(err.path()).unwrap_or_default()
    );
    std::fs::read_to_string(out.path()).unwrap()
}

/// The page's DOM as Chromium parsed it.
pub fn dump_dom(url: &str) -> String {
    run(url, &["--dump-dom".into()], Duration::from_secs(120))
}

/// A screenshot of `url` at `width`×`height` CSS pixels, saved at `path`.
pub fn screenshot(url: &str, path: &Path, width: u32, height: u32) -> PathBuf {
    let _ = std::fs::remove_file(path);
    run(
        url,
        &[
            format!("--screenshot={}", path.display()),
            format!("--window-size={width},{height}"),
            "--hide-scrollbars".into(),
        ],
        Duration::from_secs(120),
    );
    path.to_path_buf()
}
