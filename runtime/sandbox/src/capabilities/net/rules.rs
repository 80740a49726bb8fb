//! The network allow-list: entries `scheme://host[:port]`, with an optional
//! leading `*.` label (any subdomain) or `*` (any host, public addresses only).

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// A malformed allow-list entry.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "invalid network grant `{entry}`: {why} (expected e.g. `https://api.example.com`, `https://*.example.com`, `http://127.0.0.1:8080`)"
)]
pub struct RuleError {
    entry: String,
    why: &'static str,
}

/// Which hosts an entry matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostPattern {
    /// Exactly this host (lowercase; IPv6 without brackets).
    Exact(String),
    /// Any strict subdomain of this domain.
    Subdomains(String),
    /// Any host.
    Any,
}

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NetRule {
    /// `http` or `https`.
    pub scheme: String,
    /// Host pattern.
    pub host: HostPattern,
    /// Port; `None` means any port.
    pub port: Option<u16>,
}

/// Lowercase a host and drop brackets and a trailing dot.
pub fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "http" { 80 } else { 443 }
}

impl NetRule {
    /// Parse `scheme://host[:port]`. A bare host means `https://host`.
    ///
    /// ```
    /// use chitin_sandbox::capabilities::net::rules::NetRule;
    ///
    /// let rule = NetRule::parse("https://*.example.com").unwrap();
    /// assert!(rule.matches("https", "api.example.com", 443));
    /// assert!(!rule.matches("https", "example.com", 443)); // subdomains only
    /// assert!(!rule.matches("http", "api.example.com", 80)); // scheme is part of the grant
    /// assert!(NetRule::parse("https://example.com/path").is_err());
    /// ```
    pub fn parse(entry: &str) -> Result<Self, RuleError> {
        let err = |why| RuleError {
            entry: crate::text::one_line(entry, 200),
            why,
        };
        let (scheme, rest) = match entry.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("https".to_string(), entry),
        };
        if scheme != "http" && scheme != "https" {
            return Err(err("only http and https are supported"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(err(
                "give only scheme, host and port: no path, user or spaces",
            ));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, tail) = v6
                .split_once(']')
                .ok_or_else(|| err("unclosed `[` in IPv6 address"))?;
            (h.to_string(), tail.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (rest.to_string(), None),
            }
        };
        let port = match port {
            None => Some(default_port(&scheme)),
            Some("*") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| err("bad port"))?,
            ),
        };
        let host = normalize_host(&host);
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '*' | ':'))
        {
            return Err(err(
                "a host is letters, digits, `-`, `.` and `_` (IDNs in punycode), or an IP address",
            ));
        }
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(err("`*` may only be a whole leading label"));
            }
            HostPattern::Subdomains(domain.to_string())
        } else {
            if host.is_empty() || host.contains('*') {
                return Err(err("`*` may only be a whole leading label"));
            }
            HostPattern::Exact(host)
        };
        Ok(NetRule { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` matches.
    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        if self.scheme != scheme || self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = normalize_host(host);
        match &self.host {
            HostPattern::Exact(h) => *h == host,
            HostPattern::Subdomains(d) => host
                .strip_suffix(d.as_str())
                .is_some_and(|p| p.ends_with('.') && p.len() > 1),
            HostPattern::Any => true,
        }
    }

    /// Whether this entry may reach a loopback or private address: only
    /// when it names that address itself (an IP literal) or `localhost`. A
    /// domain name never may, whatever its DNS says, so a grant for
    /// `api.example.com` cannot be pointed at 169.254.169.254 or 127.0.0.1.
    pub fn may_reach_internal(&self) -> bool {
        match &self.host {
            HostPattern::Exact(h) => h == "localhost" || h.parse::<std::net::IpAddr>().is_ok(),
            _ => false,
        }
    }
}

impl fmt::Display for NetRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        match &self.host {
            HostPattern::Exact(h) if h.contains(':') => write!(f, "[{h}]")?,
            HostPattern::Exact(h) => f.write_str(h)?,
            HostPattern::Subdomains(d) => write!(f, "*.{d}")?,
            HostPattern::Any => f.write_str("*")?,
        }
        match self.port {
            None => f.write_str(":*"),
            Some(p) if p == default_port(&self.scheme) => Ok(()),
            Some(p) => write!(f, ":{p}"),
        }
    }
}

impl TryFrom<String> for NetRule {
    type Error = RuleError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        NetRule::parse(&s)
    }
}

impl From<NetRule> for String {
    fn from(r: NetRule) -> String {
        r.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match_table() {
        // (rule, scheme, host, port, matches)
        let table = [
            (
                "https://api.github.com",
                "https",
                "api.github.com",
                443,
                true,
            ),
            (
                "https://api.github.com",
                "https",
                "API.GitHub.com.",
                443,
                true,
            ),
            (
                "https://api.github.com",
                "http",
                "api.github.com",
                80,
                false,
            ),
            (
                "https://api.github.com",
                "https",
                "api.github.com",
                8443,
                false,
            ),
            (
                "https://api.github.com",
                "https",
                "evil-api.github.com",
                443,
                false,
            ),
            ("api.github.com", "https", "api.github.com", 443, true),
            (
                "https://*.example.com",
                "https",
                "a.b.example.com",
                443,
                true,
            ),
            ("https://*.example.com", "https", "example.com", 443, false),
            (
                "https://*.example.com",
                "https",
                "badexample.com",
                443,
                false,
            ),
            ("http://127.0.0.1:8080", "http", "127.0.0.1", 8080, true),
            ("http://127.0.0.1:8080", "http", "127.0.0.1", 8081, false),
            ("http://[::1]:8080", "http", "[::1]", 8080, true),
            ("http://*:*", "http", "anything.at.all", 1234, true),
            ("http://localhost:*", "http", "localhost", 9, true),
        ];
        for (rule, scheme, host, port, want) in table {
            let r = NetRule::parse(rule).unwrap();
            assert_eq!(
                r.matches(scheme, host, port),
                want,
                "{rule} vs {scheme}://{host}:{port}"
            );
        }
    }

    #[test]
    fn only_ip_literals_and_localhost_reach_internal_addresses() {
        for (rule, internal) in [
            ("http://127.0.0.1:80", true),
            ("http://[::1]:80", true),
            ("http://localhost:80", true),
            ("https://api.example.com", false),
            ("https://*.example.com", false),
            ("http://*:*", false),
        ] {
            assert_eq!(
                NetRule::parse(rule).unwrap().may_reach_internal(),
                internal,
                "{rule}"
            );
        }
    }

    #[test]
    fn rejects_bad_entries_with_the_entry_named() {
        for bad in [
            "ftp://x.com",
            "https://x.com/path",
            "https://u@x.com",
            "https://x.com:0",
            "https://a.*.com",
            "https://",
            "https://[::1",
        ] {
            let e = NetRule::parse(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "https://api.github.com",
            "http://127.0.0.1:8080",
            "https://*.example.com",
            "http://[::1]:9000",
            "http://*:*",
        ] {
            assert_eq!(NetRule::parse(s).unwrap().to_string(), s);
        }
    }
}
