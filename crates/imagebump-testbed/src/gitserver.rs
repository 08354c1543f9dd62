//! Real git servers for tests: bare repositories over `file://`, and smart HTTP with basic
//! auth (nginx + fcgiwrap + git-http-backend) on a free 127.0.0.1 port.
//!
//! Every git CLI call goes through [`git`], which pins the identity and shuts out the
//! machine's global and system configuration (this machine has a global `user.name`).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const AUTHOR_NAME: &str = "Test Author";
pub const AUTHOR_EMAIL: &str = "test@example.invalid";

/// A git CLI command with a fixed identity and no global/system configuration.
pub fn git_cmd(dir: Option<&Path>) -> Command {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
        .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
        .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
        .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "advice.detachedHead=false",
        ]);
    c
}

/// Run git, panic with its stderr on failure, return stdout.
pub fn git(dir: Option<&Path>, args: &[&str]) -> String {
    let out = git_out(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run git and return its raw output (for commands expected to fail).
pub fn git_out(dir: Option<&Path>, args: &[&str]) -> Output {
    git_cmd(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run git")
}

fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

/// A bare repository (branch `main`) seeded with an initial commit.
pub struct BareRepo {
    _dir: Option<TempDir>,
    path: PathBuf,
}

impl BareRepo {
    /// A bare repo in a temp dir with one file, `README.md`.
    pub fn new() -> BareRepo {
        Self::with_files(&[("README.md", "# fleet\n")])
    }

    /// A bare repo in a temp dir whose first commit holds `files` (path, content).
    pub fn with_files(files: &[(&str, &str)]) -> BareRepo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("origin.git");
        let mut r = Self::create_at(&path, files);
        r._dir = Some(dir);
        r
    }

    /// A bare repo at `path` (the caller owns the directory).
    pub fn create_at(path: &Path, files: &[(&str, &str)]) -> BareRepo {
        git(
            None,
            &["init", "-q", "--bare", "-b", "main", path.to_str().unwrap()],
        );
        git(Some(path), &["config", "http.receivepack", "true"]);
        let work = tempfile::tempdir().unwrap();
        git(Some(work.path()), &["init", "-q", "-b", "main"]);
        write_files(work.path(), files);
        git(Some(work.path()), &["add", "-A"]);
        git(Some(work.path()), &["commit", "-q", "-m", "initial"]);
        git(
            Some(work.path()),
            &["push", "-q", path.to_str().unwrap(), "main"],
        );
        BareRepo {
            _dir: None,
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.path.display())
    }

    fn git(&self, args: &[&str]) -> String {
        let mut a = vec!["--git-dir", self.path.to_str().unwrap()];
        a.extend_from_slice(args);
        git(None, &a)
    }

    /// The content of `path` at `branch`, or None when absent.
    pub fn read(&self, branch: &str, path: &str) -> Option<String> {
        let out = git_out(
            None,
            &[
                "--git-dir",
                self.path.to_str().unwrap(),
                "show",
                &format!("{branch}:{path}"),
            ],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Number of commits reachable from `branch`.
    pub fn commit_count(&self, branch: &str) -> usize {
        self.git(&["rev-list", "--count", branch])
            .trim()
            .parse()
            .unwrap()
    }

    /// Commit id of `branch`, or None when it does not exist.
    pub fn head(&self, branch: &str) -> Option<String> {
        let out = git_out(
            None,
            &[
                "--git-dir",
                self.path.to_str().unwrap(),
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ],
        );
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Subjects of the commits on `branch`, newest first.
    pub fn log_subjects(&self, branch: &str) -> Vec<String> {
        self.git(&["log", "--format=%s", branch])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `%an <%ae>` of the tip of `branch`.
    pub fn tip_author(&self, branch: &str) -> String {
        self.git(&["log", "-1", "--format=%an <%ae>", branch])
            .trim()
            .to_string()
    }

    /// Files changed by the tip commit of `branch`.
    pub fn tip_changed_files(&self, branch: &str) -> Vec<String> {
        self.git(&[
            "diff-tree",
            "--no-commit-id",
            "--name-only",
            "-r",
            &format!("{branch}^"),
            branch,
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Is `ancestor` an ancestor of (or equal to) `of`?
    pub fn is_ancestor(&self, ancestor: &str, of: &str) -> bool {
        git_out(
            None,
            &[
                "--git-dir",
                self.path.to_str().unwrap(),
                "merge-base",
                "--is-ancestor",
                ancestor,
                of,
            ],
        )
        .status
        .success()
    }

    /// Install a `pre-receive` hook that rejects every push with `message`.
    pub fn reject_pushes(&self, message: &str) {
        let hook = self.path.join("hooks/pre-receive");
        std::fs::write(&hook, format!("#!/bin/sh\necho '{message}' >&2\nexit 1\n")).unwrap();
        set_executable(&hook);
    }

    /// Keep a reflog of the branches (bare repositories keep none by default), so that a
    /// test can check every step a branch took.
    pub fn enable_reflog(&self) {
        self.git(&["config", "core.logAllRefUpdates", "true"]);
    }

    /// The `(old, new)` commit ids of every step in `branch`'s reflog, oldest first
    /// (`old` is all zeros when the step created the branch). Empty without a reflog.
    pub fn reflog_steps(&self, branch: &str) -> Vec<(String, String)> {
        let log = self.path.join("logs/refs/heads").join(branch);
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut f = l.split(' ');
                let old = f.next().unwrap_or_default().to_string();
                let new = f.next().unwrap_or_default().to_string();
                (old, new)
            })
            .collect()
    }

    /// Remove the `pre-receive` hook.
    pub fn accept_pushes(&self) {
        let _ = std::fs::remove_file(self.path.join("hooks/pre-receive"));
    }
}

impl Default for BareRepo {
    fn default() -> Self {
        Self::new()
    }
}

fn set_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A clone made with the git CLI: "another writer" in tests.
pub struct CliClone {
    _dir: TempDir,
    path: PathBuf,
}

impl CliClone {
    pub fn new(url: &str) -> CliClone {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clone");
        git(None, &["clone", "-q", url, path.to_str().unwrap()]);
        CliClone { _dir: dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Pull (fast-forward only) from origin main.
    pub fn pull(&self) {
        git(Some(&self.path), &["pull", "-q", "--ff-only"]);
    }

    /// Write files, commit them with `message`.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) {
        write_files(&self.path, files);
        git(Some(&self.path), &["add", "-A"]);
        git(Some(&self.path), &["commit", "-q", "-m", message]);
    }

    /// Push the current branch; panics on failure.
    pub fn push(&self) {
        git(Some(&self.path), &["push", "-q", "origin", "HEAD"]);
    }

    /// Pull, commit and push in one go.
    pub fn commit_and_push(&self, files: &[(&str, &str)], message: &str) {
        self.pull();
        self.commit(files, message);
        self.push();
    }
}

pub use crate::ports::free_port;

/// A child started in its own process group, killed with the whole group on drop.
struct GroupChild(Child);

impl GroupChild {
    fn spawn(cmd: &mut Command) -> std::io::Result<GroupChild> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(GroupChild)
    }

    fn exited(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(Some(_)))
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        let pgid = self.0.id();
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Smart HTTP git server with basic auth: nginx + fcgiwrap + git-http-backend.
pub struct HttpGitServer {
    // Field order: processes die before the directory goes.
    _nginx: GroupChild,
    _fcgi: GroupChild,
    dir: TempDir,
    port: u16,
    pub user: String,
    pub password: String,
}

impl HttpGitServer {
    /// Start on a free port; every request needs `user`/`pass`.
    pub fn start(user: &str, pass: &str) -> HttpGitServer {
        let missing = which(&["nginx", "fcgiwrap", "htpasswd"]);
        assert!(
            missing.is_empty(),
            "{missing:?} missing: apt-get install -y nginx-light fcgiwrap apache2-utils"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("repos")).unwrap();
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        // nginx understands apr1 (htpasswd's default), not bcrypt.
        let st = Command::new("htpasswd")
            .args(["-bc", d.join("htpasswd").to_str().unwrap(), user, pass])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "htpasswd failed");
        let sock = d.join("fcgi.sock");
        let fcgi = GroupChild::spawn(
            Command::new("fcgiwrap")
                .args(["-c", "4", "-s"])
                .arg(format!("unix:{}", sock.display())),
        )
        .expect("start fcgiwrap");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(
                Instant::now() < deadline,
                "fcgiwrap did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Retry on the tiny race between picking a port and nginx binding it.
        for _ in 0..5 {
            let port = free_port();
            let conf = d.join("nginx.conf");
            std::fs::write(&conf, nginx_conf(d, port)).unwrap();
            let mut nginx = GroupChild::spawn(
                Command::new("nginx")
                    .arg("-p")
                    .arg(d)
                    .arg("-c")
                    .arg(&conf)
                    .args(["-e", d.join("error.log").to_str().unwrap()]),
            )
            .expect("start nginx");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return HttpGitServer {
                        _nginx: nginx,
                        _fcgi: fcgi,
                        dir,
                        port,
                        user: user.into(),
                        password: pass.into(),
                    };
                }
                if nginx.exited() || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let log = std::fs::read_to_string(d.join("error.log")).unwrap_or_default();
        panic!("nginx did not start: {log}");
    }

    /// Create `<name>.git` in the project root, seeded with `files`.
    pub fn create_repo(&self, name: &str, files: &[(&str, &str)]) -> BareRepo {
        BareRepo::create_at(
            &self.dir.path().join("repos").join(format!("{name}.git")),
            files,
        )
    }

    /// `http://127.0.0.1:PORT/<name>.git` (no credentials).
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}.git", self.port)
    }

    /// The same URL with the credentials in it (for the git CLI).
    pub fn url_with_credentials(&self, name: &str) -> String {
        format!(
            "http://{}:{}@127.0.0.1:{}/{name}.git",
            self.user, self.password, self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Rotate the password: nginx reads the htpasswd file on every request, so the next
    /// request needs the new one and the old one is refused.
    pub fn set_password(&mut self, pass: &str) {
        let file = self.dir.path().join("htpasswd");
        let st = Command::new("htpasswd")
            .args(["-bc", file.to_str().unwrap(), &self.user, pass])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "htpasswd failed");
        self.password = pass.into();
    }
}

fn which(names: &[&'static str]) -> Vec<&'static str> {
    names
        .iter()
        .copied()
        .filter(|n| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {n}")])
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
        .collect()
}

fn nginx_conf(d: &Path, port: u16) -> String {
    let d = d.display();
    format!(
        r#"user root;
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    fastcgi_temp_path {d}/tmp/fastcgi;
    proxy_temp_path {d}/tmp/proxy;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_basic "git";
            auth_basic_user_file {d}/htpasswd;
            client_max_body_size 0;
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
            fastcgi_param GIT_PROJECT_ROOT {d}/repos;
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param PATH_INFO $uri;
            fastcgi_param REMOTE_USER $remote_user;
            fastcgi_pass unix:{d}/fcgi.sock;
        }}
    }}
}}
"#
    )
}

/// An OpenSSH server on a free 127.0.0.1 port that accepts one generated ed25519 key for
/// the current user; `git-upload-pack`/`git-receive-pack` run as that user. Needs the
/// `openssh-server` package.
pub struct SshGitServer {
    _sshd: GroupChild,
    dir: TempDir,
    port: u16,
    user: String,
}

impl SshGitServer {
    pub fn start() -> SshGitServer {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "sshd missing: apt-get install -y openssh-server"
        );
        // sshd insists on its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (name, comment) in [
            ("host_key", "host"),
            ("client_key", "client"),
            ("stranger_key", "x"),
        ] {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(d.join(name))
                .status()
                .unwrap();
            assert!(st.success(), "ssh-keygen failed");
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        for _ in 0..5 {
            let port = free_port();
            let conf = d.join("sshd_config");
            std::fs::write(
                &conf,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                     AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                     PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nLogLevel ERROR\n",
                    d = d.display()
                ),
            )
            .unwrap();
            let mut sshd = GroupChild::spawn(
                Command::new("/usr/sbin/sshd")
                    .args(["-D", "-e", "-f"])
                    .arg(&conf),
            )
            .expect("start sshd");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return SshGitServer {
                        _sshd: sshd,
                        dir,
                        port,
                        user,
                    };
                }
                if sshd.exited() || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("sshd did not start");
    }

    /// `ssh://user@127.0.0.1:PORT/abs/path/to/repo.git`
    pub fn url(&self, repo: &BareRepo) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.path().display()
        )
    }

    /// The authorised client private key.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// A key the server does not know.
    pub fn stranger_key(&self) -> PathBuf {
        self.dir.path().join("stranger_key")
    }

    /// A known_hosts file that lists this server's host key.
    pub fn known_hosts(&self) -> PathBuf {
        let p = self.dir.path().join("known_hosts");
        let pubkey = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut f = pubkey.split_whitespace();
        let (kt, key) = (f.next().unwrap(), f.next().unwrap());
        std::fs::write(&p, format!("[127.0.0.1]:{} {kt} {key}\n", self.port)).unwrap();
        p
    }

    /// A known_hosts file that lists another key for this server.
    pub fn wrong_known_hosts(&self) -> PathBuf {
        let p = self.dir.path().join("wrong_known_hosts");
        let pubkey = std::fs::read_to_string(self.dir.path().join("stranger_key.pub")).unwrap();
        let mut f = pubkey.split_whitespace();
        let (kt, key) = (f.next().unwrap(), f.next().unwrap());
        std::fs::write(&p, format!("[127.0.0.1]:{} {kt} {key}\n", self.port)).unwrap();
        p
    }
}

/// A person racing imagebump: `human` commits `n` files with the git CLI and pushes each
/// to `main` (pull --rebase and push again when refused). Before the first push of each
/// commit it sends on `starting`, so the caller can start its own write right then and
/// both pushes are in flight together (a channel, not timing, makes them overlap); the
/// retries go unannounced, so the human is not starved by a faster writer. Returns the
/// human's commits and how often a push was refused.
pub fn human_pusher(
    human: CliClone,
    n: usize,
    starting: std::sync::mpsc::Sender<()>,
) -> std::thread::JoinHandle<(Vec<String>, usize)> {
    std::thread::spawn(move || {
        let mut pushed = Vec::with_capacity(n);
        let mut refusals = 0;
        for i in 0..n {
            human.commit(&[(&format!("human/{i}.txt"), "x\n")], &format!("human {i}"));
            let _ = starting.send(());
            loop {
                let out = git_out(Some(human.path()), &["push", "-q", "origin", "HEAD:main"]);
                if out.status.success() {
                    break;
                }
                refusals += 1;
                assert!(refusals < 20 * n, "the human never gets a push in");
                git(
                    Some(human.path()),
                    &["pull", "-q", "--rebase", "origin", "main"],
                );
            }
            pushed.push(
                git(Some(human.path()), &["rev-parse", "HEAD"])
                    .trim()
                    .to_string(),
            );
        }
        (pushed, refusals)
    })
}

impl BareRepo {
    /// Asserts that nothing was lost on `main`: every commit of `ours` and `theirs` is
    /// reachable, and the reflog (see [`enable_reflog`](Self::enable_reflog)) holds at
    /// least `min_steps` steps, each a fast-forward starting where the last one ended.
    pub fn assert_no_commit_lost(&self, ours: &[String], theirs: &[String], min_steps: usize) {
        let reachable: std::collections::HashSet<String> = git(
            None,
            &[
                "--git-dir",
                self.path().to_str().unwrap(),
                "rev-list",
                "main",
            ],
        )
        .lines()
        .map(str::to_string)
        .collect();
        let lost_ours: Vec<_> = ours.iter().filter(|c| !reachable.contains(*c)).collect();
        let lost_theirs: Vec<_> = theirs.iter().filter(|c| !reachable.contains(*c)).collect();
        assert!(
            lost_ours.is_empty() && lost_theirs.is_empty(),
            "lost imagebump commits {lost_ours:?}, lost human commits {lost_theirs:?}"
        );
        let steps = self.reflog_steps("main");
        assert!(steps.len() >= min_steps, "{} reflog steps", steps.len());
        let zero = "0".repeat(40);
        for (old, new) in &steps {
            assert!(
                *old == zero || self.is_ancestor(old, new),
                "non-fast-forward step {old} -> {new} in the reflog"
            );
        }
        for w in steps.windows(2) {
            assert_eq!(w[0].1, w[1].0, "the reflog has a gap");
        }
    }
}
