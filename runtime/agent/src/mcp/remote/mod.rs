//! Remote MCP servers (Streamable HTTP) as tool sources for Chitin's own
//! agent: reached through the same egress rules as a skill
//! ([`egress`]: the configured host only, every address checked after DNS,
//! no redirects), with the server's secret injected by the host
//! ([`client`]), and tools offered only as the user accepted them
//! ([`pins`], [`source`]).

pub mod client;
pub mod egress;
pub mod pins;
pub mod source;

/// Why a remote server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The configuration (or the secret store) is wrong.
    #[error("{0}")]
    Config(String),
    /// The egress checks refused the connection.
    #[error("MCP server {server}: {detail}")]
    Refused {
        /// The server.
        server: String,
        /// Why.
        detail: String,
    },
    /// The server refused the secret.
    #[error("MCP server {server} refused its credentials ({detail}); set the right token with `chitin secret set {secret}`")]
    Unauthorized {
        /// The server.
        server: String,
        /// The secret's name.
        secret: String,
        /// What it answered.
        detail: String,
    },
    /// Down, slow, or not speaking MCP.
    #[error("MCP server {server} is unreachable: {detail}")]
    Unreachable {
        /// The server.
        server: String,
        /// What happened.
        detail: String,
    },
    /// It answered, but not as MCP allows (or with a JSON-RPC error).
    #[error("MCP server {server}: {detail}")]
    Protocol {
        /// The server.
        server: String,
        /// What it said (its words, one line, capped).
        detail: String,
    },
}

impl RemoteError {
    /// Whether Chitin's egress checks refused it (a denial, not an outage).
    pub fn is_denied(&self) -> bool {
        matches!(self, RemoteError::Refused { .. })
    }

    /// Whether the connection itself failed (worth connecting again).
    pub fn is_connection(&self) -> bool {
        matches!(self, RemoteError::Unreachable { .. })
    }

    /// Classify an SDK error by what its chain says.
    pub(crate) fn classify(
        server: &str,
        auth: Option<&client::Auth>,
        e: &dyn std::error::Error,
    ) -> Self {
        let mut chain = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        if let Some(a) = auth {
            // Never quote the secret, whatever an error echoes.
            chain = chain.replace(&a.value, "<secret>");
        }
        let detail = chitin_sandbox::text::one_line(&chain, 400);
        let server = server.to_string();
        let lower = chain.to_ascii_lowercase();
        if chain.contains(egress::REFUSED) {
            RemoteError::Refused { server, detail }
        } else if lower.contains("redirect") || lower.contains(" 30") && lower.contains("status") {
            RemoteError::Refused {
                server,
                detail: format!(
                    "{detail}; Chitin does not follow redirects for MCP servers: configure the final URL"
                ),
            }
        } else if lower.contains("401") || lower.contains("403") || lower.contains("unauthorized") {
            RemoteError::Unauthorized {
                server,
                secret: auth.map(|a| a.secret_name.clone()).unwrap_or_else(|| "NAME".into()),
                detail,
            }
        } else if lower.contains("connect") || lower.contains("timed out") || lower.contains("closed") || lower.contains("transport") {
            RemoteError::Unreachable { server, detail }
        } else {
            RemoteError::Protocol { server, detail }
        }
    }
}
