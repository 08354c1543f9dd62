//! Stand-ins for the forges' pull-request REST APIs (GitHub, GitLab, Gitea/Forgejo,
//! Bitbucket Cloud): no forge runs on these machines, so each provider module answers the
//! endpoints imagebump uses as that forge's published API documents them — paths, status
//! codes, pagination headers or bodies, error bodies, rate-limit answers. The git side is
//! real: a stand-in serves the pull requests of a real bare repository (the one the
//! testbed's [`crate::gitserver::HttpGitServer`] serves), checks head branches in it, and
//! [`ForgeStandIn::merge`] merges with the git CLI and pushes.
//!
//! One HTTP/1.1 server per stand-in, std threads, `Connection: close`. List pages are
//! [`PAGE_SIZE`] items whatever the client asks, so every list is paginated.

mod bitbucket;
mod gitea;
mod github;
mod gitlab;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::gitserver::{git, git_out, BareRepo};

/// Items per list page, whatever `per_page`/`limit`/`pagelen` asks.
pub const PAGE_SIZE: usize = 5;
/// The wait every stand-in's rate-limit answer asks for.
pub const RATE_LIMIT_WAIT_SECS: u64 = 120;

/// Which forge's API a stand-in follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// GitHub REST v3, laid out as GitHub Enterprise Server (`/api/v3`, `/api/graphql`).
    Github,
    /// GitLab REST v4.
    Gitlab,
    /// Gitea REST v1.
    Gitea,
    /// Bitbucket Cloud REST 2.0.
    Bitbucket,
}

/// A pull request's state in the stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    Open,
    Merged,
    Closed,
}

/// A pull request as the stand-in holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInPr {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub state: PrState,
    pub labels: Vec<String>,
    /// User names (GitLab: user names of the ids; Bitbucket: the uuids/account ids).
    pub reviewers: Vec<String>,
    pub auto_merge: bool,
}

/// What a provider module works on.
pub(crate) struct Shared {
    pub kind: Kind,
    pub token: String,
    /// `owner/name` (GitLab: `group/sub/name`).
    pub full_name: String,
    pub git_dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    pub prs: Vec<StandInPr>,
    pub rate_limited: usize,
    /// Repository labels (Gitea: ids matter).
    pub labels: Vec<(u64, String)>,
    /// Known users: (id, name).
    pub users: Vec<(u64, String)>,
}

impl Shared {
    pub fn next_number(&self) -> u64 {
        self.prs.iter().map(|p| p.number).max().unwrap_or(0) + 1
    }

    pub fn pr_mut(&mut self, number: u64) -> Option<&mut StandInPr> {
        self.prs.iter_mut().find(|p| p.number == number)
    }

    /// Whether `branch` exists in the real repository.
    pub fn branch_exists(&self, branch: &str) -> bool {
        git_out(
            None,
            &[
                "--git-dir",
                self.git_dir.to_str().unwrap_or_default(),
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ],
        )
        .status
        .success()
    }

    /// Commits on `head` that `base` lacks.
    pub fn commits_between(&self, base: &str, head: &str) -> usize {
        let out = git_out(
            None,
            &[
                "--git-dir",
                self.git_dir.to_str().unwrap_or_default(),
                "rev-list",
                "--count",
                &format!("refs/heads/{base}..refs/heads/{head}"),
            ],
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }

    /// The open pull request from `head` into `base`, if any.
    pub fn open_duplicate(&self, head: &str, base: &str) -> Option<u64> {
        self.prs
            .iter()
            .find(|p| p.state == PrState::Open && p.head == head && p.base == base)
            .map(|p| p.number)
    }

    /// The name of a known user id.
    pub fn user_name(&self, id: u64) -> Option<String> {
        self.users
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
    }

    /// A label's id, created when new.
    pub fn label_id(&mut self, name: &str) -> u64 {
        if let Some((id, _)) = self.labels.iter().find(|(_, n)| n == name) {
            return *id;
        }
        let id = 100 + self.labels.len() as u64;
        self.labels.push((id, name.to_string()));
        id
    }
}

/// A request as a stand-in sees it.
pub(crate) struct Request {
    pub method: String,
    /// Raw path, percent-encoding kept (GitLab's `group%2Fname` is one segment).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(kk, _)| kk.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn query_all(&self, k: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(kk, _)| kk == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The JSON body (`Null` when absent or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `page` (1-based, default 1).
    pub fn page(&self) -> usize {
        self.query("page")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
    }

    /// The bearer (or `token`) credential of the Authorization header.
    pub fn auth_token(&self) -> Option<&str> {
        let v = self.header("authorization")?;
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("token "))
            .map(str::trim)
    }

    /// The query string with `page` set to `page`, for pagination links.
    pub fn query_with_page(&self, page: usize) -> String {
        let mut parts: Vec<String> = self
            .query
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
            .collect();
        parts.push(format!("page={page}"));
        parts.join("&")
    }
}

/// An answer.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, v: Value) -> Reply {
        Reply {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: v.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, s: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: s.as_bytes().to_vec(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// One page of `items` (1-based `page`), and whether more follow.
pub(crate) fn page_of<T: Clone>(items: &[T], page: usize) -> (Vec<T>, bool) {
    let start = (page - 1).saturating_mul(PAGE_SIZE).min(items.len());
    let end = (start + PAGE_SIZE).min(items.len());
    (items[start..end].to_vec(), end < items.len())
}

/// Pages in `total` items.
pub(crate) fn last_page(total: usize) -> usize {
    total.div_ceil(PAGE_SIZE).max(1)
}

pub(crate) fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Percent-encoding for links the stand-in writes.
pub(crate) fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .unwrap_or(b'?');
                out.push(h);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A stand-in forge API for one repository; stops accepting on drop.
pub struct ForgeStandIn {
    kind: Kind,
    port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
}

impl ForgeStandIn {
    /// A stand-in of `kind` for the repository `full_name` (`owner/name`; GitLab may have
    /// subgroups) whose git side is `repo`; requests need `token`. Users `alice` (id 7)
    /// and `bob` (id 8) exist.
    pub fn start(kind: Kind, repo: &BareRepo, full_name: &str, token: &str) -> ForgeStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a stand-in port");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Mutex::new(Shared {
            kind,
            token: token.into(),
            full_name: full_name.into(),
            git_dir: repo.path().to_path_buf(),
            origin: format!("http://127.0.0.1:{port}"),
            prs: Vec::new(),
            rate_limited: 0,
            labels: Vec::new(),
            users: vec![(7, "alice".into()), (8, "bob".into())],
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (shared2, stop2, log2) = (shared.clone(), stop.clone(), log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (shared, log) = (shared2.clone(), log2.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &shared, &log);
                });
            }
        });
        ForgeStandIn {
            kind,
            port,
            shared,
            stop,
            log,
        }
    }

    /// The API base URL a client is configured with.
    pub fn api_url(&self) -> String {
        let prefix = match self.kind {
            Kind::Github => "/api/v3",
            Kind::Gitlab => "/api/v4",
            Kind::Gitea => "/api/v1",
            Kind::Bitbucket => "/2.0",
        };
        format!("http://127.0.0.1:{}{prefix}", self.port)
    }

    /// Every pull request, oldest first.
    pub fn prs(&self) -> Vec<StandInPr> {
        self.shared.lock().unwrap().prs.clone()
    }

    /// One pull request.
    pub fn pr(&self, number: u64) -> StandInPr {
        self.prs()
            .into_iter()
            .find(|p| p.number == number)
            .unwrap_or_else(|| panic!("no pull request #{number} in the stand-in"))
    }

    /// Requests seen so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Answers the next `n` requests with this forge's rate-limit answer.
    pub fn rate_limit_next(&self, n: usize) {
        self.shared.lock().unwrap().rate_limited = n;
    }

    /// Adds `n` pull requests from `head` into `main` in `state` (history: no git behind
    /// them), numbered after the existing ones.
    pub fn seed(&self, head: &str, n: usize, state: PrState) {
        let mut s = self.shared.lock().unwrap();
        for _ in 0..n {
            let number = s.next_number();
            s.prs.push(StandInPr {
                number,
                title: format!("seeded #{number}"),
                body: String::new(),
                head: head.into(),
                base: "main".into(),
                state,
                labels: Vec::new(),
                reviewers: Vec::new(),
                auto_merge: false,
            });
        }
    }

    /// Closes pull request `number` without merging (what a person declining it does).
    pub fn close(&self, number: u64) {
        let mut s = self.shared.lock().unwrap();
        let pr = s.pr_mut(number).expect("close: no such pull request");
        pr.state = PrState::Closed;
    }

    /// Merges pull request `number` for real: its head into its base with a merge commit
    /// (`git merge --no-ff`) in a temporary clone, pushed to the bare repository.
    pub fn merge(&self, number: u64) {
        let (git_dir, head, base) = {
            let s = self.shared.lock().unwrap();
            let pr = s
                .prs
                .iter()
                .find(|p| p.number == number)
                .expect("merge: no such pull request");
            assert_eq!(pr.state, PrState::Open, "merge: #{number} is not open");
            (s.git_dir.clone(), pr.head.clone(), pr.base.clone())
        };
        merge_in_git(&git_dir, &head, &base, number);
        let mut s = self.shared.lock().unwrap();
        if let Some(pr) = s.pr_mut(number) {
            pr.state = PrState::Merged;
        }
    }
}

fn merge_in_git(git_dir: &Path, head: &str, base: &str, number: u64) {
    let work = tempfile::tempdir().expect("temp dir");
    let url = format!("file://{}", git_dir.display());
    let dir = work.path().join("w");
    git(
        None,
        &["clone", "-q", "-b", base, &url, dir.to_str().unwrap()],
    );
    git(Some(&dir), &["fetch", "-q", "origin", head]);
    git(
        Some(&dir),
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            &format!("Merge pull request #{number} from {head}"),
            "FETCH_HEAD",
        ],
    );
    git(Some(&dir), &["push", "-q", "origin", base]);
}

impl Drop for ForgeStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_request(conn: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let query = q
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; len.min(1 << 20)];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        query,
        headers,
        body,
    }))
}

fn serve(
    mut conn: TcpStream,
    shared: &Mutex<Shared>,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let Some(req) = read_request(&conn)? else {
        return Ok(());
    };
    let target = if req.query.is_empty() {
        req.path.clone()
    } else {
        format!("{}?{}", req.path, req.query_with_page(req.page()))
    };
    log.lock().unwrap().push(format!("{} {target}", req.method));
    let reply = {
        let mut s = shared.lock().unwrap();
        dispatch(&mut s, &req)
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (k, v) in &reply.headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(&reply.body)?;
    conn.flush()
}

fn dispatch(s: &mut Shared, req: &Request) -> Reply {
    match s.kind {
        Kind::Github => github::handle(s, req),
        Kind::Gitlab => gitlab::handle(s, req),
        Kind::Gitea => gitea::handle(s, req),
        Kind::Bitbucket => bitbucket::handle(s, req),
    }
}

/// Takes one rate-limited answer from the budget set by `rate_limit_next`.
pub(crate) fn take_rate_limit(s: &mut Shared) -> bool {
    if s.rate_limited > 0 {
        s.rate_limited -= 1;
        true
    } else {
        false
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        _ => "Status",
    }
}
