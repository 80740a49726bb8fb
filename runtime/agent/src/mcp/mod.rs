//! The Model Context Protocol, both ways: [`server`] serves the installed
//! skills' tools to any MCP client (stdio for desktop clients, Streamable
//! HTTP on the daemon), through the one tool dispatch with the grants
//! recorded at install; [`remote`] reaches remote MCP servers as tool
//! sources for Chitin's own agent, under the same egress rules as a skill.

pub mod remote;
pub mod server;
