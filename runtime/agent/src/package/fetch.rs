//! Downloading a package: `https://` anywhere, plain `http://` only to a
//! loopback address (nothing leaves the machine); at most 3 redirects, each
//! checked the same way (reqwest follows none on its own); the body is
//! capped while it streams, and the whole download is bounded in time.

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

/// `url` if it may be downloaded from.
fn checked(url: &str) -> Result<reqwest::Url, FetchError> {
    let scheme = || FetchError::Scheme(url.to_string());
    let parsed = reqwest::Url::parse(url).map_err(|_| scheme())?;
    let host = parsed.host_str().ok_or_else(scheme)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(scheme());
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(host) => Ok(parsed),
        _ => Err(scheme()),
    }
}

/// A client per download (see `provider::http` on why not one per process).
fn client() -> Result<reqwest::Client, String> {
    crate::provider::http::builder()
        .build()
        .map_err(|e| crate::provider::http::error_chain(&e))
}

/// One GET: the status, the `Location`, and the body (at most `max` bytes).
async fn get_once(
    url: &reqwest::Url,
    max: u64,
) -> Result<(u16, Option<String>, Vec<u8>), FetchError> {
    let fail = |detail: String| FetchError::Failed {
        url: url.to_string(),
        detail,
    };
    let mut resp = client()
        .map_err(fail)?
        .get(url.clone())
        .send()
        .await
        .map_err(|e| fail(crate::provider::http::error_chain(&e)))?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if status != 200 {
        return Ok((status, location, Vec::new()));
    }
    let too_large = || FetchError::TooLarge {
        url: url.to_string(),
        max,
    };
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| fail(crate::provider::http::error_chain(&e)))?
    {
        if (out.len() + chunk.len()) as u64 > max {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok((status, location, out))
}

/// GET `url` (following up to 3 checked redirects), at most `max` bytes.
pub async fn get(url: &str, max: u64) -> Result<Vec<u8>, FetchError> {
    let mut url = checked(url)?;
    for _ in 0..=MAX_REDIRECTS {
        let (status, location, body) = tokio::time::timeout(TIMEOUT, get_once(&url, max))
            .await
            .map_err(|_| FetchError::Failed {
            url: url.to_string(),
            detail: "timed out".into(),
        })??;
        match (status, location) {
            (200, _) => return Ok(body),
            (301 | 302 | 303 | 307 | 308, Some(loc)) => {
                let next = url.join(&loc).map_err(|_| FetchError::Failed {
                    url: url.to_string(),
                    detail: format!(
                        "the server redirected to `{}`, which is not a URL",
                        chitin_sandbox::text::one_line(&loc, 200)
                    ),
                })?;
                url = checked(next.as_str())?;
            }
            (s, _) => {
                return Err(FetchError::Failed {
                    url: url.to_string(),
                    detail: format!("the server answered {s}"),
                });
            }
        }
    }
    Err(FetchError::Failed {
        url: url.to_string(),
        detail: "too many redirects".into(),
    })
}
