//! Repository URLs and the credentials they may carry. A URL with user info is only ever
//! handed to libgit2 after [`strip_credentials`]; everything shown or stored goes through
//! [`redact_url`].

use std::path::PathBuf;

/// A URL without its user info, fit for logs and error messages.
/// `https://user:token@host/x.git` → `https://host/x.git`; scp-like `git@host:x` is kept.
pub fn redact_url(url: &str) -> String {
    match split_userinfo(url) {
        Some((scheme_end, at, _)) => format!("{}{}", &url[..scheme_end], &url[at + 1..]),
        None => url.to_string(),
    }
}

/// For `scheme://userinfo@host…`: (index after `://`, index of the `@`, userinfo).
pub(crate) fn split_userinfo(url: &str) -> Option<(usize, usize, &str)> {
    let scheme_end = url.find("://")? + 3;
    let rest = &url[scheme_end..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..auth_end].rfind('@')?;
    Some((scheme_end, scheme_end + at, &rest[..at]))
}

/// The URL to give libgit2 (and to write to `.git/config`), and the http(s) credentials
/// it carried, percent-decoded. `ssh://user:pass@…` keeps the user and drops the password
/// (SSH authenticates with keys here).
pub(crate) fn strip_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some((scheme_end, at, userinfo)) = split_userinfo(url) else {
        return (url.to_string(), None);
    };
    if is_http(url) {
        let (u, p) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let bare = format!("{}{}", &url[..scheme_end], &url[at + 1..]);
        (bare, Some((percent_decode(u), percent_decode(p))))
    } else if let Some((u, _)) = userinfo.split_once(':') {
        (format!("{}{}{}", &url[..scheme_end], u, &url[at..]), None)
    } else {
        (url.to_string(), None)
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `file://…` or a plain absolute path: a repository on this machine.
pub(crate) fn is_local_url(url: &str) -> bool {
    url.starts_with("file://") || url.starts_with('/')
}

/// The directory of a local repository URL (see [`is_local_url`]).
pub(crate) fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        // `file:///abs/path` (empty host) or `file://localhost/abs/path`.
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        return path
            .starts_with('/')
            .then(|| PathBuf::from(percent_decode(path)));
    }
    url.starts_with('/').then(|| PathBuf::from(url))
}

pub(crate) fn is_http(url: &str) -> bool {
    let l = url.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// The port of an `ssh://` URL, when it is not 22.
pub(crate) fn ssh_port(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("ssh://")?;
    let authority = rest.split('/').next()?;
    let hostport = authority.rsplit('@').next()?;
    if hostport.starts_with('[') {
        let (_, p) = hostport.rsplit_once("]:")?;
        return p.parse().ok().filter(|p| *p != 22);
    }
    let (_, p) = hostport.rsplit_once(':')?;
    p.parse().ok().filter(|p| *p != 22)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_info() {
        assert_eq!(
            redact_url("https://u:tok@git.example.com/a/b.git"),
            "https://git.example.com/a/b.git"
        );
        assert_eq!(redact_url("https://tok@h/x"), "https://h/x");
        assert_eq!(redact_url("https://h/x@y"), "https://h/x@y");
        assert_eq!(
            redact_url("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }

    #[test]
    fn strips_credentials() {
        assert_eq!(
            strip_credentials("https://me:p%40ss@h/x.git"),
            (
                "https://h/x.git".to_string(),
                Some(("me".to_string(), "p@ss".to_string()))
            )
        );
        assert_eq!(
            strip_credentials("ssh://git:pw@h:2222/x"),
            ("ssh://git@h:2222/x".to_string(), None)
        );
        assert_eq!(
            strip_credentials("ssh://git@h/x"),
            ("ssh://git@h/x".to_string(), None)
        );
        assert_eq!(strip_credentials("/srv/x.git"), ("/srv/x.git".into(), None));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%3Ac"), "a@b:c");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn local_urls() {
        assert!(is_local_url("file:///srv/x.git") && is_local_url("/srv/x.git"));
        assert!(!is_local_url("https://h/x") && !is_local_url("git@h:x"));
        assert_eq!(
            local_path("file:///srv/a%20b.git"),
            Some(PathBuf::from("/srv/a b.git"))
        );
        assert_eq!(
            local_path("file://localhost/srv/x"),
            Some(PathBuf::from("/srv/x"))
        );
        assert_eq!(local_path("/srv/x"), Some(PathBuf::from("/srv/x")));
        assert_eq!(local_path("file://otherhost/srv/x"), None);
    }

    #[test]
    fn ssh_ports() {
        assert_eq!(ssh_port("ssh://git@h:2222/x"), Some(2222));
        assert_eq!(ssh_port("ssh://git@h:22/x"), None);
        assert_eq!(ssh_port("ssh://h/x"), None);
        assert_eq!(ssh_port("ssh://git@[::1]:2200/x"), Some(2200));
    }
}
