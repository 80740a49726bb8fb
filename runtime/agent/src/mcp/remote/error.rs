//! What went wrong with a remote MCP server, each message naming the
//! server, its URL and what to do. The SDK's errors are classified by the
//! typed errors in their chain (the egress refusals, the transport's HTTP
//! failures, reqwest's connect and timeout kinds), never by guessing at
//! words; the server's secret is cut out of every text that could echo it.

use super::egress::Refusal;
use chitin_sandbox::capabilities::net::dns::DnsError;
use chitin_sandbox::text::one_line;
use rmcp::service::{ClientInitializeError, ServiceError};
use rmcp::transport::DynamicTransportError;
use rmcp::transport::streamable_http_client::StreamableHttpError;
use std::error::Error;
use std::time::Duration;

/// Longest piece of a server's (or the SDK's) text kept in a message.
const MAX_DETAIL: usize = 400;

/// Most links of an error chain looked at.
const MAX_CHAIN: usize = 32;

/// Why a remote MCP server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The configuration (or the secret store) is wrong; the text says
    /// what and how to fix it.
    #[error("{0}")]
    Config(String),
    /// The configured URL cannot be used.
    #[error(
        "MCP server {server}: the URL `{url}` cannot be used: {detail}; fix the server's `url` in config.toml"
    )]
    BadUrl {
        /// The server's name.
        server: String,
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The server answered with a redirect, which Chitin does not follow.
    #[error(
        "MCP server {server} ({url}): the server answered with a redirect to {to}; Chitin does not follow redirects for MCP servers; configure the final URL"
    )]
    Redirect {
        /// The server's name.
        server: String,
        /// The URL as configured.
        url: String,
        /// Where it pointed (no query).
        to: String,
    },
    /// Chitin's egress checks refused the connection (a denial, not an
    /// outage).
    #[error("MCP server {server} ({url}) was not contacted: {detail}")]
    Refused {
        /// The server's name.
        server: String,
        /// The URL as configured.
        url: String,
        /// Which check refused what.
        detail: String,
    },
    /// The server refused the credentials (or asked for some).
    #[error("MCP server {server} ({url}) {}", unauthorized(*.status, secret.as_deref()))]
    Unauthorized {
        /// The server's name.
        server: String,
        /// The URL as configured.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The name of the secret sent, if one was.
        secret: Option<String>,
    },
    /// The server could not be reached (down, wrong address, connection
    /// lost); connecting again may help.
    #[error(
        "MCP server {server} ({url}) is unreachable: {detail}; check that it is running and that the URL is right"
    )]
    Unreachable {
        /// The server's name.
        server: String,
        /// The URL as configured.
        url: String,
        /// What happened.
        detail: String,
    },
    /// No answer in time (the request may have reached the server).
    #[error(
        "MCP server {server} ({url}) did not answer within {}; if its tools are slow, raise the server's `timeout_secs` in config.toml", seconds(*.after)
    )]
    Timeout {
        /// The server's name.
        server: String,
        /// The URL as configured.
        url: String,
        /// How long Chitin waited.
        after: Duration,
    },
    /// An answer was larger than Chitin reads from a server.
    #[error(
        "MCP server {server} ({url}) sent an answer larger than {limit} bytes, the most Chitin reads from an MCP server; the answer was dropped (ask the tool for less)"
    )]
    TooLarge {
        /// The server's name.
        server: String,
        /// The URL as configured.
        url: String,
        /// The cap, in bytes.
        limit: usize,
    },
    /// It answered, but not as MCP allows, or with a JSON-RPC error.
    #[error("MCP server {server}: {detail}")]
    Protocol {
        /// The server's name.
        server: String,
        /// What it said (one line, capped, the secret cut out).
        detail: String,
    },
}

/// `d` as `N s`, or `N ms` under a second.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs())
    }
}

fn unauthorized(status: u16, secret: Option<&str>) -> String {
    let what = if status == 403 {
        "refused the credentials as not allowed (HTTP 403)"
    } else {
        "refused the credentials (HTTP 401)"
    };
    match secret {
        Some(name) => format!("{what}; store the right token with `chitin secret set {name}`"),
        None => format!(
            "asks for credentials ({}); store its token with `chitin secret set NAME` and name it as the server's `secret` in config.toml",
            if status == 403 {
                "HTTP 403"
            } else {
                "HTTP 401"
            }
        ),
    }
}

impl RemoteError {
    /// Whether Chitin's own rules refused it (egress checks, a redirect):
    /// only the user can change that, not the model.
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            RemoteError::Refused { .. } | RemoteError::Redirect { .. }
        )
    }

    /// Whether the connection failed (connecting again may help; a timeout
    /// is not one: the request may have been carried out).
    pub fn is_connection(&self) -> bool {
        matches!(self, RemoteError::Unreachable { .. })
    }
}

/// What a classification needs to know of the server.
pub(crate) struct Scope<'a> {
    /// The server's name.
    pub server: &'a str,
    /// Its URL as configured.
    pub url: &'a str,
    /// The secret's name and value, if one is sent.
    pub secret: Option<(&'a str, &'a str)>,
    /// The response cap, in bytes.
    pub limit: usize,
    /// The request timeout.
    pub timeout: Duration,
}

impl Scope<'_> {
    /// `text` made one line, capped, the secret cut out.
    pub fn clean(&self, text: &str) -> String {
        one_line(&self.redact(text), MAX_DETAIL)
    }

    /// `text` with the secret's value replaced by `<secret>`.
    pub fn redact(&self, text: &str) -> String {
        match self.secret {
            Some((_, value)) if !value.is_empty() => text.replace(value, "<secret>"),
            _ => text.to_string(),
        }
    }

    fn unreachable(&self, detail: &str) -> RemoteError {
        RemoteError::Unreachable {
            server: self.server.to_string(),
            url: self.url.to_string(),
            detail: self.clean(detail),
        }
    }

    fn protocol(&self, detail: &str) -> RemoteError {
        RemoteError::Protocol {
            server: self.server.to_string(),
            detail: self.clean(detail),
        }
    }

    /// The request took longer than the timeout.
    pub fn timed_out(&self) -> RemoteError {
        RemoteError::Timeout {
            server: self.server.to_string(),
            url: self.url.to_string(),
            after: self.timeout,
        }
    }

    fn unauthorized(&self, status: u16) -> RemoteError {
        RemoteError::Unauthorized {
            server: self.server.to_string(),
            url: self.url.to_string(),
            status,
            secret: self.secret.map(|(name, _)| name.to_string()),
        }
    }

    fn too_large(&self) -> RemoteError {
        RemoteError::TooLarge {
            server: self.server.to_string(),
            url: self.url.to_string(),
            limit: self.limit,
        }
    }

    /// Classify an error of the SDK (or of the HTTP client under it).
    pub fn classify(&self, e: &(dyn Error + 'static)) -> RemoteError {
        let chain = links(e);
        // The most specific reason wins, wherever it sits in the chain.
        for link in &chain {
            if let Some(r) = link.downcast_ref::<Refusal>() {
                return match r {
                    Refusal::Redirect { to } => RemoteError::Redirect {
                        server: self.server.to_string(),
                        url: self.url.to_string(),
                        to: self.clean(to),
                    },
                    other => RemoteError::Refused {
                        server: self.server.to_string(),
                        url: self.url.to_string(),
                        detail: self.clean(&format!(
                            "{other}; Chitin's egress checks refused the connection"
                        )),
                    },
                };
            }
            if let Some(d) = link.downcast_ref::<DnsError>() {
                return self.unreachable(&format!("its name does not resolve ({d})"));
            }
        }
        for link in &chain {
            if let Some(found) = self.transport(*link) {
                return found;
            }
        }
        for link in &chain {
            if let Some(found) = self.session(*link) {
                return found;
            }
        }
        for link in &chain {
            if let Some(r) = link.downcast_ref::<reqwest::Error>() {
                if r.is_timeout() {
                    return self.timed_out();
                }
                if r.is_connect() {
                    return self.unreachable(&chitin_sandbox::text::error_chain(r));
                }
            }
        }
        self.protocol(&chitin_sandbox::text::error_chain(e))
    }

    /// The transport's HTTP failures.
    fn transport(&self, link: &(dyn Error + 'static)) -> Option<RemoteError> {
        let e = link.downcast_ref::<StreamableHttpError<reqwest::Error>>()?;
        Some(match e {
            StreamableHttpError::AuthRequired(_) => self.unauthorized(401),
            StreamableHttpError::InsufficientScope(_) => self.unauthorized(403),
            StreamableHttpError::ResponseBodyTooLarge { .. } => self.too_large(),
            StreamableHttpError::Sse(sse) if oversize_event(sse) => self.too_large(),
            StreamableHttpError::HttpStatus(status) => self.protocol(&format!(
                "it answered HTTP {}{}",
                status.status,
                if status.status == 429 {
                    " (too many requests); try again later"
                } else {
                    " (a server error)"
                }
            )),
            StreamableHttpError::UnexpectedServerResponse(text) => {
                match http_status(text) {
                    Some(401) => self.unauthorized(401),
                    Some(403) => self.unauthorized(403),
                    Some(s) if (300..400).contains(&s) => RemoteError::Redirect {
                        server: self.server.to_string(),
                        url: self.url.to_string(),
                        to: "another location (no Location given)".to_string(),
                    },
                    Some(404) | Some(405) => self.protocol(&format!(
                        "{text}; is `{}` the server's MCP endpoint?",
                        self.url
                    )),
                    _ => self.protocol(&format!("unexpected answer: {text}")),
                }
            }
            StreamableHttpError::UnexpectedContentType(ct) => self.protocol(&format!(
                "it answered with content type {}, not MCP's JSON or event stream; is `{}` the server's MCP endpoint?",
                ct.as_deref().unwrap_or("(none)"),
                self.url
            )),
            StreamableHttpError::Deserialize(d) => {
                self.protocol(&format!("its answer is not valid MCP JSON: {d}"))
            }
            StreamableHttpError::TransportChannelClosed
            | StreamableHttpError::UnexpectedEndOfStream => {
                self.unreachable("the connection closed before the answer")
            }
            _ => return None,
        })
    }

    /// The session's own failures (after the transport's).
    fn session(&self, link: &(dyn Error + 'static)) -> Option<RemoteError> {
        if let Some(e) = link.downcast_ref::<ServiceError>() {
            return match e {
                ServiceError::McpError(data) => Some(self.protocol(&format!(
                    "it answered with an error: {} (code {})",
                    data.message, data.code.0
                ))),
                ServiceError::TransportClosed => Some(self.unreachable("the connection is closed")),
                ServiceError::Timeout { .. } => Some(self.timed_out()),
                ServiceError::UnexpectedResponse => Some(self.protocol(
                    "it answered with something other than the result asked for (a task or a request for input, which Chitin does not support)",
                )),
                _ => None,
            };
        }
        if let Some(e) = link.downcast_ref::<ClientInitializeError>() {
            return match e {
                ClientInitializeError::JsonRpcError(data) => Some(self.protocol(&format!(
                    "it refused the MCP handshake: {} (code {})",
                    data.message, data.code.0
                ))),
                ClientInitializeError::ConnectionClosed(_) => {
                    Some(self.unreachable("the connection closed during the MCP handshake"))
                }
                ClientInitializeError::NoCompatibleProtocolVersion { .. } => {
                    Some(self.protocol("it speaks no MCP protocol version Chitin speaks"))
                }
                _ => None,
            };
        }
        None
    }
}

/// The links of `e`'s chain, looking through the wrappers that do not
/// report their cause as a source (the transport's client error, an I/O
/// error carrying another).
fn links<'a>(e: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(link) = next {
        if out.len() >= MAX_CHAIN {
            break;
        }
        out.push(link);
        next = if let Some(ClientInitializeError::TransportError { error, .. }) =
            link.downcast_ref::<ClientInitializeError>()
        {
            // Not reported as its source.
            Some(error as &(dyn Error + 'static))
        } else if let Some(ClientInitializeError::LegacyFallbackFailed { fallback, .. }) =
            link.downcast_ref::<ClientInitializeError>()
        {
            Some(fallback.as_ref() as &(dyn Error + 'static))
        } else if let Some(d) = link.downcast_ref::<DynamicTransportError>() {
            // Its source is the box, which hides the transport's own type.
            Some(d.error.as_ref() as &(dyn Error + 'static))
        } else if let Some(StreamableHttpError::Client(inner)) =
            link.downcast_ref::<StreamableHttpError<reqwest::Error>>()
        {
            Some(inner as &(dyn Error + 'static))
        } else if let Some(StreamableHttpError::Io(io)) =
            link.downcast_ref::<StreamableHttpError<reqwest::Error>>()
        {
            io.get_ref()
                .map(|inner| inner as &(dyn Error + 'static))
                .or_else(|| io.source())
        } else if let Some(io) = link.downcast_ref::<std::io::Error>() {
            io.get_ref()
                .map(|inner| inner as &(dyn Error + 'static))
                .or_else(|| io.source())
        } else {
            link.source()
        };
    }
    out
}

/// The status of the transport's `HTTP 401 Unauthorized: body` text (its
/// only report of a status it has no variant for).
fn http_status(text: &str) -> Option<u16> {
    let rest = text.strip_prefix("HTTP ")?;
    rest.get(..3)?.parse().ok()
}

/// Whether an event-stream error is the transport's per-event size cap
/// (its type is private; its text is the only sign).
pub(crate) fn oversize_event(e: &rmcp::transport::streamable_http_client::SseError) -> bool {
    chitin_sandbox::text::error_chain(e).contains("exceeded the maximum size")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope<'static> {
        Scope {
            server: "docs",
            url: "https://mcp.example.com/mcp",
            secret: Some(("docs-token", "s3cr3t-value")),
            limit: 1024,
            timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn statuses_are_read_from_the_transport_text() {
        assert_eq!(http_status("HTTP 401 Unauthorized: no"), Some(401));
        assert_eq!(http_status("HTTP 307 Temporary Redirect: "), Some(307));
        assert_eq!(http_status("something else"), None);
    }

    #[test]
    fn an_unauthorized_answer_names_the_secret_to_set() {
        let e: StreamableHttpError<reqwest::Error> =
            StreamableHttpError::UnexpectedServerResponse("HTTP 401 Unauthorized: bad".into());
        let text = scope().classify(&e).to_string();
        assert!(text.contains("chitin secret set docs-token"), "{text}");
        assert!(text.contains("https://mcp.example.com/mcp"), "{text}");
        let mut anonymous = scope();
        anonymous.secret = None;
        let text = anonymous.classify(&e).to_string();
        assert!(text.contains("chitin secret set NAME"), "{text}");
    }

    #[test]
    fn the_secret_never_appears_in_a_message() {
        let e: StreamableHttpError<reqwest::Error> = StreamableHttpError::UnexpectedServerResponse(
            "HTTP 400 Bad Request: token s3cr3t-value is malformed".into(),
        );
        let text = scope().classify(&e).to_string();
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("<secret>"), "{text}");
    }

    #[test]
    fn refusals_are_found_through_io_wrappers() {
        let e: StreamableHttpError<reqwest::Error> =
            StreamableHttpError::Io(std::io::Error::other(Refusal::Redirect {
                to: "https://elsewhere.example/mcp".into(),
            }));
        let got = scope().classify(&e);
        assert!(got.is_denied());
        let text = got.to_string();
        assert!(
            text.contains("redirect to https://elsewhere.example/mcp")
                && text.contains("configure the final URL"),
            "{text}"
        );
    }
}
