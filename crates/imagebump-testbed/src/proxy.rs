//! A minimal HTTP `CONNECT` proxy — a **stand-in**, since no real proxy (squid,
//! tinyproxy) is installed here: it accepts `CONNECT host:port`, answers
//! `200 Connection Established` (RFC 9110 §9.3.6), and then copies bytes both ways, so
//! TLS runs end to end between the client and the real registry. It records each
//! tunnel's target, which is how a test proves a request went through it. Anything
//! but `CONNECT` gets `405`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The stand-in proxy on a free 127.0.0.1 port; stops accepting on drop.
pub struct ConnectProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    tunnels: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    /// Starts the proxy, one thread per connection.
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let tunnels: Arc<Mutex<Vec<String>>> = Arc::default();
        let (stop2, tunnels2) = (stop.clone(), tunnels.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let tunnels = tunnels2.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &tunnels);
                });
            }
        });
        ConnectProxy {
            port,
            stop,
            tunnels,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `host:port` of every tunnel opened so far, in order.
    pub fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().unwrap().clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, tunnels: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    // The rest of the head (Host, Proxy-Authorization…) is read and ignored.
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client = conn;
    if method != "CONNECT" {
        client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    }
    let upstream = match TcpStream::connect(target) {
        Ok(u) => u,
        Err(_) => {
            client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")?;
            return Ok(());
        }
    };
    tunnels.lock().unwrap().push(target.to_string());
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
    // Bytes the client sent after the head (a TLS ClientHello may already be there).
    let buffered = reader.buffer().to_vec();
    let mut up_w = upstream.try_clone()?;
    up_w.write_all(&buffered)?;
    let mut up_r = upstream;
    let mut client_r = reader.into_inner();
    let mut client_w = client;
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut client_w);
        let _ = client_w.shutdown(std::net::Shutdown::Both);
    });
    let _ = std::io::copy(&mut client_r, &mut up_w);
    let _ = up_w.shutdown(std::net::Shutdown::Write);
    let _ = t.join();
    Ok(())
}
