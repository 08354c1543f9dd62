//! A test token issuer for the registry's `auth.token` mode (the Docker token flow):
//! RS256 JWTs signed by the `openssl` CLI.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;

use crate::registry::{b64url, run};
use crate::standin;

/// `service` the registry expects in tokens' `aud`.
pub const TOKEN_SERVICE: &str = "imagebump-test-registry";
/// `iss` of issued tokens.
pub const TOKEN_ISSUER: &str = "imagebump-test-issuer";

/// A token server for the registry's `auth.token` mode: checks Basic credentials
/// and answers `{"token", "access_token", "expires_in"}` with an RS256 JWT signed by
/// the `openssl` CLI with a key whose self-signed certificate rides in the `x5c`
/// header (and in the registry's `rootcertbundle`).
pub struct TokenIssuer {
    server: standin::StandInServer,
    dir: PathBuf,
    signer: Arc<JwtSigner>,
}

impl TokenIssuer {
    /// Makes a key pair and certificate in `dir` and starts serving `/token`.
    pub fn start(
        dir: &Path,
        users: Vec<(String, String)>,
        expires_in: u64,
        anonymous_pull: bool,
    ) -> TokenIssuer {
        let key = dir.join("token.key");
        let cert = dir.join("token-issuer.crt");
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=imagebump-test-token",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let der = run(Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert));
        let signer = Arc::new(JwtSigner {
            key: key.clone(),
            x5c: base64::engine::general_purpose::STANDARD.encode(der),
        });
        let s2 = signer.clone();
        let server = standin::StandInServer::start(move |req: &standin::Req| {
            if req.path() != "/token" {
                return standin::Resp::status(404);
            }
            let user = match req.basic_auth() {
                Some((u, p)) => {
                    if !users.iter().any(|(uu, pp)| *uu == u && *pp == p) {
                        return standin::Resp::json(401, r#"{"details":"bad credentials"}"#);
                    }
                    Some(u)
                }
                None if anonymous_pull => None,
                None => return standin::Resp::json(401, r#"{"details":"credentials required"}"#),
            };
            let scopes = req.query_all("scope");
            let mut access = Vec::new();
            for scope in &scopes {
                let parts: Vec<&str> = scope.split(':').collect();
                if parts.len() == 3 && parts[0] == "repository" {
                    let actions: Vec<&str> = parts[2]
                        .split(',')
                        .filter(|a| user.is_some() || *a == "pull")
                        .collect();
                    access.push((parts[1].to_string(), actions));
                }
            }
            let tok = s2.sign(user.as_deref().unwrap_or(""), &access, expires_in);
            standin::Resp::json(
                200,
                serde_json::json!({"token": tok, "access_token": tok, "expires_in": expires_in})
                    .to_string(),
            )
        });
        TokenIssuer {
            server,
            dir: dir.to_path_buf(),
            signer,
        }
    }

    /// The realm URL (`http://127.0.0.1:PORT/token`).
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.server.port)
    }

    /// The self-signed certificate tokens are signed under.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("token-issuer.crt")
    }

    /// Token requests served so far.
    pub fn requests(&self) -> usize {
        self.server.count("/token")
    }

    /// Signs a token directly (the harness pushes with one).
    pub fn mint(&self, sub: &str, access: &[(String, Vec<&str>)], expires_in: u64) -> String {
        self.signer.sign(sub, access, expires_in)
    }
}

struct JwtSigner {
    key: PathBuf,
    x5c: String,
}

impl JwtSigner {
    fn sign(&self, sub: &str, access: &[(String, Vec<&str>)], expires_in: u64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": TOKEN_ISSUER, "sub": sub, "aud": TOKEN_SERVICE,
            "exp": now + expires_in, "nbf": now - 10, "iat": now,
            "jti": format!("{now}-{}", rand::random::<u64>()),
            "access": access.iter().map(|(name, actions)| serde_json::json!({
                "type": "repository", "name": name, "actions": actions
            })).collect::<Vec<_>>()
        });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        format!("{input}.{}", b64url(&out.stdout))
    }
}
