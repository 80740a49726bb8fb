//! `POST /hooks/NAME`: signed webhooks, for Home Assistant, GitHub and
//! IFTTT-style automations (`[[channels.webhooks]]` in config.toml).
//!
//! Outside the daemon's token guard: each request is checked by its
//! HMAC-SHA256 signature instead ([`verify`]), with the hook's key read from
//! the secret store at start. Everything is refused before a turn starts,
//! in this order: an unknown hook (`404`), a hook whose key is not set
//! (`503`, naming the secret), a body over [`MAX_BODY_BYTES`] (`413`, at
//! once when `Content-Length` says so), a missing, stale or wrong
//! signature (`401`), a replay (`409`), more than [`RATE_PER_MINUTE`]
//! accepted deliveries in a minute or [`MAX_PENDING`] waiting (`429`).
//! Refusals are logged without the body.
//!
//! An accepted delivery becomes a turn in the hook's own session (titled
//! `Webhook: NAME`, kept across restarts), its body given as data
//! ([`payload`]), with nobody to answer approvals ([`Asking::Deny`]).
//! Deliveries to one hook run one after the other. With `deliver`, the
//! answer is `202 {"accepted":true,"session_id"}` at once and the turn's
//! answer goes to that chat; without, the response waits (at most
//! [`ANSWER_WAIT`]) and is `{"session_id","text","stop"}`, or `202` with
//! `"running":true` when the turn takes longer (its answer is in the
//! session).

pub mod payload;
pub mod verify;

use super::turns::{Asking, StartError};
use crate::agent::config::WebhookSection;
use crate::agent::events::{Stop, TurnEvent};
use crate::channels::{ChatRef, Hub};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use verify::{Rate, Seen};

/// Largest body accepted.
pub const MAX_BODY_BYTES: usize = 64 << 10;

/// Accepted deliveries per hook per minute.
pub const RATE_PER_MINUTE: usize = 30;

/// Deliveries of one hook waiting for their turn, at most.
pub const MAX_PENDING: usize = 16;

/// How long a response without `deliver` waits for the answer.
pub const ANSWER_WAIT: Duration = Duration::from_secs(120);

/// How long a delivery waits for another turn in its session to end.
const BUSY_WAIT: Duration = Duration::from_secs(600);

/// One configured hook.
struct Hook {
    name: String,
    secret: String,
    /// The key, or `None` when the secret is not set.
    key: Option<Vec<u8>>,
    /// Where answers go; `Err` with the configured text when malformed.
    deliver: Option<Result<ChatRef, String>>,
    seen: Seen,
    rate: Rate,
    pending: AtomicUsize,
    /// Deliveries run one at a time.
    queue: tokio::sync::Mutex<()>,
}

struct Hooks {
    hub: Arc<Hub>,
    hooks: HashMap<String, Arc<Hook>>,
}

/// The webhook routes (outside the token guard: each request is checked
/// by its signature instead).
pub fn routes(hub: Arc<Hub>, hooks: &[WebhookSection], secrets: &std::path::Path) -> Router {
    let store = if hooks.is_empty() {
        None
    } else {
        match chitin_sandbox::capabilities::secrets::SecretStore::open(secrets) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("webhooks: cannot open the secret store: {e}");
                None
            }
        }
    };
    let mut map = HashMap::new();
    for h in hooks {
        let key = store
            .as_ref()
            .and_then(|s| s.get(&h.secret))
            .map(|k| k.as_bytes().to_vec());
        if key.is_none() {
            tracing::warn!(
                "webhook {}: secret `{}` is not set; run `chitin secret set {}` and restart the daemon",
                h.name,
                h.secret,
                h.secret
            );
        }
        let deliver = h
            .deliver
            .as_ref()
            .map(|d| ChatRef::parse_target(d).ok_or_else(|| d.clone()));
        map.insert(
            h.name.clone(),
            Arc::new(Hook {
                name: h.name.clone(),
                secret: h.secret.clone(),
                key,
                deliver,
                seen: Seen::default(),
                rate: Rate::new(RATE_PER_MINUTE),
                pending: AtomicUsize::new(0),
                queue: tokio::sync::Mutex::new(()),
            }),
        );
    }
    let state = Arc::new(Hooks { hub, hooks: map });
    Router::new()
        .route("/hooks/{name}", post(handle))
        .with_state(state)
}

/// A refusal: logged (never with the body) and answered as JSON.
fn refuse(hook: &str, status: StatusCode, message: String) -> Response {
    tracing::warn!(
        hook = %chitin_sandbox::text::one_line(hook, 60),
        status = status.as_u16(),
        "webhook refused: {message}"
    );
    (status, Json(json!({ "error": message }))).into_response()
}

fn now_secs() -> i64 {
    crate::store::now_ms() / 1000
}

async fn handle(
    State(hooks): State<Arc<Hooks>>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let Some(hook) = hooks.hooks.get(&name).cloned() else {
        return refuse(
            &name,
            StatusCode::NOT_FOUND,
            "no such webhook (they are configured as [[channels.webhooks]] in config.toml)".into(),
        );
    };
    let Some(key) = hook.key.as_deref() else {
        return refuse(
            &name,
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "webhook `{}` has no key: secret `{}` is not set; run `chitin secret set {}` and restart the daemon",
                hook.name, hook.secret, hook.secret
            ),
        );
    };
    if let Some(Err(target)) = &hook.deliver {
        return refuse(
            &name,
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "webhook `{}`: deliver = `{}` is not a chat (`telegram:CHAT`, `slack:CHANNEL` or `discord:CHANNEL`)",
                hook.name,
                chitin_sandbox::text::one_line(target, 60)
            ),
        );
    }
    if let Some(Ok(target)) = &hook.deliver
        && !hooks.hub.health().contains_key(&target.channel)
    {
        return refuse(
            &name,
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "webhook `{}` delivers to {}, but [channels.{}] is not configured",
                hook.name, target.channel, target.channel
            ),
        );
    }
    let (parts, body) = req.into_parts();
    let too_large = || {
        refuse(
            &name,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} KiB", MAX_BODY_BYTES >> 10),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let body = match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Err(e) => {
            return refuse(
                &name,
                StatusCode::REQUEST_TIMEOUT,
                format!("the body could not be read: {e}"),
            );
        }
    };
    let now = now_secs();
    let verified = match verify::verify(key, &parts.headers, &body, now) {
        Ok(v) => v,
        Err(refusal) => return refuse(&name, StatusCode::UNAUTHORIZED, refusal.to_string()),
    };
    if !hook.seen.first_time(&verified, now) {
        return refuse(
            &name,
            StatusCode::CONFLICT,
            "this delivery was received already (same signature or delivery id): a replay is refused".into(),
        );
    }
    if let Err(wait) = hook.rate.allow() {
        hook.seen.forget(&verified);
        let mut r = refuse(
            &name,
            StatusCode::TOO_MANY_REQUESTS,
            format!("more than {RATE_PER_MINUTE} deliveries in a minute; retry later"),
        );
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    if hook.pending.fetch_add(1, Ordering::SeqCst) >= MAX_PENDING {
        hook.pending.fetch_sub(1, Ordering::SeqCst);
        hook.seen.forget(&verified);
        return refuse(
            &name,
            StatusCode::TOO_MANY_REQUESTS,
            format!("{MAX_PENDING} deliveries are already waiting for this hook; retry later"),
        );
    }
    let session = match hooks.hub.session_for(
        &format!("webhook:{}", hook.name),
        &format!("Webhook: {}", hook.name),
    ) {
        Ok(s) => s,
        Err(e) => {
            hook.pending.fetch_sub(1, Ordering::SeqCst);
            hook.seen.forget(&verified);
            return refuse(
                &name,
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the session cannot be opened: {e}"),
            );
        }
    };
    accept(&hooks, hook, session, &parts.headers, &body).await
}

/// What a delivery's turn came to.
struct Outcome {
    stop: Stop,
    text: String,
    error: Option<String>,
}

/// Run the accepted delivery; answer at once (`deliver`) or with the answer.
async fn accept(
    hooks: &Hooks,
    hook: Arc<Hook>,
    session: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let text = payload::turn_text(&hook.name, headers, body);
    tracing::info!(hook = %hook.name, session = %session, bytes = body.len(), "webhook accepted");
    let (tx, rx) = oneshot::channel();
    let hub = hooks.hub.clone();
    let job = {
        let (hook, session) = (hook.clone(), session.clone());
        async move {
            let outcome = run(&hub, &hook, &session, text).await;
            hook.pending.fetch_sub(1, Ordering::SeqCst);
            if let Some(Ok(target)) = &hook.deliver {
                deliver(&hub, &hook.name, target, &outcome).await;
            }
            let _ = tx.send(outcome);
        }
    };
    tokio::spawn(job);
    if hook.deliver.is_some() {
        return (
            StatusCode::ACCEPTED,
            Json(json!({ "accepted": true, "session_id": session })),
        )
            .into_response();
    }
    match tokio::time::timeout(ANSWER_WAIT, rx).await {
        Ok(Ok(o)) => match o.stop {
            Stop::Error | Stop::Cancelled | Stop::Interrupted => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({
                    "error": format!("the turn failed: {}", o.error.as_deref().unwrap_or("see the daemon's log")),
                    "session_id": session,
                    "stop": o.stop,
                })),
            )
                .into_response(),
            _ => Json(json!({ "session_id": session, "text": o.text, "stop": o.stop }))
                .into_response(),
        },
        Ok(Err(_)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "the turn ended abnormally (see the daemon's log)", "session_id": session })),
        )
            .into_response(),
        Err(_) => (
            StatusCode::ACCEPTED,
            Json(json!({
                "accepted": true,
                "session_id": session,
                "running": true,
                "note": format!("no answer within {} s; the turn goes on and its answer will be in the session", ANSWER_WAIT.as_secs()),
            })),
        )
            .into_response(),
    }
}

/// Wait for the hook's earlier deliveries, start the turn (waiting, bounded,
/// while another turn runs in the session) and read it to its end.
async fn run(hub: &Hub, hook: &Hook, session: &str, text: String) -> Outcome {
    let _one_at_a_time = hook.queue.lock().await;
    let failed = |error: String| Outcome {
        stop: Stop::Error,
        text: String::new(),
        error: Some(error),
    };
    let started = tokio::time::Instant::now();
    let mut rx = loop {
        match hub.turns().start_with(session, text.clone(), Asking::Deny) {
            Ok(rx) => break rx,
            Err(StartError::Busy) if started.elapsed() < BUSY_WAIT => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(StartError::Busy) => {
                return failed(format!(
                    "another turn kept the session busy for {} s",
                    BUSY_WAIT.as_secs()
                ));
            }
            Err(StartError::ShuttingDown) => {
                return failed("the daemon is shutting down".into());
            }
        }
    };
    let mut error = None;
    while let Some(event) = rx.recv().await {
        match event {
            TurnEvent::Error { message } => error = Some(message),
            TurnEvent::Done { stop, text } => {
                tracing::info!(hook = %hook.name, session = %session, ?stop, "webhook turn finished");
                return Outcome { stop, text, error };
            }
            _ => {}
        }
    }
    failed("the turn ended without a result".into())
}

/// Send the outcome to the hook's chat (logged when it cannot be sent).
async fn deliver(hub: &Hub, name: &str, target: &ChatRef, o: &Outcome) {
    let text = match o.stop {
        Stop::Error | Stop::Cancelled | Stop::Interrupted => format!(
            "Webhook `{name}`: the turn failed: {}",
            o.error.as_deref().unwrap_or("see the daemon's log")
        ),
        _ if o.text.trim().is_empty() => format!("Webhook `{name}`: (no answer)"),
        _ => format!("Webhook `{name}`:\n\n{}", o.text),
    };
    if let Err(e) = hub.deliver(target, &text).await {
        tracing::warn!(hook = %name, target = %target.key(), "webhook answer not delivered: {e}");
    }
}
