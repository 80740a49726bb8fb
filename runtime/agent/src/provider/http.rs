//! The providers' HTTP client, on `reqwest` (rustls with the host's root
//! store, HTTP/1.1, keep-alive connections pooled per base URL): a JSON body and a
//! streamed response with the provider timeout applied to the response head
//! and between chunks, and the bytes read from one response capped.
//!
//! It connects directly: `HTTP(S)_PROXY` variables are not honored, and
//! redirects are not followed (a provider API does not redirect; following
//! one would resend the API key).

use super::ProviderError;
use super::sse::{SseError, SseEvent, SseParser};
use bytes::Bytes;
use http::{HeaderMap, Method};
use std::time::Duration;

/// Longest wait for TCP connect plus TLS handshake (the provider timeout
/// applies when it is shorter).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a whole (non-streamed) body may hold.
pub const MAX_BODY: usize = 16 << 20;

/// Most bytes read from one response, streamed or not: bounds the memory a
/// hostile or broken endpoint can make the host use.
pub const MAX_STREAM: usize = 32 << 20;

/// Idle pooled connections are closed after this long.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// A client for one base URL (`http://` or `https://`, with a path prefix).
#[derive(Debug, Clone)]
pub struct HttpClient {
    base_url: String,
    https: bool,
    host: String,
    port: u16,
    prefix: String,
    query: Option<String>,
    origin: String,
    timeout: Duration,
    client: reqwest::Client,
}

/// A response whose body is still streaming. Dropping it mid-body closes
/// the connection.
#[derive(Debug)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    body: reqwest::Response,
    url: String,
    timeout: Duration,
    received: usize,
}

/// A client of its own for each base URL: its pool's connections are
/// driven by the runtime that made them, so a client shared by the whole
/// process would break when a runtime ends (tests, embedders).
fn new_client() -> Result<reqwest::Client, ProviderError> {
    builder().pool_idle_timeout(POOL_IDLE).build().map_err(|e| {
        ProviderError::Protocol(format!("setting up the HTTP client: {}", error_chain(&e)))
    })
}

/// What every client of the host (not of skills) starts from: rustls with
/// the host's root store, no proxy, no automatic redirects, HTTP/1.1, the
/// connect timeout, Chitin's user agent.
pub(crate) fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_preconfigured(chitin_sandbox::tls::client_config().as_ref().clone())
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .http1_only()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("chitin/", env!("CARGO_PKG_VERSION")))
}

/// An error with its causes (reqwest's own message is only the outermost).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    chitin_sandbox::text::error_chain(e)
}

impl HttpClient {
    /// Parse `base_url` (e.g. `https://api.openai.com/v1`).
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, ProviderError> {
        let bad = |detail: &str| ProviderError::BadUrl {
            url: base_url.to_string(),
            detail: detail.to_string(),
        };
        let uri: http::Uri = base_url
            .trim()
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(_) => return Err(bad("only http:// and https:// are supported")),
            None => return Err(bad("it needs a scheme, e.g. https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "credentials in the URL are not supported; use a secret",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        Ok(HttpClient {
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            https,
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            host,
            origin: format!("{}://{authority}", if https { "https" } else { "http" }),
            prefix: uri.path().trim_end_matches('/').to_string(),
            query: uri.query().map(str::to_string),
            timeout,
            client: new_client()?,
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The full URL of `path` (relative to the base, starting with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The request target: base path, `path`, then the base URL's query.
    fn target(&self, path: &str) -> String {
        let mut target = format!("{}{path}", self.prefix);
        if let Some(q) = &self.query {
            target.push(if target.contains('?') { '&' } else { '?' });
            target.push_str(q);
        }
        target
    }

    /// Send one request and wait (at most the timeout) for the response head.
    /// Connection failures and timeouts come back as `Unreachable` (one attempt).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<HttpResponse, ProviderError> {
        let url = self.url(path);
        let fail = |detail: String| ProviderError::Unreachable {
            url: url.clone(),
            attempts: 1,
            detail,
        };
        let target = format!("{}{}", self.origin, self.target(path));
        let mut req = self.client.request(method, &target);
        if let Some(body) = body {
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
            }
            req = req.body(body);
        }
        for (name, value) in headers {
            let value = http::HeaderValue::from_str(value).map_err(|_| {
                ProviderError::Protocol(format!("header `{name}` has an invalid value"))
            })?;
            req = req.header(*name, value);
        }
        let req = req
            .build()
            .map_err(|e| ProviderError::Protocol(format!("building the request: {e}")))?;
        let resp = tokio::time::timeout(self.timeout, self.client.execute(req))
            .await
            .map_err(|_| fail(format!("no response within {:?}", self.timeout)))?
            .map_err(|e| {
                if e.is_connect() {
                    fail(format!(
                        "connecting to {}:{}: {}",
                        self.host,
                        self.port,
                        error_chain(&e)
                    ))
                } else if e.is_timeout() {
                    fail(format!(
                        "connecting timed out after {:?}",
                        self.timeout.min(CONNECT_TIMEOUT)
                    ))
                } else {
                    fail(format!("the connection failed: {}", error_chain(&e)))
                }
            })?;
        Ok(HttpResponse {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp,
            url,
            timeout: self.timeout,
            received: 0,
        })
    }

    /// Whether the base URL is `https://`.
    pub fn is_https(&self) -> bool {
        self.https
    }
}

impl HttpResponse {
    /// A header as text (None when absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type, lowercase, without parameters (`""` when absent).
    pub fn content_type(&self) -> String {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The next body chunk, or None at the end. Waits at most the timeout;
    /// a stall or a broken connection is `Cut`.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ProviderError> {
        loop {
            let chunk = tokio::time::timeout(self.timeout, self.body.chunk())
                .await
                .map_err(|_| self.cut(format!("the stream stalled for {:?}", self.timeout)))?
                .map_err(|e| self.cut(format!("the connection failed: {}", error_chain(&e))))?;
            match chunk {
                None => return Ok(None),
                Some(data) if data.is_empty() => continue,
                Some(data) => {
                    self.received += data.len();
                    if self.received > MAX_STREAM {
                        return Err(ProviderError::Protocol(format!(
                            "the response from {} is larger than {} MiB",
                            self.url,
                            MAX_STREAM >> 20
                        )));
                    }
                    return Ok(Some(data));
                }
            }
        }
    }

    /// The whole body, at most `max` bytes (more is a `Protocol` error).
    pub async fn bytes(mut self, max: usize) -> Result<Vec<u8>, ProviderError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            if out.len() + chunk.len() > max {
                return Err(ProviderError::Protocol(format!(
                    "the response from {} is larger than {max} bytes",
                    self.url
                )));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Read the body as Server-Sent Events, calling `on_event` for each until
    /// it returns `true` (the answer is complete) or the body ends. Returns
    /// whether `on_event` said it was complete.
    pub async fn events<E, F>(&mut self, mut on_event: F) -> Result<bool, E>
    where
        E: From<ProviderError> + From<SseError>,
        F: FnMut(SseEvent) -> Result<bool, E>,
    {
        let mut parser = SseParser::new();
        while let Some(chunk) = self.chunk().await? {
            for event in parser.feed(&chunk)? {
                if on_event(event)? {
                    return Ok(true);
                }
            }
        }
        match parser.finish() {
            Some(event) => on_event(event),
            None => Ok(false),
        }
    }

    /// The stream broke after the response head arrived: the provider was
    /// reached, its answer was cut.
    pub fn cut(&self, detail: String) -> ProviderError {
        ProviderError::Cut {
            url: self.url.clone(),
            attempts: 1,
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        let c = HttpClient::new("https://api.example.com/v1/", Duration::from_secs(1)).unwrap();
        assert!(c.https);
        assert_eq!((c.host.as_str(), c.port), ("api.example.com", 443));
        assert_eq!(c.target("/models"), "/v1/models");
        assert_eq!(c.url("/models"), "https://api.example.com/v1/models");

        let c = HttpClient::new(
            "http://[::1]:11434/v1?api-version=2",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 11434));
        assert_eq!(
            c.target("/chat/completions"),
            "/v1/chat/completions?api-version=2"
        );
        assert_eq!(
            c.target("/models?limit=5"),
            "/v1/models?limit=5&api-version=2"
        );

        for bad in [
            "ftp://x/v1",
            "api.openai.com/v1",
            "",
            "https://user:pw@h/v1",
        ] {
            assert!(
                matches!(
                    HttpClient::new(bad, Duration::from_secs(1)),
                    Err(ProviderError::BadUrl { .. })
                ),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn refused_connections_are_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let c = HttpClient::new(
            &format!("http://127.0.0.1:{port}/v1"),
            Duration::from_secs(2),
        )
        .unwrap();
        let err = c.send(Method::GET, "/models", &[], None).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unreachable { .. }), "{err}");
    }
}
