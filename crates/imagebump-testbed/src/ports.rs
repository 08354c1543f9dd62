//! Free TCP ports for the servers a test starts.
//!
//! Binding `127.0.0.1:0` and releasing the port (the old way) hands out a port from the
//! kernel's *ephemeral* range, the same range every outgoing connection takes its local
//! port from. With dozens of tests connecting in parallel, one of those connections could
//! take the port between our release and the child's bind — CI saw
//! `listen on 127.0.0.1:46291: Address already in use` exactly so. Ports here come from
//! below the ephemeral range, which the kernel never assigns on its own, each handed out
//! once per process (a counter) from a start that differs between processes (the pid),
//! and checked bindable before they are returned.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The lowest port handed out (clear of the registered services below it that a
/// developer machine may run).
const LOW: u32 = 10_000;

/// The first port of the kernel's ephemeral range (`ip_local_port_range`), 32768 when it
/// cannot be read.
fn ephemeral_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .filter(|&p: &u32| p > LOW + 1_000)
        .unwrap_or(32_768)
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A TCP port on 127.0.0.1 that is free now, outside the ephemeral range and not handed
/// out before by this process.
pub fn free_port() -> u16 {
    let span = ephemeral_start() - LOW;
    // A per-process start, so test binaries run one after another (or side by side)
    // walk different stretches of the range.
    let start = (std::process::id().wrapping_mul(7_919)) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + (start + n) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!(
        "no free TCP port on 127.0.0.1 between {LOW} and {}",
        LOW + span
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "a port was handed out twice");
        for p in ports {
            assert!((LOW..ephemeral_start()).contains(&u32::from(p)), "{p}");
            TcpListener::bind(("127.0.0.1", p)).expect("bindable");
        }
    }
}
