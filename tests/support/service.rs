//! A running `imagebump run`: the real binary, its config at `DIR/imagebump.yaml` and
//! its log at `DIR/imagebump.log`; stopped with SIGTERM (graceful) by [`Service::stop`],
//! killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The secret tests give receivers as `{env: E2E_WEBHOOK_SECRET}`.
pub const SECRET: &str = "e2e-webhook-secret";

/// A running `imagebump run`.
pub struct Service {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Service {
    /// Starts `imagebump run --config DIR/imagebump.yaml` and waits until `/readyz` on
    /// `port` answers 200.
    pub fn start(dir: &Path, port: u16) -> Service {
        Self::start_with(dir, port, &[])
    }

    /// Like [`start`](Self::start), with `extra` global flags before `run`.
    pub fn start_with(dir: &Path, port: u16, extra: &[&str]) -> Service {
        Self::spawn(dir, port, extra, &[])
    }

    /// Like [`start`](Self::start), with `env` added to the service's environment;
    /// `port` is the one serving `/readyz` (the admin port when `adminListen` is set).
    pub fn start_env(dir: &Path, port: u16, env: &[(&str, &str)]) -> Service {
        Self::spawn(dir, port, &[], env)
    }

    fn spawn(dir: &Path, port: u16, extra: &[&str], env: &[(&str, &str)]) -> Service {
        let log = std::fs::File::create(dir.join("imagebump.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_imagebump"))
            .args(extra)
            .args(["run", "--config"])
            .arg(dir.join("imagebump.yaml"))
            .env("E2E_WEBHOOK_SECRET", SECRET)
            .env("E2E_GIT_USER", "gituser")
            .env("E2E_GIT_PASSWORD", "gitpass")
            .env("IMAGEBUMP_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Service {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if s.get("/readyz").is_some_and(|(status, _)| status == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "service not ready:\n{}", s.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `GET path`: status and body, `None` when the request fails.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let url = self.url(path);
        rt().block_on(async {
            let r = ::reqwest::get(url).await.ok()?;
            let status = r.status().as_u16();
            Some((status, r.text().await.ok()?))
        })
    }

    /// The body of `GET path` (empty when it cannot be read).
    pub fn body(&self, path: &str) -> String {
        self.get(path).map(|(_, body)| body).unwrap_or_default()
    }

    /// `/api/v1/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.body("/api/v1/status")).unwrap_or_default()
    }

    /// The text of `/metrics`.
    pub fn metrics(&self) -> String {
        get(&self.url("/metrics")).expect("GET /metrics").1
    }

    /// Polls `f` every 20 ms until it gives a value; fails with the log after `timeout`.
    pub fn wait_for<T>(&self, what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
        wait_for_or(what, timeout, f, || format!("log:\n{}", self.log()))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("imagebump.log")).unwrap_or_default()
    }

    /// SIGTERM, then waits (at most 20 s) for the exit; returns how it exited.
    pub fn stop(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "service did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A current-thread runtime for reqwest's async client (the crate has no blocking feature).
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `GET url`: the status code and body, `None` when nothing answers.
pub fn get(url: &str) -> Option<(u16, String)> {
    rt().block_on(async {
        let r = reqwest::get(url).await.ok()?;
        let code = r.status().as_u16();
        Some((code, r.text().await.ok()?))
    })
}

/// `POST url` with `body` and headers: the status code, `None` when nothing answers.
pub fn post(url: &str, headers: &[(&str, &str)], body: &str) -> Option<u16> {
    rt().block_on(async {
        let mut req = reqwest::Client::new().post(url).body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Some(req.send().await.ok()?.status().as_u16())
    })
}

/// Polls `f` every 20 ms until it gives a value, failing after `timeout` with `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    wait_for_or(what, timeout, f, String::new)
}

/// [`wait_for`], failing with `what` and `seen()` (what was seen last).
pub fn wait_for_or<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Option<T>,
    seen: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {}",
            seen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of one sample line `NAME{LABELS} VALUE` of a `/metrics` text (0 if absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}
