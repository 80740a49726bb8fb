//! The providers' HTTP/1.1 client, on hyper: one connection per request
//! (TCP, TLS with SNI for `https`), a JSON body, and a streamed response
//! with the provider timeout applied to the first byte and between chunks.
//!
//! It connects directly: `HTTP(S)_PROXY` variables are not honored.

use super::ProviderError;
use super::sse::{SseError, SseEvent, SseParser};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Longest wait for TCP connect plus TLS handshake (the provider timeout
/// applies when it is shorter).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a whole (non-streamed) body may hold.
pub const MAX_BODY: usize = 16 << 20;

/// Most bytes read from one response, streamed or not: bounds the memory a
/// hostile or broken endpoint can make the host use.
pub const MAX_STREAM: usize = 32 << 20;

/// A client for one base URL (`http://` or `https://`, with a path prefix).
#[derive(Debug, Clone)]
pub struct HttpClient {
    base_url: String,
    https: bool,
    host: String,
    port: u16,
    authority: String,
    prefix: String,
    query: Option<String>,
    timeout: Duration,
}

/// A response whose body is still streaming.
#[derive(Debug)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    body: Incoming,
    url: String,
    timeout: Duration,
    received: usize,
    _conn: ConnTask,
}

/// The connection driver; aborted when the response is dropped.
#[derive(Debug)]
struct ConnTask(JoinHandle<()>);

impl Drop for ConnTask {
    fn drop(&mut self) {
        self.0.abort();
    }
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
            authority: authority.to_string(),
            prefix: uri.path().trim_end_matches('/').to_string(),
            query: uri.query().map(str::to_string),
            timeout,
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
        let mut req = http::Request::builder()
            .method(method)
            .uri(self.target(path))
            .header(header::HOST, &self.authority)
            .header(
                header::USER_AGENT,
                concat!("chitin/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|_| {
                ProviderError::Protocol(format!("header `{name}` has an invalid value"))
            })?;
            req = req.header(*name, value);
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| ProviderError::Protocol(format!("building the request: {e}")))?;

        let connect_in = self.timeout.min(CONNECT_TIMEOUT);
        let (mut sender, conn) = tokio::time::timeout(connect_in, self.connect())
            .await
            .map_err(|_| fail(format!("connecting timed out after {connect_in:?}")))?
            .map_err(fail)?;
        let resp = tokio::time::timeout(self.timeout, sender.send_request(req))
            .await
            .map_err(|_| fail(format!("no response within {:?}", self.timeout)))?
            .map_err(|e| fail(format!("the connection failed: {e}")))?;
        let (parts, body) = resp.into_parts();
        Ok(HttpResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            url,
            timeout: self.timeout,
            received: 0,
            _conn: conn,
        })
    }

    /// TCP, TLS when `https`, then the HTTP/1 handshake.
    async fn connect(
        &self,
    ) -> Result<
        (
            hyper::client::conn::http1::SendRequest<Full<Bytes>>,
            ConnTask,
        ),
        String,
    > {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting to {}:{}: {e}", self.host, self.port))?;
        tcp.set_nodelay(true).ok();
        if self.https {
            let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                .map_err(|e| format!("`{}` is not a valid TLS name: {e}", self.host))?;
            let tls = chitin_sandbox::tls::connector()
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {}: {e}", self.host))?;
            handshake(tls).await
        } else {
            handshake(tcp).await
        }
    }
}

async fn handshake<S>(
    io: S,
) -> Result<
    (
        hyper::client::conn::http1::SendRequest<Full<Bytes>>,
        ConnTask,
    ),
    String,
>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let task = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("provider connection ended: {e}");
        }
    });
    Ok((sender, ConnTask(task)))
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
    /// a stall or a broken connection is `Unreachable`.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ProviderError> {
        loop {
            let frame = tokio::time::timeout(self.timeout, self.body.frame())
                .await
                .map_err(|_| self.fail(format!("the stream stalled for {:?}", self.timeout)))?;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(self.fail(format!("the connection failed: {e}"))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
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

    fn fail(&self, detail: String) -> ProviderError {
        ProviderError::Unreachable {
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
