//! Remote MCP servers (Streamable HTTP) as tool sources.
