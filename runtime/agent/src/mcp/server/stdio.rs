//! `chitin mcp` over stdin/stdout: one client, the one that started us.
//! Only MCP goes to stdout; anything else Chitin says goes to stderr.

use super::McpServer;
use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;

/// Why serving over stdio ended badly.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// The client closed or sent garbage before a session began.
    #[error("the MCP client did not start a session: {0}")]
    Start(String),
    /// The server's task failed.
    #[error("the MCP server ended abnormally: {0}")]
    Ended(String),
}

/// Serve `agent`'s tools until the client closes stdin.
pub async fn serve(agent: crate::agent::Agent) -> Result<(), StdioError> {
    let stop = CancellationToken::new();
    let server = McpServer::new(agent, "stdio", stop.clone());
    let running = server
        .serve(rmcp::transport::stdio_pipes())
        .await
        .map_err(|e| StdioError::Start(e.to_string()));
    let ended = match running {
        Ok(r) => r
            .waiting()
            .await
            .map(|_| ())
            .map_err(|e| StdioError::Ended(e.to_string())),
        Err(e) => Err(e),
    };
    stop.cancel();
    ended
}
