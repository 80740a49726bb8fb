//! Remote MCP servers (Streamable HTTP) as tool sources for Chitin's own
//! agent, reached under the same egress rules as a skill: [`egress`] is
//! the HTTP client for one server (the configured host only, every address
//! checked after DNS and only the vetted ones connected to, no redirects
//! followed, no proxy), [`guard`] holds the MCP transport to that server's
//! URL, [`client`] is the connection (the official SDK's client; the
//! server's secret sent by the host and never shown; answers, tool lists
//! and outputs capped; every request bounded in time), [`content`] turns a
//! tool's result into text, and [`RemoteError`] says what failed, on which
//! server, and what to do. Tools are offered only as the user accepted
//! them ([`pins`], [`source`]).

pub mod client;
pub mod content;
pub mod egress;
mod error;
pub mod guard;
pub mod pins;
pub mod source;

pub use error::RemoteError;

#[cfg(test)]
mod tests;

/// The integration tests' DNS server, shared with the unit tests here.
#[cfg(test)]
#[allow(dead_code, missing_docs)]
#[path = "../../../../../tests/support/dns.rs"]
mod test_dns;
