//! Who may talk to the daemon: a bearer token (generated at first start,
//! kept in a 0600 file) on every API request, a `Host` header naming the
//! daemon itself (DNS-rebinding defence) and no cross-origin browser calls.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// The token file cannot be read or written.
#[derive(Debug, Error)]
#[error("daemon token file {path}: {source}")]
pub struct TokenError {
    path: PathBuf,
    source: std::io::Error,
}

/// Read the token at `path`, creating it (0600) if it does not exist.
pub fn load_or_create_token(path: &Path) -> Result<String, TokenError> {
    let err = |source| TokenError {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(err(std::io::Error::other(format!(
                "it is readable by other users (mode {mode:o}); run `chmod 600 {}` (or delete it to make a new token)",
                path.display()
            ))));
        }
    }
    match std::fs::read_to_string(path) {
        Ok(t) if t.trim().len() >= 32 => return Ok(t.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    if let Some(dir) = path.parent() {
        chitin_sandbox::capabilities::secrets::create_private_dir(dir).map_err(err)?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let token = hex::encode(bytes);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(token.as_bytes()).map_err(err)?;
    Ok(token)
}

/// What the guard checks against.
#[derive(Debug, Clone)]
pub struct Guard {
    token: String,
    /// `Host` values accepted; empty accepts any (remote binds).
    hosts: Vec<String>,
}

impl Guard {
    /// A guard for a daemon on `addr`.
    pub fn new(token: String, addr: SocketAddr) -> Self {
        let port = addr.port();
        let hosts = if addr.ip().is_loopback() {
            vec![
                format!("{addr}"),
                format!("localhost:{port}"),
                format!("127.0.0.1:{port}"),
                format!("[::1]:{port}"),
            ]
        } else {
            Vec::new()
        };
        Guard { token, hosts }
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        if self.hosts.is_empty() {
            return true;
        }
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)))
    }

    fn origin_ok(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        match (origin.to_str().ok(), host) {
            (Some(o), Some(h)) => o.eq_ignore_ascii_case(&format!("http://{h}")),
            _ => false,
        }
    }

    fn token_ok(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
        else {
            return false;
        };
        constant_time_eq(given.trim().as_bytes(), self.token.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// Middleware for every route: `Host` and `Origin` always, the token on `/api/`.
pub async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !guard.host_ok(headers) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the Host header does not name this daemon; use http://127.0.0.1:<port>/",
        );
    }
    if !guard.origin_ok(headers) {
        return refuse(StatusCode::FORBIDDEN, "cross-origin requests are refused");
    }
    // Only the static page is public; every other path, present or future,
    // needs the token.
    let public = req.method() == axum::http::Method::GET && req.uri().path() == "/";
    if !public && !guard.token_ok(headers) {
        let mut r = refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token; `chitin daemon token` prints it",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return r;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_is_private_stable_and_random() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config/daemon.token");
        let a = load_or_create_token(&p).unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(load_or_create_token(&p).unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let other = load_or_create_token(&dir.path().join("b")).unwrap();
        assert_ne!(a, other);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = load_or_create_token(&p).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
        }
    }

    #[test]
    fn guard_checks_host_origin_and_token() {
        let g = Guard::new("t".repeat(64), "127.0.0.1:7878".parse().unwrap());
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:7878".parse().unwrap());
        assert!(g.host_ok(&h) && g.origin_ok(&h) && !g.token_ok(&h));
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {}", "t".repeat(64)).parse().unwrap(),
        );
        assert!(g.token_ok(&h));
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {}", "u".repeat(64)).parse().unwrap(),
        );
        assert!(!g.token_ok(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!g.origin_ok(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:7878".parse().unwrap());
        assert!(g.origin_ok(&h));
        h.insert(header::HOST, "evil.example:7878".parse().unwrap());
        assert!(!g.host_ok(&h), "DNS rebinding: a foreign Host is refused");
    }
}
