//! The real `imagebump run` binary as a service: started on a config, ready when
//! `/readyz` answers 200, asked over HTTP, stopped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `imagebump run --config DIR/imagebump.yaml`, logging to `DIR/imagebump.log`.
pub struct Service {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Service {
    /// Starts the service of `DIR/imagebump.yaml` (listening on `port`) with `env`.
    pub fn start(dir: &Path, port: u16, env: &[(&str, &str)]) -> Service {
        let log = std::fs::File::create(dir.join("imagebump.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(["run", "--config"])
            .arg(dir.join("imagebump.yaml"))
            .envs(env.iter().copied())
            .env("IMAGEBUMP_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Service {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        wait_for("the service to be ready", Duration::from_secs(30), || {
            (s.status_code("/readyz") == Some(200)).then_some(())
        });
        s
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("imagebump.log")).unwrap_or_default()
    }

    fn status_code(&self, path: &str) -> Option<u16> {
        rt().block_on(async {
            reqwest::get(self.url(path))
                .await
                .ok()
                .map(|r| r.status().as_u16())
        })
    }

    /// The body of `GET path` (empty when it cannot be read).
    pub fn get(&self, path: &str) -> String {
        rt().block_on(async {
            match reqwest::get(self.url(path)).await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        })
    }

    /// `/api/v1/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/api/v1/status")).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A current-thread runtime for one blocking call.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Polls `f` until it gives a value, failing after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of one sample line `NAME{LABELS} VALUE` of a `/metrics` text (0 if absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
