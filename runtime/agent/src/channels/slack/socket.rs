//! The Socket Mode receive loop: learn the bot's user id (`auth.test`),
//! open a connection URL (`apps.connections.open`, app token), read frames
//! in order, hand each envelope's event to the hub and acknowledge the
//! envelope only after the hub recorded it. A `disconnect` frame opens a
//! new URL at once; errors reconnect with backoff; a refused token stops
//! the channel ([`Health::Failed`]) until the owner fixes it.
//!
//! Slack delivers at least once: an envelope not acknowledged before a
//! connection ends comes again (same `event_id`) and the hub drops the
//! copy.

use super::Slack;
use super::api::Token;
use super::events::{self, Frame, Item, Pressed};
use crate::channels::{Ack, ChannelError, Health, Hub, backoff};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How often the adapter pings Slack.
const PING_EVERY: Duration = Duration::from_secs(30);
/// A connection silent this long is taken as dead.
const SILENT_FOR: Duration = Duration::from_secs(90);
/// How long Slack has to say hello on a new connection.
const HELLO_WITHIN: Duration = Duration::from_secs(30);

/// How one connection ended.
enum End {
    /// Asked to stop.
    Stopped,
    /// Slack asked for a new connection (`disconnect`).
    Refresh,
    /// Something failed; retry after backoff (or the platform's wait).
    Down(String, Option<Duration>),
    /// The owner must fix something; not retried.
    Failed(String),
}

/// Receive until `stop`.
pub async fn run(slack: Arc<Slack>, hub: Arc<Hub>, stop: CancellationToken) {
    let mut attempt = 0u32;
    loop {
        if stop.is_cancelled() {
            return;
        }
        match connect(&slack, &hub, &stop, &mut attempt).await {
            End::Stopped => return,
            End::Refresh => {
                tracing::debug!("slack: Socket Mode connection refresh");
            }
            End::Failed(reason) => {
                tracing::warn!("{reason}");
                hub.set_health("slack", Health::Failed { reason });
                return;
            }
            End::Down(reason, wait) => {
                let delay = wait.unwrap_or_default().max(backoff(attempt));
                attempt = attempt.saturating_add(1);
                tracing::warn!("{reason}; reconnecting in {} s", delay.as_secs());
                hub.set_health("slack", Health::Down { reason });
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// How a failed Web API call ends the connection attempt.
fn ended(e: ChannelError, slack: &Slack) -> End {
    match e {
        ChannelError::Unauthorized { secret, .. } => End::Failed(format!(
            "slack: Slack refused the token in secret `{secret}`; set a valid one with `chitin secret set {secret}` and restart the daemon"
        )),
        ChannelError::RateLimited { retry_after, .. } => {
            End::Down(slack.api.redact(&e.to_string()), Some(retry_after))
        }
        other => End::Down(slack.api.redact(&other.to_string()), None),
    }
}

async fn connect(
    slack: &Arc<Slack>,
    hub: &Arc<Hub>,
    stop: &CancellationToken,
    attempt: &mut u32,
) -> End {
    let bot = match slack.bot_user().await {
        Ok(b) => b,
        Err(e) => return ended(e, slack),
    };
    let url = match slack
        .api
        .call(Token::App, "apps.connections.open", &json!({}))
        .await
    {
        Ok(v) => v.get("url").and_then(Value::as_str).map(str::to_string),
        Err(e) => return ended(e, slack),
    };
    let Some(url) = url.filter(|u| acceptable_url(u, slack.api.is_plain_http())) else {
        return End::Down(
            "slack: apps.connections.open gave no usable wss:// URL".into(),
            None,
        );
    };
    let mut socket = tokio::select! {
        _ = stop.cancelled() => return End::Stopped,
        s = crate::channels::tls::websocket(&url) => match s {
            Ok(s) => s,
            Err(e) => return End::Down(format!("slack: {}", slack.api.redact(&e)), None),
        },
    };
    let opened = Instant::now();
    let mut hello = false;
    let mut last_heard = Instant::now();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => {
                let _ = socket.close(None).await;
                return End::Stopped;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENT_FOR {
                    return End::Down("slack: nothing heard from Slack for 90 s".into(), None);
                }
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return End::Down("slack: the connection broke".into(), None);
                }
                continue;
            }
            _ = tokio::time::sleep(HELLO_WITHIN.saturating_sub(opened.elapsed())), if !hello => {
                return End::Down("slack: no hello on the new connection".into(), None);
            }
            m = socket.next() => m,
        };
        last_heard = Instant::now();
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Ping(p))) => {
                if socket.send(Message::Pong(p)).await.is_err() {
                    return End::Down("slack: the connection broke".into(), None);
                }
                continue;
            }
            Some(Ok(Message::Close(_))) | None => {
                return End::Down("slack: Slack closed the connection".into(), None);
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                let detail = chitin_sandbox::text::one_line(&e.to_string(), 120);
                return End::Down(format!("slack: the connection failed ({detail})"), None);
            }
        };
        let frame = match events::parse(text.as_str(), Some(&bot)) {
            Ok(f) => f,
            Err(why) => {
                tracing::warn!("slack: skipped a malformed frame: {why}");
                continue;
            }
        };
        match frame {
            Frame::Hello => {
                hello = true;
                *attempt = 0;
                hub.set_health("slack", Health::Connected);
            }
            Frame::Disconnect { reason } => {
                tracing::debug!("slack: disconnect ({reason})");
                let _ = socket.close(None).await;
                return if hello {
                    End::Refresh
                } else {
                    End::Down(
                        format!("slack: Slack ended the connection ({reason})"),
                        None,
                    )
                };
            }
            Frame::Other => {}
            Frame::Envelope { envelope_id, item } => {
                let answered = match item {
                    Ok(Some(item)) => {
                        let Item { inbound, pressed } = *item;
                        let to = Presser {
                            channel: inbound.chat.chat.clone(),
                            thread_ts: inbound.chat.thread.clone(),
                            user: inbound.sender.id.clone(),
                        };
                        let ack = hub.receive(inbound).await;
                        let worth = ack.notice.is_some() || (ack.resolved && pressed.is_some());
                        worth.then_some((to, pressed, ack))
                    }
                    Ok(None) => None,
                    Err(why) => {
                        tracing::warn!("slack: skipped a malformed envelope: {why}");
                        None
                    }
                };
                let ack = json!({ "envelope_id": envelope_id }).to_string();
                if socket.send(Message::text(ack)).await.is_err() {
                    return End::Down("slack: the connection broke".into(), None);
                }
                if let Some((to, pressed, ack)) = answered {
                    tokio::spawn(answer(slack.clone(), to, pressed, ack));
                }
            }
        }
    }
}

/// Slack's connection URL: `wss://`, or `ws://` only when the Web API
/// itself is plain HTTP (a local test server).
fn acceptable_url(url: &str, plain_http: bool) -> bool {
    let l = url.to_ascii_lowercase();
    url.len() <= 2048 && (l.starts_with("wss://") || (plain_http && l.starts_with("ws://")))
}

/// Who an answer to an event goes to.
struct Presser {
    channel: String,
    thread_ts: Option<String>,
    user: String,
}

/// Show the hub's notice (a refusal, a rate limit, a decision) to the
/// sender only; once a pressed button's question is settled, replace its
/// buttons with the decision.
async fn answer(slack: Arc<Slack>, to: Presser, pressed: Option<Pressed>, ack: Ack) {
    if let Some(notice) = &ack.notice {
        let mut body = json!({
            "channel": to.channel,
            "user": to.user,
            "text": super::mrkdwn::to_mrkdwn(notice),
        });
        if let Some(t) = &to.thread_ts {
            body["thread_ts"] = json!(t);
        }
        if let Err(e) = slack.call_retrying("chat.postEphemeral", &body).await {
            let e = slack.api.redact(&e.to_string());
            tracing::warn!("slack: cannot show the notice: {e}");
        }
    }
    let Some(p) = pressed.filter(|_| ack.resolved) else {
        return;
    };
    let Some(ts) = &p.message_ts else {
        return;
    };
    // The hub's word when it has one ("no longer open"), else the press.
    let decision = match &ack.notice {
        Some(n) => super::mrkdwn::escape(&chitin_sandbox::text::one_line(n, 200)),
        None if p.approve => "Approved.".into(),
        None => "Denied.".into(),
    };
    let body = json!({
        "channel": p.channel,
        "ts": ts,
        "text": &decision,
        "blocks": [{
            "type": "section",
            "text": { "type": "mrkdwn", "text": decided(&p.question, &decision) },
        }],
    });
    if let Err(e) = slack.call_retrying("chat.update", &body).await {
        let e = slack.api.redact(&e.to_string());
        tracing::warn!("slack: cannot update the approval message: {e}");
    }
}

/// The question (escaped, capped to fit a section block) and the decision.
fn decided(question: &str, decision: &str) -> String {
    let q: String = question.chars().take(2900).collect();
    if q.is_empty() {
        format!("*{decision}*")
    } else {
        format!("{q}\n\n*{decision}*")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_urls() {
        assert!(acceptable_url(
            "wss://wss-primary.slack.com/link/?ticket=1",
            false
        ));
        assert!(!acceptable_url("ws://evil.example/link", false));
        assert!(acceptable_url("ws://127.0.0.1:9/link", true));
        assert!(!acceptable_url("https://x", true));
    }
}
