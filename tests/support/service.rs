//! A running `imagebump run` (the real binary) for tests that read its HTTP endpoints.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `imagebump run --config DIR/imagebump.yaml`, logging to `DIR/imagebump.log`, ready
/// (`/readyz` 200) when returned; killed on drop.
pub struct Service {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Service {
    /// Starts the service whose config listens on `port` and waits until it is ready.
    pub fn start(dir: &Path, port: u16) -> Service {
        let log = dir.join("imagebump.log");
        let child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(["run", "--config"])
            .arg(dir.join("imagebump.yaml"))
            .env("IMAGEBUMP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let s = Service { child, port, log };
        s.wait_for("ready", Duration::from_secs(30), || {
            (get(&s.url("/readyz"))?.0 == 200).then_some(())
        });
        s
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The text of `/metrics`.
    pub fn metrics(&self) -> String {
        get(&self.url("/metrics")).expect("GET /metrics").1
    }

    /// The service's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `f` every 50 ms until it gives a value; fails with the log after `timeout`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `url`: status and body, or `None` when it cannot be reached.
pub fn get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::get(url).await.ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().await.ok()?))
    })
}
