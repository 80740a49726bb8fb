//! The HTTP client for one remote MCP server, under a skill's egress rules:
//! only the configured host is resolved, every address it resolves to is
//! checked (no private, loopback, link-local or otherwise non-public
//! address unless the configured URL names an IP address or `localhost`
//! itself, the rule of `NetRule::may_reach_internal`), and only the vetted
//! addresses are handed to the connector, so there is no second lookup to
//! rebind. Redirects are refused, not followed (following one would resend
//! the server's secret elsewhere). No proxy, a 10 s connect timeout, an
//! idle-read timeout; response sizes are capped by the MCP transport above.

use chitin_sandbox::capabilities::net::dns::{self, Dns};
use chitin_sandbox::capabilities::net::ip::non_public_reason;
use chitin_sandbox::capabilities::net::rules::normalize_host;
use reqwest::Url;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for the TCP connection plus the TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default bound on one request to a server (and on a silent response).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a server's URL may lead: its scheme, host and port, and whether
/// non-public addresses are allowed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as configured (the MCP endpoint), trimmed.
    pub url: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The host, normalized (lowercase, no brackets, no trailing dot).
    pub host: String,
    /// The port (the scheme's default when the URL names none).
    pub port: u16,
    /// The URL names an IP address or `localhost`, so non-public addresses
    /// may be reached (the user named them).
    pub internal_ok: bool,
}

impl Target {
    /// The target of `url`, or what is wrong with it (a sentence fragment
    /// for the caller's message).
    pub fn parse(url: &str) -> Result<Self, String> {
        let trimmed = url.trim();
        let parsed = Url::parse(trimmed).map_err(|e| format!("it is not a URL ({e})"))?;
        let scheme = parsed.scheme().to_string();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "only http:// and https:// URLs are supported, not {scheme}://"
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(
                "credentials in the URL are not supported; store the token with `chitin secret set NAME` and name it as the server's `secret`"
                    .to_string(),
            );
        }
        let host = parsed.host_str().map(normalize_host).unwrap_or_default();
        if host.is_empty() {
            return Err("it has no host".to_string());
        }
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| "it has no port".to_string())?;
        let internal_ok = host == "localhost" || host.parse::<IpAddr>().is_ok();
        Ok(Target {
            url: trimmed.to_string(),
            scheme,
            host,
            port,
            internal_ok,
        })
    }

    /// `scheme://host:port`, for messages.
    pub fn origin(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }

    /// Whether a request to `url` stays on this target (same scheme, host
    /// and port).
    pub fn admits(&self, url: &str) -> bool {
        let Ok(other) = Url::parse(url.trim()) else {
            return false;
        };
        other.scheme() == self.scheme
            && other.host_str().map(normalize_host).as_deref() == Some(self.host.as_str())
            && other.port_or_known_default() == Some(self.port)
    }
}

/// Why the egress checks stopped a request. It travels inside reqwest's
/// (or the transport's) error chain, where [`super::RemoteError`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A request for another host than the configured one.
    #[error(
        "a request to {asked} was refused: this client reaches only {configured}, the configured server"
    )]
    OtherHost {
        /// What was asked for.
        asked: String,
        /// The configured origin.
        configured: String,
    },
    /// Every address of the name is non-public, and the URL names a host.
    #[error(
        "{host} resolved to {addresses}: only public addresses are reachable unless the URL names the address itself (e.g. http://127.0.0.1:8080/mcp or http://localhost:8080/mcp for a server on this machine)"
    )]
    NonPublic {
        /// The name.
        host: String,
        /// Each address with why it is refused.
        addresses: String,
    },
    /// The server answered with a redirect.
    #[error("the server answered with a redirect to {to}")]
    Redirect {
        /// Where it pointed (scheme, host, port and path; no query).
        to: String,
    },
}

/// Resolves only the configured host, and keeps only the addresses it may
/// reach.
struct Vetted {
    target: Arc<Target>,
    dns: Dns,
}

/// Keep the addresses `target` may reach, or say why none.
pub fn vet(target: &Target, host: &str, ips: &[IpAddr]) -> Result<Vec<IpAddr>, Refusal> {
    let mut refused = Vec::new();
    let mut ok = Vec::new();
    for &ip in ips {
        match non_public_reason(ip) {
            Some(reason) if !target.internal_ok => refused.push(format!("{ip} ({reason})")),
            _ => ok.push(ip),
        }
    }
    if ok.is_empty() {
        return Err(Refusal::NonPublic {
            host: host.to_string(),
            addresses: if refused.is_empty() {
                "no address".to_string()
            } else {
                refused.join(", ")
            },
        });
    }
    Ok(ok)
}

impl reqwest::dns::Resolve for Vetted {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let target = self.target.clone();
        let dns = self.dns.clone();
        let asked = normalize_host(name.as_str());
        Box::pin(async move {
            if asked != target.host {
                return Err(Refusal::OtherHost {
                    asked,
                    configured: target.origin(),
                }
                .into());
            }
            // A resolver per lookup: it runs on the caller's runtime.
            let resolver = dns.resolver();
            let ips = dns::resolve(&resolver, &asked).await?;
            let ok = vet(&target, &asked, &ips)?;
            let port = target.port;
            let addrs: reqwest::dns::Addrs =
                Box::new(ok.into_iter().map(move |ip| SocketAddr::new(ip, port)));
            Ok(addrs)
        })
    }
}

/// `url` without its query, fragment or credentials (a redirect's target
/// is the server's text; its query may carry a token).
pub fn shown(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let shown = format!("{}://{host}{port}{}", url.scheme(), url.path());
    chitin_sandbox::text::one_line(&shown, 200)
}

/// `url` as it may be shown in a message: without credentials (the URL
/// was refused for them), and one line.
pub fn displayable(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            chitin_sandbox::text::one_line(u.as_str(), 200)
        }
        Err(_) => chitin_sandbox::text::one_line(url.trim(), 200),
    }
}

/// The client for `target`: names resolved by `dns` and vetted, redirects
/// refused, no proxy, connect bounded by [`CONNECT_TIMEOUT`] and a silent
/// response by `idle` (the whole request is bounded by the caller).
pub fn client(target: &Target, dns: Dns, idle: Duration) -> Result<reqwest::Client, String> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let to = shown(attempt.url());
        attempt.error(Refusal::Redirect { to })
    });
    crate::provider::http::builder()
        .redirect(redirects)
        .https_only(target.scheme == "https")
        .read_timeout(idle)
        .pool_idle_timeout(Duration::from_secs(60))
        .dns_resolver(Arc::new(Vetted {
            target: Arc::new(target.clone()),
            dns,
        }))
        .build()
        .map_err(|e| {
            format!(
                "setting up its HTTP client failed: {}",
                chitin_sandbox::text::error_chain(&e)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_allow_internal_only_when_the_url_names_it() {
        let t = |u: &str| Target::parse(u).unwrap();
        assert!(!t("https://mcp.example.com/mcp").internal_ok);
        assert!(!t("https://localhost.example.com/mcp").internal_ok);
        assert!(t("http://127.0.0.1:8080/mcp").internal_ok);
        assert!(t("http://LOCALHOST:8080/mcp").internal_ok);
        assert!(t("http://localhost.:8080/mcp").internal_ok);
        assert!(t("http://[::1]:8080/mcp").internal_ok);
        assert_eq!(t("https://Mcp.Example.com/mcp").host, "mcp.example.com");
        assert_eq!(t("https://mcp.example.com/mcp").port, 443);
        assert_eq!(t("http://[::1]:8080/mcp").origin(), "http://[::1]:8080");
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, says) in [
            ("http://u:p@h.example/mcp", "credentials"),
            ("http://u@h.example/mcp", "credentials"),
            ("ftp://h.example/mcp", "only http"),
            ("file:///etc/passwd", "only http"),
            ("not a url", "not a URL"),
        ] {
            let e = Target::parse(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
    }

    #[test]
    fn admits_only_the_same_origin() {
        let t = Target::parse("https://mcp.example.com/mcp").unwrap();
        assert!(t.admits("https://mcp.example.com/mcp"));
        assert!(t.admits("https://MCP.example.com:443/other"));
        assert!(!t.admits("http://mcp.example.com/mcp"));
        assert!(!t.admits("https://mcp.example.com:8443/mcp"));
        assert!(!t.admits("https://evil.example.com/mcp"));
        assert!(!t.admits("https://mcp.example.com.evil.example/mcp"));
        assert!(!t.admits("garbage"));
    }

    #[test]
    fn every_address_is_checked() {
        let named = Target::parse("https://mcp.example.com/mcp").unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let private: IpAddr = "10.1.2.3".parse().unwrap();
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let e = vet(&named, "mcp.example.com", &[local, private, metadata]).unwrap_err();
        let text = e.to_string();
        for part in [
            "127.0.0.1 (loopback",
            "10.1.2.3 (private",
            "169.254.169.254",
        ] {
            assert!(text.contains(part), "{text}");
        }
        // Only the vetted addresses are kept (the connector sees no other).
        assert_eq!(
            vet(&named, "mcp.example.com", &[local, public]).unwrap(),
            vec![public]
        );
        let literal = Target::parse("http://127.0.0.1:9/mcp").unwrap();
        assert_eq!(vet(&literal, "127.0.0.1", &[local]).unwrap(), vec![local]);
        assert!(vet(&named, "mcp.example.com", &[]).is_err());
    }

    #[tokio::test]
    async fn only_the_configured_host_is_resolved() {
        use reqwest::dns::Resolve;
        let vetted = Vetted {
            target: Arc::new(Target::parse("https://mcp.example.com/mcp").unwrap()),
            // Never asked: the name is refused first.
            dns: Dns::servers(&["127.0.0.1:9".parse().unwrap()]),
        };
        let name: reqwest::dns::Name = "evil.example.com".parse().unwrap();
        let e = match vetted.resolve(name).await {
            Ok(_) => panic!("resolved another host"),
            Err(e) => e,
        };
        assert_eq!(
            e.downcast_ref::<Refusal>(),
            Some(&Refusal::OtherHost {
                asked: "evil.example.com".into(),
                configured: "https://mcp.example.com:443".into(),
            })
        );
    }

    #[test]
    fn shown_urls_drop_queries_and_credentials() {
        let u = Url::parse("https://user:pw@other.example:8443/p/q?token=abc#frag").unwrap();
        assert_eq!(shown(&u), "https://other.example:8443/p/q");
        assert_eq!(
            displayable("https://user:pw@h.example/mcp?x=1"),
            "https://h.example/mcp?x=1"
        );
    }
}
