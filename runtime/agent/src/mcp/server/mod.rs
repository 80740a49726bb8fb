//! Chitin as an MCP server.
