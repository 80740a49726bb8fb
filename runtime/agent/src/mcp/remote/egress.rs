//! The HTTP client for one remote MCP server, with a skill's egress rules:
//! only that server's host, every resolved address checked (no private,
//! loopback or link-local address unless the configured URL names the
//! address itself), a connection to the vetted addresses only (no second
//! lookup to rebind), no redirects followed, bounded times. Response sizes
//! are capped by the MCP transport above it.

use chitin_sandbox::capabilities::net::dns::{self, Dns};
use chitin_sandbox::capabilities::net::ip::non_public_reason;
use chitin_sandbox::capabilities::net::rules::normalize_host;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Time to connect to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Refusals of the egress checks are recognised by this marker in the
/// error chain reqwest reports.
pub const REFUSED: &str = "refused by Chitin's egress checks";

/// Where a server's URL may lead.
#[derive(Debug, Clone)]
pub struct Target {
    /// The host (normalized), as configured.
    pub host: String,
    /// Non-public addresses allowed: the URL names an IP or `localhost`.
    pub internal_ok: bool,
}

impl Target {
    /// The target of `url`, or why it cannot be one.
    pub fn of(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("`{url}`: only http(s) URLs"));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(format!("`{url}`: user information in the URL is not allowed"));
        }
        let host = uri.host().map(normalize_host).unwrap_or_default();
        if host.is_empty() {
            return Err(format!("`{url}` has no host"));
        }
        let internal_ok = host == "localhost" || host.parse::<IpAddr>().is_ok();
        Ok(Target { host, internal_ok })
    }
}

/// Resolves only the configured host, and keeps only the addresses it may
/// reach.
struct Vetted {
    target: Target,
    dns: Dns,
}

impl reqwest::dns::Resolve for Vetted {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let target = self.target.clone();
        let dns = self.dns.clone();
        let asked = normalize_host(name.as_str());
        Box::pin(async move {
            if asked != target.host {
                return Err(format!("{asked}: not the configured server's host; {REFUSED}").into());
            }
            let resolver = dns.resolver();
            let ips = dns::resolve(&resolver, &asked)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.to_string().into() })?;
            let mut refused = Vec::new();
            let mut ok = Vec::new();
            for ip in ips {
                match non_public_reason(ip) {
                    Some(reason) if !target.internal_ok => refused.push(format!("{ip} ({reason})")),
                    _ => ok.push(SocketAddr::new(ip, 0)),
                }
            }
            if ok.is_empty() {
                return Err(format!(
                    "{asked} resolved to {}: only public addresses are reachable unless the URL names the address itself; {REFUSED}",
                    refused.join(", ")
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(ok.into_iter());
            Ok(addrs)
        })
    }
}

/// The client for a server at `target`, each request bounded by `timeout`.
pub fn client(target: Target, dns: Dns, timeout: Duration) -> Result<reqwest::Client, String> {
    let internal_ok = target.internal_ok;
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(chitin_sandbox::tls::client_config().as_ref().clone())
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(timeout)
        .dns_resolver(Arc::new(Vetted { target, dns }));
    if internal_ok {
        // An IP literal skips the resolver: it is its own vetted address.
        builder = builder.http1_only();
    }
    builder.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_allow_internal_only_when_named() {
        assert!(!Target::of("https://mcp.example.com/mcp").unwrap().internal_ok);
        assert!(Target::of("http://127.0.0.1:8080/mcp").unwrap().internal_ok);
        assert!(Target::of("http://localhost:8080/mcp").unwrap().internal_ok);
        assert!(Target::of("http://[::1]:8080/mcp").unwrap().internal_ok);
        assert!(Target::of("http://u:p@h/mcp").is_err());
        assert!(Target::of("ftp://h/mcp").is_err());
    }
}
