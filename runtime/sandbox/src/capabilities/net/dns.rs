//! Name resolution for skill egress: hickory's async resolver (no
//! `getaddrinfo` on the blocking pool, so a slow or silent resolver costs a
//! timer, not a thread), bounded by [`DNS_TIMEOUT`]. It returns every
//! address (A and AAAA) so `send` can check each one before connecting.
//!
//! The system configuration (`/etc/resolv.conf`, `/etc/hosts`) is read once
//! per process (once it reads well); an embedder or a test can name its own servers instead. A
//! resolver is made per call (it spawns its I/O on the call's runtime and
//! must not outlive it), so answers are not cached between calls, as with
//! `getaddrinfo`.

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The longest a skill's request waits for its name to resolve.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// Most addresses kept from one answer (each is checked before use).
const MAX_ADDRESSES: usize = 32;

/// Where names are resolved: the system's servers, or the ones named.
#[derive(Debug, Clone, Default)]
pub struct Dns {
    servers: Option<Arc<[SocketAddr]>>,
}

/// Why a name did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// No answer within [`DNS_TIMEOUT`].
    #[error("resolving {0} timed out")]
    Timeout(String),
    /// The name has no address.
    #[error("{0} has no address")]
    NotFound(String),
    /// The resolver failed (or could not be set up).
    #[error("resolving {name}: {detail}")]
    Failed {
        /// The name.
        name: String,
        /// What happened.
        detail: String,
    },
}

impl Dns {
    /// The system's resolver configuration (`/etc/resolv.conf`, `/etc/hosts`).
    pub fn system() -> Self {
        Dns { servers: None }
    }

    /// Ask only `servers` (UDP, then TCP when truncated); `/etc/hosts` is
    /// not read. An empty list means the system's configuration.
    pub fn servers(servers: &[SocketAddr]) -> Self {
        Dns {
            servers: (!servers.is_empty()).then(|| servers.into()),
        }
    }

    /// A resolver for one call (it must not outlive the call's runtime).
    pub fn resolver(&self) -> Result<TokioResolver, String> {
        let (config, mut opts) = match &self.servers {
            Some(servers) => {
                let mut config = ResolverConfig::default();
                for addr in servers.iter() {
                    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                    for conn in &mut server.connections {
                        conn.port = addr.port();
                    }
                    config.add_name_server(server);
                }
                let mut opts = ResolverOpts::default();
                opts.use_hosts_file = ResolveHosts::Never;
                (config, opts)
            }
            None => system_conf()?,
        };
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.timeout = DNS_TIMEOUT / 2;
        opts.attempts = 1;
        opts.cache_size = 64;
        let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::new());
        *builder.options_mut() = opts;
        builder.build().map_err(|e| e.to_string())
    }
}

/// `/etc/resolv.conf`, read once per process once it reads well (a failed
/// read is tried again at the next call, so a resolver configured after
/// start is picked up).
fn system_conf() -> Result<(ResolverConfig, ResolverOpts), String> {
    static CONF: OnceLock<(ResolverConfig, ResolverOpts)> = OnceLock::new();
    if let Some(conf) = CONF.get() {
        return Ok(conf.clone());
    }
    let conf = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| format!("the system's DNS configuration could not be read: {e}"))?;
    Ok(CONF.get_or_init(|| conf).clone())
}

/// Every address of `host` (an IP literal is its own answer).
pub async fn resolve(
    resolver: &Result<TokioResolver, String>,
    host: &str,
) -> Result<Vec<IpAddr>, DnsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let resolver = resolver.as_ref().map_err(|e| DnsError::Failed {
        name: host.to_string(),
        detail: e.clone(),
    })?;
    match tokio::time::timeout(DNS_TIMEOUT, resolver.lookup_ip(host)).await {
        Err(_) => Err(DnsError::Timeout(host.to_string())),
        Ok(Err(e)) if e.is_no_records_found() => Err(DnsError::NotFound(host.to_string())),
        Ok(Err(e)) => Err(DnsError::Failed {
            name: host.to_string(),
            detail: e.to_string(),
        }),
        Ok(Ok(answer)) => {
            let ips: Vec<IpAddr> = answer.iter().take(MAX_ADDRESSES).collect();
            if ips.is_empty() {
                Err(DnsError::NotFound(host.to_string()))
            } else {
                Ok(ips)
            }
        }
    }
}
