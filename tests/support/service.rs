//! `imagebump run` as a child process, for tests that talk to it over HTTP: started
//! with a config file, ready once `/readyz` answers 200, stopped with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `imagebump run --config DIR/imagebump.yaml`, its log in `DIR/imagebump.log`;
/// killed on drop.
pub struct Service {
    child: Child,
    dir: PathBuf,
}

impl Service {
    /// Starts the service on `DIR/imagebump.yaml` with `env`, and waits (30 s at most)
    /// until `ready_url` (its `/readyz`) answers 200.
    pub fn start(dir: &Path, env: &[(&str, &str)], ready_url: &str) -> Service {
        let log = std::fs::File::create(dir.join("imagebump.log")).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_imagebump"));
        c.args(["run", "--config"])
            .arg(dir.join("imagebump.yaml"))
            .env("IMAGEBUMP_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let s = Service {
            child: c.spawn().unwrap(),
            dir: dir.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(ready_url).map(|(code, _)| code) != Some(200) {
            assert!(Instant::now() < deadline, "service not ready:\n{}", s.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// The service's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("imagebump.log")).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rt() -> tokio::runtime::Runtime {
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
