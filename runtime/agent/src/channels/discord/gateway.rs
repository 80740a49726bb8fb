//! The gateway: one websocket at a time, kept alive by heartbeats, resumed
//! after a drop, and re-identified when the session is gone.
//!
//! ```text
//! GET /gateway/bot ─▶ connect ─▶ Hello ─▶ Identify ─▶ READY (session, resume URL, bot id)
//!                        ▲          │                  │
//!                        │          └─▶ Resume ─▶ (missed events) ─▶ RESUMED
//!                        └── drop, op 7, zombie (no ACK), op 9 ── backoff
//! ```
//!
//! Close code 4004 (the token was refused) and the version codes stop the
//! adapter with [`Health::Failed`]; 4014 (the Message Content intent is not
//! enabled for the bot) makes it identify without that intent; everything
//! else is retried.

use super::Discord;
use super::events::{self, Interaction};
use super::socket::{
    Beat, End, STEP, Socket, beating, closed, lost, resumable_close, retry, send, url_ok,
};
use crate::channels::{Ack, Health, Hub, backoff, tls};
use chitin_sandbox::text::one_line;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT.
pub const INTENTS: u64 = (1 << 9) | (1 << 12) | MESSAGE_CONTENT;
/// The privileged intent for the text of guild messages. Without it direct
/// messages and messages that mention the bot still carry their text, which
/// is all the agent answers, so a bot whose owner did not enable it still
/// works.
const MESSAGE_CONTENT: u64 = 1 << 15;
/// Heartbeat intervals outside this are not believed.
const MIN_BEAT: Duration = Duration::from_millis(100);
const MAX_BEAT: Duration = Duration::from_secs(300);
/// Failed connects to a resume URL before starting a fresh session.
const RESUME_TRIES: u32 = 3;

/// A session that can be resumed.
struct Session {
    id: String,
    resume_url: String,
    /// Connects to `resume_url` that failed in a row.
    failures: u32,
}

/// What outlives one connection.
#[derive(Default)]
struct State {
    session: Option<Session>,
    /// The last dispatch's sequence number.
    seq: Option<u64>,
    /// The bot's user id (from READY).
    bot_id: String,
    /// The intents to identify with.
    intents: u64,
}

/// Receive until `stop`, reconnecting with backoff.
pub async fn run(discord: Arc<Discord>, hub: Arc<Hub>, stop: CancellationToken) {
    let mut state = State {
        intents: INTENTS,
        ..State::default()
    };
    let mut attempt = 0u32;
    loop {
        match connect(&discord, &hub, &mut state, &stop).await {
            End::Stop => break,
            End::Disallowed if state.intents & MESSAGE_CONTENT != 0 => {
                tracing::warn!(
                    "discord: the Message Content intent is not enabled for the bot; working without it (direct messages and mentions keep their text)"
                );
                state.intents &= !MESSAGE_CONTENT;
                state.session = None;
                state.seq = None;
            }
            End::Disallowed => {
                let reason = "the gateway refused the bot's intents (close code 4014)".to_string();
                tracing::error!("discord: {reason}");
                hub.set_health("discord", Health::Failed { reason });
                break;
            }
            End::Fatal(reason) => {
                tracing::error!("discord: {reason}");
                hub.set_health("discord", Health::Failed { reason });
                break;
            }
            End::Retry {
                reason,
                resume,
                ready,
            } => {
                if !resume {
                    state.session = None;
                    state.seq = None;
                }
                if ready {
                    attempt = 0;
                }
                let wait = backoff(attempt);
                attempt = attempt.saturating_add(1);
                tracing::warn!("discord: {reason}; reconnecting in {}s", wait.as_secs());
                hub.set_health("discord", Health::Down { reason });
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Connect once and serve until the connection ends.
async fn connect(d: &Discord, hub: &Arc<Hub>, state: &mut State, stop: &CancellationToken) -> End {
    let insecure = d.rest.insecure();
    let resuming = state.session.is_some();
    let base = match &state.session {
        Some(s) => s.resume_url.clone(),
        None => {
            let got = tokio::select! {
                _ = stop.cancelled() => return End::Stop,
                r = d.rest.get("gateway/bot") => r,
            };
            match got {
                Ok(v) => match v["url"].as_str() {
                    Some(u) if url_ok(u, insecure) => u.to_string(),
                    _ => return retry("GET /gateway/bot gave no usable wss:// URL", false, false),
                },
                Err(crate::channels::ChannelError::Unauthorized { secret, .. }) => {
                    return End::Fatal(format!(
                        "the REST API refused the bot token in secret `{secret}` (401); set a valid one with `chitin secret set {secret}` and restart the daemon"
                    ));
                }
                Err(e) => return retry(format!("cannot get the gateway URL: {e}"), false, false),
            }
        }
    };
    let url = format!("{}/?v=10&encoding=json", base.trim_end_matches('/'));
    let opened = tokio::select! {
        _ = stop.cancelled() => return End::Stop,
        r = tls::websocket(&url) => r,
    };
    let mut ws = match opened {
        Ok(ws) => ws,
        Err(e) => {
            let keep = state.session.as_mut().is_some_and(|s| {
                s.failures += 1;
                s.failures < RESUME_TRIES
            });
            return retry(format!("gateway: {e}"), keep, false);
        }
    };
    let interval = tokio::select! {
        _ = stop.cancelled() => return End::Stop,
        h = hello(&mut ws, d.rest.secret()) => match h {
            Ok(i) => i,
            Err(end) => return end,
        },
    };
    let token = d.rest.token();
    let first = match &mut state.session {
        Some(s) => {
            s.failures = 0;
            json!({"op": 6, "d": {"token": token, "session_id": s.id, "seq": state.seq}})
        }
        None => json!({"op": 2, "d": {
            "token": token,
            "intents": state.intents,
            "properties": {"os": std::env::consts::OS, "browser": "chitin", "device": "chitin"},
        }}),
    };
    if let Err(e) = send(&mut ws, &first).await {
        return retry(e, resuming, false);
    }
    serve(d, hub, state, stop, ws, interval).await
}

/// Wait for Hello; its heartbeat interval.
async fn hello(ws: &mut Socket, secret: &str) -> Result<Duration, End> {
    let deadline = Instant::now() + STEP;
    loop {
        let next = match timeout(
            deadline.saturating_duration_since(Instant::now()),
            ws.next(),
        )
        .await
        {
            Err(_) => return Err(retry("the gateway sent no Hello within 10 s", true, false)),
            Ok(n) => n,
        };
        match next {
            Some(Ok(Message::Text(t))) => {
                let Ok(v) = serde_json::from_str::<Value>(&t) else {
                    tracing::warn!("discord: a malformed gateway message was skipped");
                    continue;
                };
                if v["op"].as_u64() == Some(10) {
                    let ms = v["d"]["heartbeat_interval"].as_u64().unwrap_or(41_250);
                    return Ok(Duration::from_millis(ms).clamp(MIN_BEAT, MAX_BEAT));
                }
            }
            Some(Ok(Message::Close(frame))) => return Err(closed(frame.as_ref(), false, secret)),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(retry(lost(&e), true, false)),
            None => {
                return Err(retry(
                    "the gateway closed the connection before Hello",
                    true,
                    false,
                ));
            }
        }
    }
}

/// The connection's receive loop with its heartbeat.
async fn serve(
    d: &Discord,
    hub: &Arc<Hub>,
    state: &mut State,
    stop: &CancellationToken,
    mut ws: Socket,
    interval: Duration,
) -> End {
    let jitter = f64::from(getrandom::u32().unwrap_or(0) % 1000) / 1000.0;
    let mut beat = Beat {
        interval,
        next: Instant::now() + interval.mul_f64(jitter),
        acked: true,
    };
    let mut ready = false;
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => {
                let _ = timeout(STEP, ws.close(None)).await;
                return End::Stop;
            }
            _ = sleep_until(beat.next) => {
                if !beat.acked {
                    // A zombie: the socket looks open but nothing comes back.
                    let _ = timeout(STEP, ws.close(Some(resumable_close()))).await;
                    return retry("the gateway did not acknowledge a heartbeat", true, ready);
                }
                if let Err(e) = send(&mut ws, &json!({"op": 1, "d": state.seq})).await {
                    return retry(e, true, ready);
                }
                beat.acked = false;
                beat.next = Instant::now() + beat.interval;
                continue;
            }
            n = ws.next() => n,
        };
        let text = match next {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(frame))) => {
                return closed(frame.as_ref(), ready, d.rest.secret());
            }
            Some(Ok(Message::Binary(_))) => {
                tracing::warn!("discord: a binary gateway message was skipped");
                continue;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return retry(lost(&e), true, ready),
            None => return retry("the gateway closed the connection", true, ready),
        };
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(
                    "discord: a malformed gateway message was skipped: {}",
                    one_line(&e.to_string(), 120)
                );
                continue;
            }
        };
        match v["op"].as_u64() {
            Some(0) => {
                if let Some(s) = v["s"].as_u64() {
                    state.seq = Some(s);
                }
                let t = v["t"].as_str().unwrap_or("");
                match t {
                    "READY" => match events::ready(&v["d"]) {
                        Ok(r) if url_ok(&r.resume_url, d.rest.insecure()) => {
                            d.register_commands(&r.application_id);
                            state.bot_id = r.bot_id;
                            state.session = Some(Session {
                                id: r.session_id,
                                resume_url: r.resume_url,
                                failures: 0,
                            });
                            ready = true;
                            tracing::info!("discord: connected to the gateway");
                            hub.set_health("discord", Health::Connected);
                        }
                        Ok(_) => return retry("READY gave no usable resume URL", false, false),
                        Err(why) => return retry(why, false, false),
                    },
                    "RESUMED" => {
                        ready = true;
                        tracing::info!("discord: gateway session resumed");
                        hub.set_health("discord", Health::Connected);
                    }
                    "MESSAGE_CREATE" => match events::message(&v["d"], &state.bot_id) {
                        Ok(Some(inbound)) => {
                            let work = hub.receive(inbound);
                            if let (_, Some(e)) = beating(&mut ws, state.seq, &mut beat, work).await
                            {
                                return retry(e, true, ready);
                            }
                        }
                        Ok(None) => {}
                        Err(why) => tracing::warn!("discord: skipped: {why}"),
                    },
                    "INTERACTION_CREATE" => match events::interaction(&v["d"]) {
                        Ok(Some(i)) => {
                            let (ack, failed) = match &i.inbound {
                                Some(inbound) => {
                                    let work = hub.receive(inbound.clone());
                                    beating(&mut ws, state.seq, &mut beat, work).await
                                }
                                None => (Ack::default(), None),
                            };
                            respond(d, i, &ack);
                            if let Some(e) = failed {
                                return retry(e, true, ready);
                            }
                        }
                        Ok(None) => {}
                        Err(why) => tracing::warn!("discord: skipped: {why}"),
                    },
                    _ => {}
                }
            }
            Some(1) => {
                if let Err(e) = send(&mut ws, &json!({"op": 1, "d": state.seq})).await {
                    return retry(e, true, ready);
                }
            }
            Some(7) => {
                let _ = timeout(STEP, ws.close(Some(resumable_close()))).await;
                return retry("the gateway asked to reconnect", true, ready);
            }
            Some(9) => {
                let resumable = v["d"].as_bool() == Some(true);
                return retry("the gateway invalidated the session", resumable, false);
            }
            Some(11) => beat.acked = true,
            _ => {}
        }
    }
}

/// Answer an interaction the way the hub said (Discord wants an answer
/// within 3 s; it is sent on its own task so the gateway goes on).
fn respond(d: &Discord, i: Interaction, ack: &Ack) {
    let body = events::response(&i, ack);
    let rest = d.rest.clone();
    tokio::spawn(async move {
        let path = format!("interactions/{}/{}/callback", i.id, i.token);
        if let Err(e) = rest.post(&path, Some(&body)).await {
            tracing::warn!("discord: answering an interaction failed: {e}");
        }
    });
}
