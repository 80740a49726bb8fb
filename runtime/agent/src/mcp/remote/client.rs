//! One connection to a remote MCP server (Streamable HTTP, the official
//! SDK's client over the checked egress of [`super::egress`]): its tool
//! list and its calls, with response sizes capped and the server's secret
//! sent by the host. The secret never appears in an error or in `Debug`.

use super::RemoteError;
use super::egress::{self, Target};
use chitin_sandbox::capabilities::net::dns::Dns;
use chitin_sandbox::text::one_line;
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use std::collections::HashMap;
use std::time::Duration;

/// Largest JSON answer read from a server.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Most tools kept from one server.
pub const MAX_TOOLS: usize = 256;

/// Longest text kept from one call's result.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// The server's secret and how it is sent.
#[derive(Clone)]
pub struct Auth {
    /// Its name in the secret store (for messages).
    pub secret_name: String,
    /// The header.
    pub header: String,
    /// What precedes the value in it.
    pub prefix: String,
    /// The value.
    pub value: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth({} in {}: <secret>)", self.secret_name, self.header)
    }
}

/// A server to connect to.
#[derive(Debug, Clone)]
pub struct RemoteServer {
    /// Its name.
    pub name: String,
    /// Its endpoint.
    pub url: String,
    /// Its secret, if it takes one.
    pub auth: Option<Auth>,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

/// A tool as the server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedTool {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its input schema.
    pub input_schema: serde_json::Value,
}

/// A call's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteReply {
    /// The server said the tool failed.
    pub is_error: bool,
    /// The text contents (other content described in brackets).
    pub text: String,
}

/// A live connection.
pub struct Connection {
    name: String,
    service: RunningService<RoleClient, ()>,
    timeout: Duration,
}

/// Connect to `server` (through the egress checks, names resolved by `dns`).
pub async fn connect(server: &RemoteServer, dns: Dns) -> Result<Connection, RemoteError> {
    let target = Target::of(&server.url).map_err(RemoteError::Config)?;
    let http = egress::client(target, dns, server.timeout).map_err(RemoteError::Config)?;
    let mut config = StreamableHttpClientTransportConfig::with_uri(server.url.clone())
        .max_json_response_size(MAX_RESPONSE_BYTES)
        .max_sse_event_size(MAX_RESPONSE_BYTES);
    if let Some(auth) = &server.auth {
        if auth.header.eq_ignore_ascii_case("authorization") && auth.prefix == "Bearer " {
            config = config.auth_header(auth.value.clone());
        } else {
            let name = http::HeaderName::from_bytes(auth.header.as_bytes()).map_err(|_| {
                RemoteError::Config(format!("`{}` is not a valid header name", auth.header))
            })?;
            let value = http::HeaderValue::from_str(&format!("{}{}", auth.prefix, auth.value))
                .map_err(|_| {
                    RemoteError::Config(format!(
                        "secret {} is not a valid header value",
                        auth.secret_name
                    ))
                })?;
            config = config.custom_headers(HashMap::from([(name, value)]));
        }
    }
    let transport = StreamableHttpClientTransport::with_client(http, config);
    let started = tokio::time::timeout(server.timeout, ().serve(transport)).await;
    let service = match started {
        Err(_) => {
            return Err(RemoteError::Unreachable {
                server: server.name.clone(),
                detail: format!("no answer within {} s", server.timeout.as_secs()),
            });
        }
        Ok(Err(e)) => return Err(RemoteError::classify(&server.name, server.auth.as_ref(), &e)),
        Ok(Ok(s)) => s,
    };
    Ok(Connection {
        name: server.name.clone(),
        service,
        timeout: server.timeout,
    })
}

impl Connection {
    /// Every tool the server lists (at most [`MAX_TOOLS`]).
    pub async fn list_tools(&self) -> Result<Vec<ListedTool>, RemoteError> {
        let tools = tokio::time::timeout(self.timeout, self.service.list_all_tools())
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| RemoteError::classify(&self.name, None, &e))?;
        Ok(tools
            .into_iter()
            .take(MAX_TOOLS)
            .map(|t| ListedTool {
                name: one_line(&t.name, 64),
                description: t.description.map(|d| d.to_string()).unwrap_or_default(),
                input_schema: serde_json::Value::Object(t.input_schema.as_ref().clone()),
            })
            .collect())
    }

    /// Call `tool` with `arguments`.
    pub async fn call(
        &self,
        tool: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
    ) -> Result<RemoteReply, RemoteError> {
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
        let result = tokio::time::timeout(self.timeout, self.service.call_tool(params))
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| RemoteError::classify(&self.name, None, &e))?;
        let mut text = String::new();
        for block in &result.content {
            if !text.is_empty() {
                text.push('\n');
            }
            match block {
                ContentBlock::Text(t) => text.push_str(&t.text),
                other => text.push_str(&format!("[{} content omitted]", kind(other))),
            }
            if text.len() > MAX_OUTPUT_BYTES {
                let mut end = MAX_OUTPUT_BYTES;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                text.push_str(" [truncated]");
                break;
            }
        }
        if text.is_empty()
            && let Some(s) = &result.structured_content
        {
            text = one_line(&s.to_string(), MAX_OUTPUT_BYTES);
        }
        Ok(RemoteReply {
            is_error: result.is_error.unwrap_or(false),
            text,
        })
    }

    fn timed_out(&self) -> RemoteError {
        RemoteError::Unreachable {
            server: self.name.clone(),
            detail: format!("no answer within {} s", self.timeout.as_secs()),
        }
    }
}

fn kind(block: &ContentBlock) -> &'static str {
    match block {
        ContentBlock::Text(_) => "text",
        ContentBlock::Image(_) => "image",
        ContentBlock::Audio(_) => "audio",
        _ => "non-text",
    }
}
