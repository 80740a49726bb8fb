//! Outbound HTTP through `wasi:http`.
//!
//! Every request (and every redirect hop, which this client follows itself)
//! goes through the host, which checks it against the skill's network grant,
//! re-checks the resolved IP address, and injects any granted secret. A
//! request the host refuses comes back as [`HttpError::Denied`].

use crate::ToolError;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, HeaderError, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;
use std::fmt;

/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The URL could not be parsed.
    InvalidUrl(String),
    /// The host refused the request (not granted, or a forbidden header).
    Denied(String),
    /// The request was sent but failed (connection, protocol, size cap...).
    Failed(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::InvalidUrl(m) => write!(f, "invalid URL: {m}"),
            HttpError::Denied(m) => write!(f, "network access denied: {m}"),
            HttpError::Failed(m) => write!(f, "request failed: {m}"),
        }
    }
}

impl From<HttpError> for ToolError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::InvalidUrl(m) => ToolError::InvalidInput(format!("invalid URL: {m}")),
            HttpError::Denied(m) => ToolError::Denied(format!("network: {m}")),
            HttpError::Failed(m) => ToolError::Failed(format!("http: {m}")),
        }
    }
}

/// A response: status, headers and the whole body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Response headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// The URL that produced this response (after redirects).
    pub url: String,
}

impl Response {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    follow_redirects: bool,
    max_body: usize,
}

/// A GET request.
pub fn get(url: &str) -> Request {
    Request::new("GET", url)
}

/// A POST request.
pub fn post(url: &str) -> Request {
    Request::new("POST", url)
}

impl Request {
    /// A request with any method.
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
            follow_redirects: true,
            max_body: 8 * 1024 * 1024,
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Follow redirects (default) or return the 3xx response as is.
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// Stop reading the body past this many bytes (default 8 MiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Send the request, following redirects: each hop is checked by the host.
    pub fn send(self) -> Result<Response, HttpError> {
        let mut url = self.url.clone();
        let mut method = self.method.clone();
        let mut body = self.body.clone();
        for _ in 0..=MAX_REDIRECTS {
            let resp = send_once(&method, &url, &self.headers, body.as_deref(), self.max_body)?;
            let location = resp.header("location").map(str::to_string);
            match (self.follow_redirects, resp.status, location) {
                (true, 301 | 302 | 303 | 307 | 308, Some(loc)) => {
                    url = resolve(&url, &loc)?;
                    if resp.status == 303
                        || ((resp.status == 301 || resp.status == 302) && method == "POST")
                    {
                        method = "GET".into();
                        body = None;
                    }
                }
                _ => return Ok(resp),
            }
        }
        Err(HttpError::Failed(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}

/// The parts of an absolute http(s) URL.
struct Parts<'a> {
    https: bool,
    authority: &'a str,
    path: &'a str,
}

fn split(url: &str) -> Result<Parts<'_>, HttpError> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(HttpError::InvalidUrl(format!(
            "`{url}`: only http:// and https:// URLs"
        )));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains('@') {
        return Err(HttpError::InvalidUrl(format!("`{url}`: bad host")));
    }
    let path = rest[end..].split('#').next().unwrap_or("");
    Ok(Parts {
        https,
        authority,
        path: if path.is_empty() { "/" } else { path },
    })
}

fn resolve(base: &str, location: &str) -> Result<String, HttpError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_string());
    }
    let p = split(base)?;
    let scheme = if p.https { "https" } else { "http" };
    if let Some(rest) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{rest}"));
    }
    if location.starts_with('/') {
        return Ok(format!("{scheme}://{}{location}", p.authority));
    }
    let dir = p.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    Ok(format!("{scheme}://{}{dir}/{location}", p.authority))
}

fn method_of(m: &str) -> Method {
    match m {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_string()),
    }
}

fn code_error(url: &str, code: ErrorCode) -> HttpError {
    let what = match code {
        ErrorCode::HttpRequestDenied => {
            return HttpError::Denied(format!("the host refused `{url}`"));
        }
        ErrorCode::DnsTimeout => "resolving the host name timed out".to_string(),
        ErrorCode::DnsError(p) => match p.rcode.as_deref() {
            Some("NXDOMAIN") => "the host name does not exist".to_string(),
            Some(detail) => format!("the host name did not resolve: {detail}"),
            None => "the host name did not resolve".to_string(),
        },
        ErrorCode::ConnectionRefused => "the connection was refused".to_string(),
        ErrorCode::ConnectionTimeout => "connecting timed out".to_string(),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            "the server did not answer in time".to_string()
        }
        ErrorCode::ConnectionTerminated | ErrorCode::HttpResponseIncomplete => {
            "the connection closed before the response was complete".to_string()
        }
        ErrorCode::TlsCertificateError => "the server's TLS certificate is not valid".to_string(),
        ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_) => {
            "the TLS handshake failed".to_string()
        }
        ErrorCode::HttpResponseBodySize(_) => {
            "the response is larger than this call may receive".to_string()
        }
        ErrorCode::HttpResponseContentCoding(_) => {
            "the response is compressed, which the host refuses for requests carrying a secret"
                .to_string()
        }
        ErrorCode::InternalError(Some(m)) => m,
        other => format!("{other:?}"),
    };
    HttpError::Failed(format!("{url}: {what}"))
}

fn send_once(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    max_body: usize,
) -> Result<Response, HttpError> {
    let parts = split(url)?;
    let fields = Fields::new();
    for (name, value) in headers {
        fields.append(name, value.as_bytes()).map_err(|e| match e {
            HeaderError::Forbidden => {
                HttpError::Denied(format!("header `{name}` is reserved by the host"))
            }
            other => HttpError::InvalidUrl(format!("header `{name}`: {other:?}")),
        })?;
    }
    let req = OutgoingRequest::new(fields);
    let bad = |what: &str| HttpError::InvalidUrl(format!("`{url}`: bad {what}"));
    req.set_method(&method_of(method))
        .map_err(|()| bad("method"))?;
    let scheme = if parts.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    req.set_scheme(Some(&scheme)).map_err(|()| bad("scheme"))?;
    req.set_authority(Some(parts.authority))
        .map_err(|()| bad("host"))?;
    req.set_path_with_query(Some(parts.path))
        .map_err(|()| bad("path"))?;
    let out = req
        .body()
        .map_err(|()| HttpError::Failed("request body unavailable".into()))?;
    let future = outgoing_handler::handle(req, None).map_err(|c| code_error(url, c))?;
    let wait = || loop {
        match future.get() {
            Some(result) => break result,
            None => future.subscribe().block(),
        }
    };
    if let Some(bytes) = body {
        let stream = out
            .write()
            .map_err(|()| HttpError::Failed("request body stream".into()))?;
        for chunk in bytes.chunks(4096) {
            if let Err(e) = stream.blocking_write_and_flush(chunk) {
                // The host closes the body when it refuses the request:
                // its answer says why (a denial, not a write failure).
                drop(stream);
                return match wait() {
                    Ok(Err(c)) => Err(code_error(url, c)),
                    _ => Err(HttpError::Failed(format!("writing request body: {e:?}"))),
                };
            }
        }
    }
    OutgoingBody::finish(out, None).map_err(|c| code_error(url, c))?;
    let response = wait();
    let response = response
        .map_err(|()| HttpError::Failed("response already taken".into()))?
        .map_err(|c| code_error(url, c))?;
    read_response(url, response, max_body)
}

fn read_response(
    url: &str,
    resp: IncomingResponse,
    max_body: usize,
) -> Result<Response, HttpError> {
    let status = resp.status();
    let headers = resp
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let incoming = resp
        .consume()
        .map_err(|()| HttpError::Failed("body already taken".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| HttpError::Failed("body stream".into()))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() > max_body {
                    body.truncate(max_body);
                    break;
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(HttpError::Failed(format!(
                    "{url}: reading body: {}",
                    e.to_debug_string()
                )));
            }
        }
    }
    Ok(Response {
        status,
        headers,
        body,
        url: url.to_string(),
    })
}
