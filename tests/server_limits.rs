//! The HTTP server's bounds, from a client's side: slow clients are cut off, a body
//! that never arrives is answered, and idle connections cannot take every descriptor
//! of the process nor keep `/healthz` from answering. Default limits (README: 256
//! connections at most, 10 s for headers, 10 s for a body, 1 s for headers when busy).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imagebump::engine::Engine;
use imagebump::metrics::Metrics;
use imagebump::server::{serve, AppState};
use imagebump_core::secret::Secret;
use imagebump_registry::{ClientOptions, RegistryClient};
use imagebump_webhook::{Provider, Receiver};

async fn start() -> (std::net::SocketAddr, tokio::sync::watch::Sender<bool>) {
    let registry = RegistryClient::new(ClientOptions::default()).unwrap();
    let engine = Arc::new(Engine::new(
        imagebump_core::policy::PolicySet::default(),
        registry,
        Arc::new(Metrics::new()),
        Duration::from_secs(300),
    ));
    let receivers = vec![Receiver {
        name: "reg".into(),
        provider: Provider::Distribution,
        secret: Secret::new("hook-secret"),
        registry: None,
        header: None,
        repositories: Vec::new(),
        jfrog_access: Default::default(),
    }];
    let state = AppState::new(engine, receivers, Arc::new(AtomicBool::new(true)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(listener, state, rx));
    (addr, tx)
}

/// Reads until the server answers or closes; what it sent, and when.
fn read_answer(mut s: TcpStream, limit: Duration) -> (String, Duration) {
    let t = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (String::from_utf8_lossy(&out).into_owned(), t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_client_is_cut_off() {
    let (addr, _stop) = start().await;
    let t = Instant::now();
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
        // One header byte every 250 ms, forever: only a header timeout ends it.
        for b in b"GET /healthz HTTP/1.1\r\nX-Slow: "
            .iter()
            .chain(std::iter::repeat(&b'a'))
        {
            if s.write_all(&[*b]).is_err() || t.elapsed() > Duration::from_secs(20) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        t.elapsed()
    })
    .await
    .unwrap();
    assert!(closed < Duration::from_secs(15), "held for {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_is_answered() {
    let (addr, _stop) = start().await;
    let answers = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for declared in ["10000000000", "4096"] {
            let mut s = TcpStream::connect(addr).unwrap();
            write!(
                s,
                "POST /hooks/reg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hook-secret\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{}",
                "x".repeat(1024)
            )
            .unwrap();
            out.push((declared, read_answer(s, Duration::from_secs(20))));
        }
        out
    })
    .await
    .unwrap();
    for (declared, (text, took)) in answers {
        assert!(
            text.starts_with("HTTP/1.1 4"),
            "{declared}: {text:?} after {took:?}"
        );
        assert!(took < Duration::from_secs(15), "{declared}: {took:?}");
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_bounded_and_health_answers() {
    let (addr, _stop) = start().await;
    let baseline = open_fds();
    // 300 connections that never send a byte (the server holds at most 256).
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let t = Instant::now();
    let health = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(8))
        .send()
        .await
        .expect("/healthz unreachable behind idle connections");
    assert_eq!(health.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    // Our 300 client sockets, at most 256 server ends, a few for reqwest and the runtime.
    let used = open_fds() - baseline;
    assert!(
        used <= 300 + 256 + 8,
        "{used} descriptors for 300 idle connections"
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let (addr, _stop) = start().await;
    let (text, took) = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        // The answer comes, then the connection idles until the server closes it.
        read_answer(s, Duration::from_secs(20))
    })
    .await
    .unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    assert!(took < Duration::from_secs(15), "idle for {took:?}");
}
