//! Outbound HTTP, enforced in one hook that every `wasi:http` request
//! passes: the allow-list (scheme, host, port, `*.` wildcard), a per-call
//! request cap, refusal of guest-set secret headers, then (in `send`) DNS
//! resolution with a check of every resolved address, a connection to the
//! vetted address only (no second lookup to rebind), secret injection, and a
//! response body capped in bytes with secrets redacted.
//!
//! Redirects are not followed by the host: the guest sees the 3xx and must
//! issue a new request, which passes this hook again.

mod body;
pub mod dns;
pub mod ip;
pub mod rules;
mod send;

use super::{CallParts, Factor, SetupError};
use crate::audit::{Audit, Capability};
use crate::capabilities::descriptors::Descriptors;
use crate::capabilities::secrets::InjectedSecret;
use crate::redact::Redactor;
use http::HeaderName;
use rules::NetRule;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

/// Largest outgoing body write the host buffers.
pub const OUTGOING_CHUNK_BYTES: usize = 64 * 1024;

/// The network side of a call's grants, plus its running counters.
pub struct NetHooks {
    rules: Arc<[NetRule]>,
    secrets: Arc<[InjectedSecret]>,
    redactor: Redactor,
    audit: Audit,
    max_requests: u32,
    requests: u32,
    response_budget: Arc<AtomicI64>,
    descriptors: Arc<Descriptors>,
    dns: dns::Dns,
    /// Made at the call's first request, shared by the rest.
    resolver: Option<Result<hickory_resolver::TokioResolver, String>>,
}

/// A request that passed the synchronous checks, ready to resolve and send.
pub(crate) struct Plan {
    scheme: String,
    host: String,
    port: u16,
    /// A matching grant names this address (IP literal or localhost):
    /// non-public addresses allowed.
    internal_ok: bool,
    inject: Vec<(HeaderName, http::HeaderValue, String)>,
    display: String,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl NetHooks {
    /// Hooks enforcing `rules` and injecting `secrets` (scrubbed from
    /// responses by `redactor`), with per-call caps; each open connection
    /// counts against `descriptors`. Names resolve through the system's
    /// resolver unless [`NetHooks::with_dns`] says otherwise.
    pub fn new(
        rules: impl Into<Arc<[NetRule]>>,
        secrets: impl Into<Arc<[InjectedSecret]>>,
        redactor: Redactor,
        audit: Audit,
        max_requests: u32,
        max_response_bytes: u64,
        descriptors: Arc<Descriptors>,
    ) -> Self {
        NetHooks {
            rules: rules.into(),
            secrets: secrets.into(),
            redactor,
            audit,
            max_requests,
            requests: 0,
            response_budget: Arc::new(AtomicI64::new(
                i64::try_from(max_response_bytes).unwrap_or(i64::MAX),
            )),
            descriptors,
            dns: dns::Dns::system(),
            resolver: None,
        }
    }

    /// Resolve names through `dns`.
    pub fn with_dns(mut self, dns: dns::Dns) -> Self {
        self.dns = dns;
        self.resolver = None;
        self
    }

    fn deny(
        &self,
        capability: Capability,
        target: &str,
        reason: String,
        hint: Option<String>,
    ) -> HttpError {
        self.audit.deny(capability, target, reason, hint);
        HttpError::HttpRequestDenied
    }

    /// The synchronous checks: scheme, allow-list, request cap, headers.
    fn check(&mut self, req: &http::Request<WasiBody>) -> Result<Plan, HttpError> {
        let uri = req.uri();
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        let host = uri.host().map(rules::normalize_host).unwrap_or_default();
        let shown = format!("{} {}", req.method(), uri);
        if host.is_empty() || (scheme != "http" && scheme != "https") {
            return Err(self.deny(
                Capability::Net,
                &shown,
                "only http(s) URLs with a host are allowed".into(),
                None,
            ));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            // The Host header is the raw authority: no userinfo games.
            return Err(self.deny(
                Capability::Net,
                &shown,
                "user information in the URL is not allowed".into(),
                None,
            ));
        }
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        self.requests += 1;
        if self.requests > self.max_requests {
            return Err(self.deny(
                Capability::Limit,
                &shown,
                format!("more than {} HTTP requests in one call", self.max_requests),
                Some("raise limits.http_requests in the grant".into()),
            ));
        }
        let matching: Vec<&NetRule> = self
            .rules
            .iter()
            .filter(|r| r.matches(&scheme, &host, port))
            .collect();
        if matching.is_empty() {
            let default = if scheme == "http" { 80 } else { 443 };
            let origin = if port == default {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}:{port}")
            };
            return Err(self.deny(
                Capability::Net,
                &shown,
                format!("{origin} is not in the skill's network grant"),
                Some(format!("grant it with --allow-host {origin}")),
            ));
        }
        let internal_ok = matching.iter().any(|r| r.may_reach_internal());
        let mut inject = Vec::new();
        for s in self.secrets.iter() {
            let name = HeaderName::from_bytes(s.rule.header.as_bytes())
                .map_err(|_| HttpError::HttpRequestDenied)?;
            if req.headers().contains_key(&name) {
                return Err(self.deny(
                    Capability::Secret,
                    &shown,
                    format!(
                        "the skill set header `{name}`, which the host reserves for secret {}",
                        s.rule.name
                    ),
                    None,
                ));
            }
            if s.target.matches(&scheme, &host, port) {
                let value = http::HeaderValue::from_str(&format!("{}{}", s.rule.prefix, s.value))
                    .map_err(|_| {
                    self.deny(
                        Capability::Secret,
                        &shown,
                        format!("secret {} is not a valid header value", s.rule.name),
                        None,
                    )
                })?;
                inject.push((name, value, s.rule.name.clone()));
            }
        }
        Ok(Plan {
            scheme,
            host,
            port,
            internal_ok,
            inject,
            display: shown,
        })
    }
}

/// The network's part of every call: the egress hook with the allow-list
/// and the injected secrets, prepared once per skill.
pub struct NetPlan {
    rules: Arc<[NetRule]>,
    secrets: Arc<[InjectedSecret]>,
    dns: dns::Dns,
}

impl NetPlan {
    /// The plan for `rules`, injecting `secrets`, resolving through `dns`.
    pub fn new(rules: &[NetRule], secrets: Arc<[InjectedSecret]>, dns: dns::Dns) -> Self {
        NetPlan {
            rules: rules.into(),
            secrets,
            dns,
        }
    }
}

impl Factor for NetPlan {
    fn install(&self, call: &mut CallParts) -> Result<(), SetupError> {
        call.net = Some(
            NetHooks::new(
                self.rules.clone(),
                self.secrets.clone(),
                call.redactor.clone(),
                call.audit.clone(),
                call.limits.http_requests,
                u64::from(call.limits.http_response_kib) * 1024,
                call.descriptors.clone(),
            )
            .with_dns(self.dns.clone()),
        );
        Ok(())
    }
}

impl WasiHttpHooks for NetHooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        let reserved: Vec<(HeaderName, String)> = self
            .secrets
            .iter()
            .filter_map(|s| {
                HeaderName::from_bytes(s.rule.header.as_bytes())
                    .ok()
                    .map(|h| (h, s.rule.name.clone()))
            })
            .collect();
        let audit = self.audit.clone();
        Arc::new(move |name: &HeaderName| {
            if let Some((_, secret)) = reserved.iter().find(|(h, _)| h == name) {
                audit.deny(
                    Capability::Secret,
                    format!("set header {name}"),
                    format!("header `{name}` is reserved by the host for secret {secret}"),
                    None,
                );
                return true;
            }
            DEFAULT_FORBIDDEN_HEADERS.contains(name)
        })
    }

    /// Bound what one outgoing body write can pin in host memory (the
    /// default is 1 MiB per body, times every body a skill opens).
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        OUTGOING_CHUNK_BYTES
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        match self.check(&request) {
            Err(e) => Box::new(async move { Err(e) }),
            Ok(plan) => match self.descriptors.connection() {
                Err(refusal) => {
                    let e = self.deny(
                        Capability::Limit,
                        &plan.display,
                        refusal.to_string(),
                        Some("drop responses the skill no longer needs".into()),
                    );
                    Box::new(async move { Err(e) })
                }
                Ok(permit) => Box::new(send::send(
                    plan,
                    self.resolver
                        .get_or_insert_with(|| self.dns.resolver())
                        .clone(),
                    request,
                    options,
                    self.audit.clone(),
                    self.redactor.clone(),
                    self.response_budget.clone(),
                    permit,
                )),
            },
        }
    }
}
