//! The MCP server at the daemon's `/mcp`, over Streamable HTTP. The
//! daemon's guard runs first (bearer token, `Host` naming the daemon, no
//! cross-origin calls), so nothing reaches MCP without the token. Clients
//! of the 2025-11-25 era get a session each (so elicitation and
//! `list_changed` can reach them); 2026-07-28 requests are served
//! statelessly.

use super::McpServer;
use crate::agent::Agent;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Largest request body `/mcp` reads.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The `/mcp` service over `agent`'s tools, stopped with `stop`.
pub fn service(
    agent: Agent,
    stop: CancellationToken,
) -> StreamableHttpService<McpServer, LocalSessionManager> {
    let server = McpServer::new(agent, "http", stop.clone());
    let config = StreamableHttpServerConfig::default()
        // The daemon's guard checks `Host` and `Origin` for every route,
        // remote binds included; the SDK's loopback-only list would refuse
        // a daemon the user deliberately bound elsewhere.
        .disable_allowed_hosts()
        .with_legacy_session_mode(true)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_max_request_body_bytes(MAX_REQUEST_BYTES)
        .with_cancellation_token(stop);
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
