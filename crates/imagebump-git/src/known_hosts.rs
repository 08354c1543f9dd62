//! The OpenSSH `known_hosts` parser behind the SSH host-key check: libgit2 hands us the
//! server's raw key and we decide, so that a configured `known_hosts` file is the only
//! source of trust (not `~/.ssh`).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Is `key` (the raw SSH host key blob) listed for `host` in the OpenSSH `known_hosts`
/// file? Supports plain and hashed (`|1|salt|hash`) host names, comma lists, `*`/`?`
/// wildcards, negation, `[host]:port`, and `@revoked` (a revoked key never matches).
pub(crate) fn known_hosts_check(
    file: &Path,
    host: &str,
    port: Option<u16>,
    key: &[u8],
) -> std::io::Result<bool> {
    use base64::Engine as _;
    let name = match port {
        Some(p) => format!("[{host}]:{p}"),
        None => host.to_string(),
    };
    let f = fs::File::open(file)?;
    let mut accepted = false;
    for line in BufReader::new(f).lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut hosts = fields.next().unwrap_or("");
        let mut revoked = false;
        if hosts.starts_with('@') {
            match hosts {
                "@revoked" => revoked = true,
                _ => continue, // @cert-authority: certificates are not supported
            }
            hosts = fields.next().unwrap_or("");
        }
        let _keytype = fields.next();
        let Some(b64) = fields.next() else { continue };
        let Ok(line_key) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        if line_key != key || !host_matches(hosts, &name) {
            continue;
        }
        if revoked {
            return Ok(false);
        }
        accepted = true;
    }
    Ok(accepted)
}

fn host_matches(patterns: &str, name: &str) -> bool {
    if let Some(h) = patterns.strip_prefix("|1|") {
        return hashed_host_matches(h, name);
    }
    let mut matched = false;
    for pat in patterns.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if glob(neg, name) {
                return false;
            }
        } else if glob(pat, name) {
            matched = true;
        }
    }
    matched
}

fn hashed_host_matches(salt_and_hash: &str, name: &str) -> bool {
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

fn glob(pat: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pat.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi].eq_ignore_ascii_case(&s[si])) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_matching() {
        use base64::Engine as _;
        use hmac::{Hmac, KeyInit, Mac};
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b"\x00\x00\x00\x0bssh-ed25519fakekeybytes".to_vec();
        let other = b"other".to_vec();
        let salt = b"0123456789abcdefghij";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[hashed.example]:2222");
        let hashed = format!(
            "|1|{}|{}",
            b64.encode(salt),
            b64.encode(mac.finalize().into_bytes())
        );
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("known_hosts");
        fs::write(
            &f,
            format!(
                "# comment\ngit.example.com,10.0.0.1 ssh-ed25519 {k}\n*.wild.example,!bad.wild.example ssh-ed25519 {k}\n{hashed} ssh-ed25519 {k}\n@revoked revoked.example ssh-ed25519 {k}\nrevoked.example ssh-ed25519 {k}\n",
                k = b64.encode(&key)
            ),
        )
        .unwrap();
        assert!(known_hosts_check(&f, "git.example.com", None, &key).unwrap());
        assert!(!known_hosts_check(&f, "git.example.com", None, &other).unwrap());
        assert!(!known_hosts_check(&f, "git.example.com", Some(2222), &key).unwrap());
        assert!(known_hosts_check(&f, "a.wild.example", None, &key).unwrap());
        assert!(!known_hosts_check(&f, "bad.wild.example", None, &key).unwrap());
        assert!(known_hosts_check(&f, "hashed.example", Some(2222), &key).unwrap());
        assert!(!known_hosts_check(&f, "hashed.example", None, &key).unwrap());
        assert!(!known_hosts_check(&f, "revoked.example", None, &key).unwrap());
        assert!(!known_hosts_check(&f, "unknown.example", None, &key).unwrap());
    }
}
