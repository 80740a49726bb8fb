//! The gateway websocket's parts: sends with a deadline, the heartbeat's
//! schedule (kept while the hub works), how a connection ends and what a
//! close code means, and which gateway URLs are connected to.

use crate::channels::tls;
use chitin_sandbox::text::one_line;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How long the gateway has to say Hello, and a send to complete.
pub(super) const STEP: Duration = Duration::from_secs(10);

/// A websocket to the gateway.
pub(super) type Socket = tls::Socket;

/// How a connection ended.
pub(super) enum End {
    /// Asked to stop.
    Stop,
    /// Cannot work until the owner fixes something.
    Fatal(String),
    /// A privileged intent is not enabled for the bot (close code 4014).
    Disallowed,
    /// Connect again after a backoff.
    Retry {
        /// Why (shown as the channel's health).
        reason: String,
        /// The session is still good.
        resume: bool,
        /// The connection had been serving (the backoff starts over).
        ready: bool,
    },
}

/// [`End::Retry`].
pub(super) fn retry(reason: impl Into<String>, resume: bool, ready: bool) -> End {
    End::Retry {
        reason: reason.into(),
        resume,
        ready,
    }
}

/// Whether the gateway `url` may be connected to (only `wss://`, unless the
/// API itself is plain HTTP on a test server).
pub(super) fn url_ok(url: &str, insecure: bool) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("wss://") || (insecure && lower.starts_with("ws://")))
        && url.len() <= 200
        && !url.contains(['?', '#'])
        && url.bytes().all(|b| b.is_ascii_graphic())
}

/// The heartbeat's schedule.
pub(super) struct Beat {
    pub(super) interval: Duration,
    pub(super) next: Instant,
    /// Whether the last heartbeat was acknowledged.
    pub(super) acked: bool,
}

/// Await the hub's `work`, heartbeating meanwhile: a slow hub must not let
/// the gateway take the connection for dead. The work always completes (an
/// event half-recorded would be lost: Resume replays only what comes after
/// `seq`); a failed heartbeat is returned with its result.
pub(super) async fn beating<T>(
    ws: &mut Socket,
    seq: Option<u64>,
    beat: &mut Beat,
    work: impl Future<Output = T>,
) -> (T, Option<String>) {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return (out, None),
            _ = sleep_until(beat.next) => {
                if let Err(e) = send(ws, &json!({"op": 1, "d": seq})).await {
                    return (work.await, Some(e));
                }
                // The ACK is read after the work; no zombie check meanwhile.
                beat.acked = false;
                beat.next = Instant::now() + beat.interval;
            }
        }
    }
}

/// A close that keeps the session resumable (1000 and 1001 end it).
pub(super) fn resumable_close() -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(4000),
        reason: "reconnecting".into(),
    }
}

pub(super) fn lost(e: &tokio_tungstenite::tungstenite::Error) -> String {
    format!("gateway connection lost: {}", one_line(&e.to_string(), 200))
}

/// What a close frame from the gateway means.
pub(super) fn closed(frame: Option<&CloseFrame>, ready: bool, secret: &str) -> End {
    let Some(frame) = frame else {
        return retry("the gateway closed the connection", true, ready);
    };
    let code = u16::from(frame.code);
    let why = one_line(&frame.reason, 100);
    match code {
        4004 => End::Fatal(format!(
            "the gateway refused the bot token in secret `{secret}` (close code 4004, authentication failed); set a valid one with `chitin secret set {secret}` and restart the daemon"
        )),
        4014 => End::Disallowed,
        4013 => End::Fatal("the gateway refused the intents as invalid (close code 4013)".into()),
        4010..=4012 => End::Fatal(format!("the gateway closed with code {code}: {why}")),
        4007 | 4009 => retry(
            format!("the gateway ended the session (code {code})"),
            false,
            ready,
        ),
        _ => retry(
            format!("the gateway closed the connection (code {code})"),
            true,
            ready,
        ),
    }
}

pub(super) async fn send(ws: &mut Socket, v: &Value) -> Result<(), String> {
    match timeout(STEP, ws.send(Message::text(v.to_string()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(lost(&e)),
        Err(_) => Err("a send to the gateway timed out".to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::gateway::INTENTS;
    use super::*;

    #[test]
    fn gateway_urls_and_close_codes() {
        assert!(url_ok("wss://gateway.discord.gg", false));
        assert!(!url_ok("ws://gateway.discord.gg", false));
        assert!(url_ok("ws://127.0.0.1:5", true));
        assert!(!url_ok("wss://x/?v=9", false));
        assert!(!url_ok("https://x", true));
        assert_eq!(INTENTS, 37376);
        let frame = |c: u16| CloseFrame {
            code: CloseCode::from(c),
            reason: "r".into(),
        };
        assert!(
            matches!(closed(Some(&frame(4004)), true, "S"), End::Fatal(r) if r.contains("4004") && r.contains("`S`"))
        );
        assert!(matches!(
            closed(Some(&frame(4014)), true, "S"),
            End::Disallowed
        ));
        assert!(matches!(
            closed(Some(&frame(4009)), true, "S"),
            End::Retry { resume: false, .. }
        ));
        assert!(matches!(
            closed(Some(&frame(4000)), true, "S"),
            End::Retry {
                resume: true,
                ready: true,
                ..
            }
        ));
        assert!(matches!(
            closed(None, false, "S"),
            End::Retry { resume: true, .. }
        ));
    }
}
