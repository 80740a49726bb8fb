//! One connection to a remote MCP server: the official SDK's Streamable
//! HTTP client over the checked egress of [`super::egress`] (held to the
//! configured URL by [`super::guard`]), with the server's secret sent by
//! the host, every answer capped in bytes, the tool list bounded in pages,
//! tools and sizes, and every request bounded in time. The secret never
//! appears in an error, in `Debug`, or in a tool's output.

use super::egress::{self, DEFAULT_REQUEST_TIMEOUT, Target};
use super::error::{RemoteError, Scope};
use super::guard::Guarded;
use chitin_sandbox::capabilities::net::dns::Dns;
use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation,
    PaginatedRequestParams, Tool,
};
use rmcp::service::{Peer, RunningService, serve_client};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Default cap on one answer from a server (a JSON body or one event).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Default cap on the text of one call's result.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// Default cap on the tools kept from one server.
pub const MAX_TOOLS: usize = 512;

/// Most pages of a tool list read (a cursor that never ends stops here).
pub const MAX_PAGES: usize = 64;

/// Longest tool name kept (a longer one could not be called as listed, so
/// the tool is left out).
pub const MAX_TOOL_NAME: usize = 128;

/// Longest description kept, in bytes (a longer one is cut).
pub const MAX_DESCRIPTION_BYTES: usize = 8 * 1024;

/// Largest input schema kept, in bytes of JSON (a tool with a larger one
/// is left out).
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// Longest wait for a closing connection to finish.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Headers the secret cannot be sent in (HTTP's own, or the transport's).
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// The server's secret and how it is sent: `Authorization: Bearer VALUE`
/// (header `Authorization`, prefix `Bearer `) or any other header with an
/// optional prefix. `Debug` prints `<secret>` for the value.
#[derive(Clone)]
pub struct Auth {
    /// Its name in the secret store (named in messages, never the value).
    pub secret_name: String,
    /// The header it is sent in.
    pub header: String,
    /// What precedes the value in the header (may be empty).
    pub prefix: String,
    /// The value.
    pub value: String,
}

impl Auth {
    /// `Authorization: Bearer VALUE`.
    pub fn bearer(secret_name: impl Into<String>, value: impl Into<String>) -> Self {
        Auth {
            secret_name: secret_name.into(),
            header: "Authorization".to_string(),
            prefix: "Bearer ".to_string(),
            value: value.into(),
        }
    }

    /// `HEADER: PREFIXVALUE`.
    pub fn header(
        secret_name: impl Into<String>,
        header: impl Into<String>,
        prefix: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Auth {
            secret_name: secret_name.into(),
            header: header.into(),
            prefix: prefix.into(),
            value: value.into(),
        }
    }

    fn is_bearer(&self) -> bool {
        self.header.eq_ignore_ascii_case("authorization") && self.prefix == "Bearer "
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("secret_name", &self.secret_name)
            .field("header", &self.header)
            .field("prefix", &self.prefix)
            .field("value", &format_args!("<secret>"))
            .finish()
    }
}

/// A server to connect to.
#[derive(Debug, Clone)]
pub struct RemoteServer {
    /// Its name (in messages and tool names).
    pub name: String,
    /// Its MCP endpoint (`http://` or `https://`).
    pub url: String,
    /// Its secret, if it takes one.
    pub auth: Option<Auth>,
    /// Longest wait for one request (the handshake, a page of the tool
    /// list, a call), and for a silent response.
    pub timeout: Duration,
}

impl RemoteServer {
    /// `name` at `url`, without a secret, with the default timeout.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        RemoteServer {
            name: name.into(),
            url: url.into(),
            auth: None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Size caps of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest answer read from the server (one JSON body or one event).
    pub max_response_bytes: usize,
    /// Largest text kept from one call's result (cut beyond, with a note).
    pub max_output_bytes: usize,
    /// Most tools kept from the list.
    pub max_tools: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_bytes: MAX_RESPONSE_BYTES,
            max_output_bytes: MAX_OUTPUT_BYTES,
            max_tools: MAX_TOOLS,
        }
    }
}

/// A tool as the server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedTool {
    /// Its name on the server.
    pub name: String,
    /// Its description (empty when it has none; cut at
    /// [`MAX_DESCRIPTION_BYTES`]).
    pub description: String,
    /// Its input schema (a JSON object).
    pub input_schema: serde_json::Value,
}

/// A call's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReply {
    /// The server said the tool failed (the text says how).
    pub is_error: bool,
    /// The text contents joined; other content named in brackets.
    pub text: String,
}

/// What a connection knows of its server.
#[derive(Debug)]
struct About {
    name: String,
    url: String,
    auth: Option<Auth>,
    timeout: Duration,
    limits: Limits,
    /// Set by the transport's client when an event over the cap ended a
    /// stream.
    oversize: Arc<AtomicBool>,
}

impl About {
    /// Classify `e`; a connection that closed on an event over the cap
    /// says so (once: the next failure is the closed connection's).
    fn classify(&self, e: &(dyn std::error::Error + 'static)) -> RemoteError {
        let found = self.scope().classify(e);
        let closed = matches!(
            found,
            RemoteError::Unreachable { .. } | RemoteError::Protocol { .. }
        );
        if closed && self.oversize.swap(false, Ordering::SeqCst) {
            return RemoteError::TooLarge {
                server: self.name.clone(),
                url: self.url.clone(),
                limit: self.limits.max_response_bytes,
            };
        }
        found
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            server: &self.name,
            url: &self.url,
            secret: self
                .auth
                .as_ref()
                .map(|a| (a.secret_name.as_str(), a.value.as_str())),
            limit: self.limits.max_response_bytes,
            timeout: self.timeout,
        }
    }
}

/// A live connection to one server. Dropping it closes it (in the
/// background); [`Connection::close`] waits for the close.
pub struct Connection {
    about: About,
    peer: Peer<RoleClient>,
    service: tokio::sync::Mutex<Option<RunningService<RoleClient, ClientConfig>>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("about", &self.about)
            .finish_non_exhaustive()
    }
}

/// The headers the transport sends for `auth`: the bearer token (the
/// transport adds `Bearer `), or a header of its own.
fn auth_headers(
    server: &str,
    auth: &Auth,
) -> Result<(Option<String>, HashMap<http::HeaderName, http::HeaderValue>), RemoteError> {
    let unusable = |why: String| {
        RemoteError::Config(format!(
            "MCP server {server}: the secret `{}` cannot be sent: {why}",
            auth.secret_name
        ))
    };
    if auth.value.is_empty() {
        return Err(unusable(format!(
            "it is empty; store it with `chitin secret set {}`",
            auth.secret_name
        )));
    }
    let mut value = http::HeaderValue::from_str(&format!("{}{}", auth.prefix, auth.value))
        .map_err(|_| {
            unusable(format!(
                "it (or the prefix) holds a character a header cannot carry, such as a newline; store it again with `chitin secret set {}`",
                auth.secret_name
            ))
        })?;
    if auth.is_bearer() {
        return Ok((Some(auth.value.clone()), HashMap::new()));
    }
    let name = http::HeaderName::from_bytes(auth.header.trim().as_bytes()).map_err(|_| {
        unusable(format!(
            "`{}` is not a header name; fix the server's `header` in config.toml",
            chitin_sandbox::text::one_line(&auth.header, 80)
        ))
    })?;
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(unusable(format!(
            "`{name}` is a header HTTP or MCP sets itself; name another in the server's `header` in config.toml"
        )));
    }
    value.set_sensitive(true);
    Ok((None, HashMap::from([(name, value)])))
}

/// Connect to `server` with the default [`Limits`].
pub async fn connect(server: &RemoteServer, dns: Dns) -> Result<Connection, RemoteError> {
    connect_with(server, dns, Limits::default()).await
}

/// Connect to `server` (names resolved by `dns`, every address vetted)
/// and complete the MCP handshake, within the server's timeout.
pub async fn connect_with(
    server: &RemoteServer,
    dns: Dns,
    limits: Limits,
) -> Result<Connection, RemoteError> {
    let target = Target::parse(&server.url).map_err(|detail| RemoteError::BadUrl {
        server: server.name.clone(),
        url: egress::displayable(&server.url),
        detail,
    })?;
    let timeout = server.timeout.max(Duration::from_millis(1));
    let http = egress::client(&target, dns, timeout)
        .map_err(|e| RemoteError::Config(format!("MCP server {}: {e}", server.name)))?;

    let mut config = StreamableHttpClientTransportConfig::with_uri(target.url.clone())
        .max_json_response_size(limits.max_response_bytes)
        .max_sse_event_size(limits.max_response_bytes)
        .max_error_response_size(limits.max_response_bytes.min(64 * 1024));
    // A lost event stream is reopened a few times, not forever.
    let mut backoff = ExponentialBackoff::default();
    backoff.max_times = Some(3);
    backoff.max_delay = Some(Duration::from_secs(10));
    config.retry_config = Arc::new(backoff);
    if let Some(auth) = &server.auth {
        let (bearer, headers) = auth_headers(&server.name, auth)?;
        if let Some(token) = bearer {
            config = config.auth_header(token);
        }
        config = config.custom_headers(headers);
    }

    let guarded = Guarded::new(http, target.clone(), limits.max_response_bytes);
    let oversize = guarded.oversize_flag();
    let transport = StreamableHttpClientTransport::with_client(guarded, config);
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("chitin", env!("CARGO_PKG_VERSION")),
    );
    let about = About {
        name: server.name.clone(),
        url: target.url,
        auth: server.auth.clone(),
        timeout,
        limits,
        oversize,
    };
    let service = match tokio::time::timeout(timeout, serve_client(info, transport)).await {
        Err(_) => return Err(about.scope().timed_out()),
        Ok(Err(e)) => return Err(about.classify(&e)),
        Ok(Ok(s)) => s,
    };
    Ok(Connection {
        about,
        peer: service.peer().clone(),
        service: tokio::sync::Mutex::new(Some(service)),
    })
}

/// A cut `text` of at most `max` bytes (on a character boundary).
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The tool as Chitin keeps it, or `None` when it cannot be offered as
/// listed (a name too long or empty, a schema too large).
fn listed(server: &str, tool: Tool) -> Option<ListedTool> {
    let name = tool.name.to_string();
    if name.is_empty() || name.len() > MAX_TOOL_NAME {
        tracing::warn!(
            "MCP server {server}: a tool with a name of {} bytes is left out (at most {MAX_TOOL_NAME})",
            name.len()
        );
        return None;
    }
    let input_schema = serde_json::Value::Object(tool.input_schema.as_ref().clone());
    let schema_len = serde_json::to_string(&input_schema).map_or(usize::MAX, |s| s.len());
    if schema_len > MAX_SCHEMA_BYTES {
        tracing::warn!(
            "MCP server {server}: tool {} is left out: its input schema has {schema_len} bytes (at most {MAX_SCHEMA_BYTES})",
            chitin_sandbox::text::one_line(&name, 80)
        );
        return None;
    }
    let description = tool
        .description
        .as_deref()
        .map(|d| cut(d, MAX_DESCRIPTION_BYTES))
        .unwrap_or_default();
    Some(ListedTool {
        name,
        description,
        input_schema,
    })
}

impl Connection {
    /// The server's name.
    pub fn name(&self) -> &str {
        &self.about.name
    }

    /// The server's URL as configured.
    pub fn url(&self) -> &str {
        &self.about.url
    }

    /// Whether the connection is gone (the server closed it, or it failed).
    pub fn is_closed(&self) -> bool {
        self.peer.is_transport_closed()
    }

    /// Every tool the server lists: all pages (at most [`MAX_PAGES`], a
    /// repeated cursor ends the list), at most `max_tools` tools, each
    /// page within the timeout.
    pub async fn list_tools(&self) -> Result<Vec<ListedTool>, RemoteError> {
        let scope = self.about.scope();
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            let params = cursor
                .take()
                .map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
            let page = tokio::time::timeout(self.about.timeout, self.peer.list_tools(params))
                .await
                .map_err(|_| scope.timed_out())?
                .map_err(|e| self.about.classify(&e))?;
            for tool in page.tools {
                if tools.len() >= self.about.limits.max_tools {
                    break;
                }
                tools.extend(listed(&self.about.name, tool));
            }
            match page.next_cursor {
                Some(next)
                    if tools.len() < self.about.limits.max_tools && seen.insert(next.clone()) =>
                {
                    cursor = Some(next);
                }
                _ => break,
            }
        }
        Ok(tools)
    }

    /// Call `tool` with `arguments`, within the timeout; the result's text
    /// is capped at `max_output_bytes` and has the secret cut out.
    pub async fn call(
        &self,
        tool: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
    ) -> Result<RemoteReply, RemoteError> {
        let scope = self.about.scope();
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let result = tokio::time::timeout(self.about.timeout, self.peer.call_tool(params))
            .await
            .map_err(|_| scope.timed_out())?
            .map_err(|e| self.about.classify(&e))?;
        Ok(RemoteReply {
            is_error: result.is_error.unwrap_or(false),
            text: super::content::reply_text(&result, self.about.limits.max_output_bytes, |s| {
                scope.redact(s)
            }),
        })
    }

    /// Close the connection (ending the server's session), waiting at most
    /// a few seconds. Later requests fail as unreachable.
    pub async fn close(&self) {
        let service = self.service.lock().await.take();
        if let Some(mut service) = service
            && let Err(e) = service.close_with_timeout(CLOSE_TIMEOUT).await
        {
            tracing::debug!("closing MCP server {}: {e}", self.about.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let auth = Auth::bearer("docs-token", "s3cr3t-value");
        let mut server = RemoteServer::new("docs", "https://mcp.example.com/mcp");
        server.auth = Some(auth.clone());
        for text in [
            format!("{auth:?}"),
            format!("{server:?}"),
            format!("{server:#?}"),
        ] {
            assert!(!text.contains("s3cr3t-value"), "{text}");
            assert!(
                text.contains("<secret>") && text.contains("docs-token"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_secret_goes_where_configured() {
        let (bearer, headers) = auth_headers("docs", &Auth::bearer("t", "v1")).unwrap();
        assert_eq!(bearer.as_deref(), Some("v1"));
        assert!(headers.is_empty());
        let (bearer, headers) =
            auth_headers("docs", &Auth::header("t", "X-Api-Key", "", "v2")).unwrap();
        assert_eq!(bearer, None);
        let value = &headers[&http::HeaderName::from_static("x-api-key")];
        assert_eq!(value.as_bytes(), b"v2");
        assert!(value.is_sensitive());
        let (_, headers) =
            auth_headers("docs", &Auth::header("t", "Authorization", "Token ", "v3")).unwrap();
        assert_eq!(
            headers[&http::HeaderName::from_static("authorization")].as_bytes(),
            b"Token v3"
        );
    }

    #[test]
    fn unusable_secrets_are_named_not_shown() {
        for (auth, says) in [
            (Auth::bearer("t", "line\nbreak"), "cannot carry"),
            (Auth::bearer("t", ""), "empty"),
            (
                Auth::header("t", "bad header", "", "v"),
                "not a header name",
            ),
            (Auth::header("t", "Mcp-Session-Id", "", "v"), "sets itself"),
        ] {
            let e = auth_headers("docs", &auth).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("`t`"), "{e}");
            assert!(!e.contains("line\nbreak"), "{e}");
        }
    }

    #[test]
    fn descriptions_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_DESCRIPTION_BYTES);
        let c = cut(&long, MAX_DESCRIPTION_BYTES);
        assert!(c.len() <= MAX_DESCRIPTION_BYTES && c.ends_with('…'));
        assert_eq!(cut("short", 10), "short");
    }
}
