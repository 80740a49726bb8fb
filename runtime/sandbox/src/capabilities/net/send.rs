//! Resolve (asynchronously, see [`super::dns`]), check every address, connect to the vetted one, inject secrets,
//! send. Nothing here re-resolves the name, so DNS rebinding between the
//! check and the connection is impossible.

use super::Plan;
use super::body::GuardedBody;
use super::dns::{self, DnsError};
use super::ip::non_public_reason;
use crate::audit::{Audit, Capability};
use crate::capabilities::descriptors::Permit;
use crate::redact::Redactor;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// A name that does not resolve is the skill's failure, not a denial:
/// it is reported to the skill as a DNS error and not audited.
async fn resolve(
    plan: &Plan,
    resolver: &Result<hickory_resolver::TokioResolver, String>,
) -> Result<Vec<IpAddr>, HttpError> {
    dns::resolve(resolver, &plan.host).await.map_err(|e| {
        tracing::debug!("{e}");
        match e {
            DnsError::Timeout(_) => HttpError::DnsTimeout,
            DnsError::NotFound(_) => HttpError::DnsError {
                rcode: Some("NXDOMAIN".into()),
                info_code: None,
            },
            DnsError::Failed { detail, .. } => HttpError::DnsError {
                rcode: Some(detail),
                info_code: None,
            },
        }
    })
}

/// Pick the first address the plan may reach, or explain the refusal.
fn vet(plan: &Plan, ips: &[IpAddr], audit: &Audit) -> Result<SocketAddr, HttpError> {
    let mut refused = Vec::new();
    for ip in ips {
        match non_public_reason(*ip) {
            Some(reason) if !plan.internal_ok => refused.push(format!("{ip} ({reason})")),
            _ => return Ok(SocketAddr::new(*ip, plan.port)),
        }
    }
    let reason = if refused.is_empty() {
        format!("{} resolved to no address", plan.host)
    } else {
        format!(
            "{} resolved to {}: only public addresses are reachable unless the grant names the address itself",
            plan.host,
            refused.join(", ")
        )
    };
    audit.deny(
        Capability::Net,
        &plan.display,
        reason,
        Some(format!(
            "to reach it anyway, grant the address itself (an IP literal or localhost), e.g. --allow-host {}://<IP>:{}", plan.scheme, plan.port
        )),
    );
    Err(HttpError::HttpRequestDenied)
}

type Connection = (
    hyper::client::conn::http1::SendRequest<WasiBody>,
    wasmtime_wasi::runtime::AbortOnDropJoinHandle<Result<(), HttpError>>,
);

/// HTTP/1 over `io`; the connection task is aborted when its handle drops,
/// and holds the call's descriptor `permit` while it lives.
async fn handshake<S>(io: S, permit: Permit) -> Result<Connection, HttpError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    Ok((
        sender,
        wasmtime_wasi::runtime::spawn(async move {
            let _permit = permit;
            conn.await.map_err(HttpError::from)
        }),
    ))
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn send(
    plan: Plan,
    resolver: Result<hickory_resolver::TokioResolver, String>,
    mut req: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    audit: Audit,
    redactor: Redactor,
    budget: Arc<AtomicI64>,
    permit: Permit,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let ips = resolve(&plan, &resolver).await?;
    let addr = vet(&plan, &ips, &audit)?;
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(CONNECT_TIMEOUT)
        .min(CONNECT_TIMEOUT);
    let first_byte_timeout = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(FIRST_BYTE_TIMEOUT)
        .min(FIRST_BYTE_TIMEOUT);

    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| HttpError::ConnectionTimeout)?
        .map_err(HttpError::Connect)?;

    for (name, value, secret) in plan.inject.iter() {
        req.headers_mut().insert(name.clone(), value.clone());
        audit.allow(
            Capability::Secret,
            &plan.display,
            format!("injected secret {secret} as header `{name}`"),
        );
    }
    if !plan.inject.is_empty() {
        // The response may echo the secret: keep it in a form redaction
        // can see whole (no compression, no byte ranges).
        let h = req.headers_mut();
        h.insert(
            http::header::ACCEPT_ENCODING,
            http::HeaderValue::from_static("identity"),
        );
        h.remove(http::header::RANGE);
        h.remove(http::header::IF_RANGE);
    }
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *req.uri_mut() = http::Uri::try_from(path).map_err(|_| HttpError::HttpRequestUriInvalid)?;
    audit.allow(
        Capability::Net,
        &plan.display,
        format!("connected to {addr}"),
    );

    let (mut sender, conn) = if plan.scheme == "https" {
        let name = rustls::pki_types::ServerName::try_from(plan.host.clone())
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let handshake_tls = crate::tls::connector().connect(name, tcp);
        let tls = tokio::time::timeout(connect_timeout, handshake_tls)
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Tls)?;
        handshake(tls, permit).await?
    } else {
        handshake(tcp, permit).await?
    };

    let resp = tokio::time::timeout(first_byte_timeout, sender.send_request(req))
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)??;
    if resp.status().is_redirection()
        && let Some(location) = resp.headers().get(http::header::LOCATION)
    {
        audit.allow(
            Capability::Net,
            &plan.display,
            format!(
                "redirect to {} (not followed by the host; a new request is checked again)",
                redactor.redact(&String::from_utf8_lossy(location.as_bytes()))
            ),
        );
    }
    let (mut parts, incoming) = resp.into_parts();
    let encoded = parts
        .headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if !plan.inject.is_empty() && encoded {
        audit.deny(
            Capability::Secret,
            &plan.display,
            "the response to a request carrying a secret is content-encoded; it could hide an echoed secret from redaction".to_string(),
            None,
        );
        return Err(HttpError::HttpResponseContentCoding(None));
    }
    if !redactor.redact_headers(&mut parts.headers) {
        return Err(HttpError::HttpProtocolError);
    }
    let body =
        GuardedBody::new(incoming, redactor, budget, audit, plan.display.clone()).boxed_unsync();
    let io: IoFuture = Box::new(conn);
    Ok((http::Response::from_parts(parts, body), io))
}
