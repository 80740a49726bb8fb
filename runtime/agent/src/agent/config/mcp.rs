//! `[mcp]`: the remote MCP servers whose tools Chitin's agent may use.
//! Their tokens are never in this file: each server names a secret in the
//! secret store, which the host injects into its requests.

use serde::{Deserialize, Serialize};

/// `[mcp]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSection {
    /// `[[mcp.servers]]`.
    #[serde(default)]
    pub servers: Vec<McpServerSection>,
    /// DNS servers (`IP:PORT`) for reaching them, instead of the system's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<std::net::SocketAddr>,
}

/// One `[[mcp.servers]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSection {
    /// Its name: tools appear as `NAME__tool`.
    pub name: String,
    /// Its Streamable HTTP endpoint (`https://…/mcp`).
    pub url: String,
    /// The secret (in the secret store) sent with every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The header the secret goes in [default: `Authorization`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// What precedes the secret in it [default: `Bearer ` for
    /// `Authorization`, nothing otherwise].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Seconds one request may take [default: 60].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// Longest server name (tools are `NAME__tool`, at most 64 characters).
pub const MAX_NAME: usize = 24;

impl McpServerSection {
    /// Why this entry cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= MAX_NAME
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.name.contains("--");
        if !name_ok {
            return Some(format!(
                "MCP server name `{}`: use 1-{MAX_NAME} of a-z, 0-9 and single dashes",
                chitin_sandbox::text::one_line(&self.name, 40)
            ));
        }
        let url = self.url.to_ascii_lowercase();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Some(format!(
                "MCP server {}: url `{}` must be an http(s) URL (only Streamable HTTP servers are supported; Chitin does not start local MCP server programs)",
                self.name,
                chitin_sandbox::text::one_line(&self.url, 120)
            ));
        }
        if self.url.contains('?') || self.url.contains('#') {
            return Some(format!(
                "MCP server {}: the url must not carry a query or fragment (a token there would show in messages and records); put the token in the secret store and name it with `secret`",
                self.name
            ));
        }
        if let Some(secret) = &self.secret
            && chitin_sandbox::capabilities::secrets::validate_name(secret).is_err()
        {
            return Some(format!(
                "MCP server {}: secret name `{}`: use letters, digits and _ (e.g. DOCS_MCP_TOKEN), as in `chitin secret set`",
                self.name,
                chitin_sandbox::text::one_line(secret, 40)
            ));
        }
        None
    }

    /// The header and prefix the secret is sent with.
    pub fn auth_header(&self) -> (String, String) {
        let header = self
            .header
            .clone()
            .unwrap_or_else(|| "Authorization".to_string());
        let prefix = self.prefix.clone().unwrap_or_else(|| {
            if header.eq_ignore_ascii_case("authorization") {
                "Bearer ".to_string()
            } else {
                String::new()
            }
        });
        (header, prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls_are_checked() {
        let s = |name: &str, url: &str| McpServerSection {
            name: name.into(),
            url: url.into(),
            secret: None,
            header: None,
            prefix: None,
            timeout_secs: None,
        };
        assert_eq!(s("docs", "https://h/mcp").problem(), None);
        assert!(s("Docs", "https://h/mcp").problem().is_some());
        assert!(s("a__b", "https://h/mcp").problem().is_some());
        assert!(s("", "https://h/mcp").problem().is_some());
        let q = s("a", "https://h/mcp?api_key=k").problem().unwrap();
        assert!(q.contains("query"), "{q}");
        let e = s("local", "npx some-server").problem().unwrap();
        assert!(
            e.contains("does not start local MCP server programs"),
            "{e}"
        );
        assert_eq!(
            s("a", "https://h").auth_header(),
            ("Authorization".into(), "Bearer ".into())
        );
        let mut k = s("a", "https://h");
        k.header = Some("X-Api-Key".into());
        assert_eq!(k.auth_header(), ("X-Api-Key".into(), String::new()));
    }
}
