//! A scripted HTTP/1.1 server standing in for a registry where a real one cannot be
//! made to misbehave on cue. Not a registry: each test scripts its answers.

use base64::Engine;
use imagebump_core::image::ImageRef;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path with query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The body (token services take forms and JSON).
    pub body: Vec<u8>,
}

impl Req {
    /// The value of `k` in an `application/x-www-form-urlencoded` body.
    pub fn form(&self, k: &str) -> Option<String> {
        let body = String::from_utf8_lossy(&self.body);
        body.split('&').find_map(|kv| {
            let (key, v) = kv.split_once('=')?;
            (pct_decode(key) == k).then(|| pct_decode(v))
        })
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap()
    }

    /// All decoded values of query parameter `k`.
    pub fn query_all(&self, k: &str) -> Vec<String> {
        let Some((_, q)) = self.target.split_once('?') else {
            return Vec::new();
        };
        q.split('&')
            .filter_map(|kv| {
                let (kk, v) = kv.split_once('=').unwrap_or((kv, ""));
                (pct_decode(kk) == k).then(|| pct_decode(v))
            })
            .collect()
    }

    /// The first decoded value of query parameter `k`.
    pub fn query(&self, k: &str) -> Option<String> {
        self.query_all(k).into_iter().next()
    }

    /// A header value (name case-insensitive).
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(kk, _)| kk.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }

    /// Decoded Basic credentials, if sent.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let v = self.header("authorization")?.strip_prefix("Basic ")?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.into(), p.into()))
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let h = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?');
                out.push(h);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Sleep before answering (to trip client timeouts).
    pub delay: Duration,
    /// Announce the full body length but send only this many bytes, then close
    /// (a page cut off mid-way).
    pub truncate_at: Option<usize>,
}

impl Resp {
    pub fn status(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            truncate_at: None,
        }
    }

    pub fn json(status: u16, body: impl Into<String>) -> Resp {
        Resp {
            body: body.into().into_bytes(),
            ..Resp::status(status)
        }
        .header("Content-Type", "application/json")
    }

    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn delayed(mut self, d: Duration) -> Resp {
        self.delay = d;
        self
    }

    pub fn truncated(mut self, at: usize) -> Resp {
        self.truncate_at = Some(at);
        self
    }
}

type Handler = dyn Fn(&Req) -> Resp + Send + Sync;

/// The stand-in server; stops accepting on drop.
pub struct StandInServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Req>>>,
    served: Arc<AtomicUsize>,
}

impl StandInServer {
    /// Serves `handler` on a free 127.0.0.1 port, one thread per connection,
    /// `Connection: close` on every answer.
    pub fn start(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> StandInServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let log: Arc<Mutex<Vec<Req>>> = Arc::default();
        let served = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (stop2, log2, served2) = (stop.clone(), log.clone(), served.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (h, log, served) = (handler.clone(), log2.clone(), served2.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(conn, &*h, &log, &served);
                });
            }
        });
        StandInServer {
            port,
            stop,
            log,
            served,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The image reference `127.0.0.1:PORT/<repo>`.
    pub fn image(&self, repo: &str) -> ImageRef {
        ImageRef::parse(&format!("{}/{repo}", self.host())).unwrap()
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path().starts_with(prefix))
            .count()
    }

    /// Answers fully written so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for StandInServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve_one(
    conn: TcpStream,
    handler: &Handler,
    log: &Mutex<Vec<Req>>,
    served: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let (method, target) = (method.to_string(), target.to_string());
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
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let req = Req {
        method,
        target,
        headers,
        body,
    };
    log.lock().unwrap().push(req.clone());
    let resp = handler(&req);
    if !resp.delay.is_zero() {
        std::thread::sleep(resp.delay);
    }
    let mut out = conn;
    let reason = match resp.status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", resp.status);
    for (k, v) in &resp.headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        resp.body.len()
    );
    out.write_all(head.as_bytes())?;
    let body: &[u8] = if req.method == "HEAD" {
        &[]
    } else {
        match resp.truncate_at {
            Some(n) => &resp.body[..n.min(resp.body.len())],
            None => &resp.body,
        }
    };
    out.write_all(body)?;
    out.flush()?;
    served.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Tag names `t0000`, `t0001`, … (sortable, so a `last` can be found).
pub fn tag_names(total: usize) -> Vec<String> {
    (0..total).map(|i| format!("t{i:04}")).collect()
}

/// A paginating `tags/list` for `repo` with `total` tags: honours `n` up to `cap`
/// and `last`; with `link`, sends `Link: <…>; rel="next"` while more remain (like
/// Docker Hub or GHCR), without it relies on the client's `n`/`last` (a Quay-like
/// cap without `Link`). `fail_page` (0-based) answers 500 every time.
pub fn paginated_tags(
    repo: &str,
    total: usize,
    cap: usize,
    link: bool,
    fail_page: Option<usize>,
) -> StandInServer {
    let tags = tag_names(total);
    let path = format!("/v2/{repo}/tags/list");
    let repo = repo.to_string();
    StandInServer::start(move |req| {
        if req.path() != path {
            return Resp::json(404, r#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#);
        }
        let n = req
            .query("n")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(cap)
            .min(cap);
        let start = match req.query("last") {
            Some(l) => tags.partition_point(|t| *t <= l),
            None => 0,
        };
        if let Some(f) = fail_page {
            if start == f * cap {
                return Resp::json(500, r#"{"errors":[{"code":"UNKNOWN"}]}"#);
            }
        }
        let end = (start + n).min(tags.len());
        let page = &tags[start..end];
        let mut r = Resp::json(
            200,
            serde_json::json!({"name": repo, "tags": page}).to_string(),
        );
        if link && end < tags.len() {
            r = r.header(
                "Link",
                &format!(
                    "</v2/{repo}/tags/list?n={n}&last={}>; rel=\"next\"",
                    page[page.len() - 1]
                ),
            );
        }
        r
    })
}

/// Passes `req` on to the HTTP server at `upstream` (`127.0.0.1:PORT`) and returns its
/// answer, for a stand-in that serves a few paths itself in front of a real server (an
/// ACR login server: the token exchange stood in, `/v2/` the real registry). One
/// HTTP/1.0 request, so the answer is never chunked and ends at EOF.
pub fn forward(req: &Req, upstream: &str) -> Resp {
    let bad = |why: String| Resp::json(502, format!("{{\"error\":{why:?}}}"));
    let Ok(mut conn) = TcpStream::connect(upstream) else {
        return bad(format!("cannot connect to {upstream}"));
    };
    let mut head = format!(
        "{} {} HTTP/1.0\r\nHost: {upstream}\r\n",
        req.method, req.target
    );
    for (k, v) in &req.headers {
        if !["host", "connection", "content-length"].contains(&k.to_ascii_lowercase().as_str()) {
            head += &format!("{k}: {v}\r\n");
        }
    }
    head += &format!("Content-Length: {}\r\n\r\n", req.body.len());
    let mut raw = Vec::new();
    if conn.write_all(head.as_bytes()).is_err()
        || conn.write_all(&req.body).is_err()
        || conn.read_to_end(&mut raw).is_err()
    {
        return bad(format!("{upstream} did not answer"));
    }
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return bad(format!("{upstream} answered no HTTP head"));
    };
    let text = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let mut resp = Resp {
        body: raw[split + 4..].to_vec(),
        ..Resp::status(status)
    };
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let lower = k.trim().to_ascii_lowercase();
            if !["content-length", "connection", "transfer-encoding"].contains(&lower.as_str()) {
                resp = resp.header(k.trim(), v.trim());
            }
        }
    }
    resp
}
