//! Downloading a package: `https://` anywhere, plain `http://` only to a
//! loopback address (nothing leaves the machine); at most 3 redirects, each
//! checked the same way; the body is capped while it streams.

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::net::IpAddr;
use std::time::Duration;
use thiserror::Error;

const MAX_REDIRECTS: usize = 3;
const TIMEOUT: Duration = Duration::from_secs(60);

/// A download failure.
#[derive(Debug, Error)]
pub enum FetchError {
    /// Not an acceptable URL.
    #[error("`{0}`: only https:// URLs (or http:// to this machine) can be installed from")]
    Scheme(String),
    /// Network or protocol failure.
    #[error("downloading {url}: {detail}")]
    Failed {
        /// The URL.
        url: String,
        /// What happened.
        detail: String,
    },
    /// Over the cap.
    #[error(
        "{url} is larger than the {max}-byte limit (raise it with --max-size if you trust the source)"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        max: u64,
    },
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One HTTP/1 request over `io`.
async fn exchange<S>(
    io: S,
    req: http::Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn);
    sender.send_request(req).await
}

async fn get_once(url: &str, max: u64) -> Result<(u16, Option<String>, Vec<u8>), FetchError> {
    let fail = |detail: String| FetchError::Failed {
        url: url.to_string(),
        detail,
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|_| FetchError::Scheme(url.to_string()))?;
    let host = uri
        .host()
        .ok_or_else(|| FetchError::Scheme(url.to_string()))?
        .to_string();
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") if is_loopback(&host) => false,
        _ => return Err(FetchError::Scheme(url.to_string())),
    };
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tcp = tokio::net::TcpStream::connect((bare.as_str(), port))
        .await
        .map_err(|e| fail(e.to_string()))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let req = http::Request::get(path)
        .header(
            http::header::HOST,
            uri.authority().map_or(host.clone(), |a| a.to_string()),
        )
        .header(http::header::USER_AGENT, "chitin")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| fail(e.to_string()))?;
    let resp = if https {
        let name =
            rustls::pki_types::ServerName::try_from(bare).map_err(|e| fail(e.to_string()))?;
        let tls = chitin_sandbox::tls::connector()
            .connect(name, tcp)
            .await
            .map_err(|e| fail(e.to_string()))?;
        exchange(tls, req).await
    } else {
        exchange(tcp, req).await
    }
    .map_err(|e| fail(e.to_string()))?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| fail(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
            if out.len() as u64 > max {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    max,
                });
            }
        }
    }
    Ok((status, location, out))
}

/// GET `url` (following up to 3 checked redirects), at most `max` bytes.
pub async fn get(url: &str, max: u64) -> Result<Vec<u8>, FetchError> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let (status, location, body) = tokio::time::timeout(TIMEOUT, get_once(&url, max))
            .await
            .map_err(|_| FetchError::Failed {
            url: url.clone(),
            detail: "timed out".into(),
        })??;
        match (status, location) {
            (200, _) => return Ok(body),
            (301 | 302 | 303 | 307 | 308, Some(loc)) => {
                url = if loc.starts_with('/') {
                    let uri: http::Uri =
                        url.parse().map_err(|_| FetchError::Scheme(url.clone()))?;
                    format!(
                        "{}://{}{loc}",
                        uri.scheme_str().unwrap_or("https"),
                        uri.authority().map_or("", |a| a.as_str())
                    )
                } else {
                    loc
                };
            }
            (s, _) => {
                return Err(FetchError::Failed {
                    url,
                    detail: format!("the server answered {s}"),
                });
            }
        }
    }
    Err(FetchError::Failed {
        url,
        detail: "too many redirects".into(),
    })
}
