//! Channels: the chat apps people reach the agent from (Telegram, Slack,
//! Discord). Each platform is one adapter behind [`Channel`] (receive,
//! send a chunk, ask with buttons, show typing); everything that must hold
//! the same way on every platform is in the [`hub`]: who may talk to the
//! agent ([`hub`] with the pairings in the store), rate limits ([`rate`]),
//! one session and one queue per chat, commands (`/new`, `/stop`,
//! `/status`), approvals only the paired sender can answer, chunking
//! ([`chunk`]) and the durable inbox that makes a restart neither lose nor
//! double-answer a message.
//!
//! ```text
//! platform ──▶ adapter.run ──▶ hub.receive ─┬─ unknown sender → pairing code
//!                                           ├─ button → Turns::answer (owner only)
//!                                           └─ inbox (SQLite) → chat queue → Turns::start
//!                                                 answer ──▶ chunk ──▶ adapter.send
//! ```
//!
//! Everything a platform delivers is hostile text: adapters cap its size
//! and the hub never shows it as the host's words.

pub mod chunk;
pub mod discord;
pub mod hub;
pub mod rate;
pub mod slack;
pub mod telegram;
mod tls;

pub use hub::{Hub, HubError};

use crate::provider::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// Longest text the hub accepts from one inbound message (longer is cut,
/// and the sender told).
pub const MAX_INBOUND_CHARS: usize = 16_000;

/// Where a message came from and where its answer goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatRef {
    /// The channel's name: `telegram`, `slack` or `discord`.
    pub channel: String,
    /// The platform's id of the chat (Telegram chat id, Slack channel id,
    /// Discord channel id).
    pub chat: String,
    /// A thread inside it (Slack `thread_ts`, Telegram
    /// `message_thread_id`), which gets its own session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// Anything but a direct message with the bot.
    #[serde(default)]
    pub group: bool,
}

impl ChatRef {
    /// A direct-message chat.
    pub fn direct(channel: &str, chat: &str) -> Self {
        ChatRef {
            channel: channel.into(),
            chat: chat.into(),
            thread: None,
            group: false,
        }
    }

    /// The chat's key in the store: `channel:chat[/thread]`.
    pub fn key(&self) -> String {
        match &self.thread {
            Some(t) => format!("{}:{}/{}", self.channel, self.chat, t),
            None => format!("{}:{}", self.channel, self.chat),
        }
    }

    /// A delivery target as written in config (`telegram:CHAT`,
    /// `slack:CHANNEL`, `discord:CHANNEL`); `None` when malformed.
    pub fn parse_target(target: &str) -> Option<Self> {
        let (channel, chat) = target.split_once(':')?;
        let ok_chat = !chat.is_empty()
            && chat.len() <= 64
            && chat
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (matches!(channel, "telegram" | "slack" | "discord") && ok_chat)
            .then(|| ChatRef::direct(channel, chat))
    }
}

/// Who sent it, as the platform identifies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// The platform's stable user id (never the display name).
    pub id: String,
    /// A display name, for the owner's eyes only (hostile text).
    pub name: String,
}

/// What arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A message. Text starting with `/` is a command (`/new`, `/stop`,
    /// `/status`; `/cmd@botname` is accepted), parsed by the hub.
    Message {
        /// Its text (the bot's own mention may be left in).
        text: String,
        /// Whether the bot was mentioned (or replied to): needed in groups.
        mentioned: bool,
    },
    /// A command the platform delivered as such (Slack slash command,
    /// Discord application command), without the `/`.
    Command {
        /// `new`, `stop`, `status`, …
        name: String,
        /// Whatever followed it.
        args: String,
    },
    /// An approval button was pressed.
    Button {
        /// The approval it answers.
        approval_id: String,
        /// Approve (true) or deny.
        approve: bool,
    },
}

/// One event from a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// The chat it happened in.
    pub chat: ChatRef,
    /// Who did it.
    pub sender: Sender,
    /// The platform's id of this event, unique within the channel
    /// (Telegram `update_id`, Slack `event_id`/envelope, Discord message or
    /// interaction id): a redelivered event is recognised and dropped.
    pub id: String,
    /// What happened.
    pub event: Event,
}

/// The hub's answer to an inbound event, for the adapter to acknowledge it
/// the platform's way (a pressed button must be answered).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ack {
    /// Shown to the sender only (Telegram callback answer, Slack
    /// ephemeral message, Discord ephemeral response), if anything.
    pub notice: Option<String>,
    /// For a button: the question is settled, so its buttons may go.
    pub resolved: bool,
}

/// How a channel is doing, for `chitin channels status` and doctor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    /// Not connected yet.
    Starting,
    /// Connected and receiving.
    Connected,
    /// Cannot connect; retrying.
    Down {
        /// Why (never carries a token).
        reason: String,
    },
    /// Cannot run until the owner fixes something (missing or refused
    /// token); not retried.
    Failed {
        /// What to fix.
        reason: String,
    },
}

/// A platform call that failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// The platform asked to slow down.
    #[error("{channel}: rate limited by the platform; retrying after {retry_after:?}")]
    RateLimited {
        /// The channel.
        channel: String,
        /// How long the platform asked to wait.
        retry_after: Duration,
    },
    /// The platform is down or unreachable (5xx, network): retried.
    #[error("{channel}: {detail}")]
    Unavailable {
        /// The channel.
        channel: String,
        /// What happened (no token in it).
        detail: String,
    },
    /// The platform refused the request itself (4xx other than 401/403/429):
    /// not retried.
    #[error("{channel}: the platform refused the request: {detail}")]
    Rejected {
        /// The channel.
        channel: String,
        /// The platform's reason (cleaned, capped).
        detail: String,
    },
    /// The token is missing, wrong or revoked.
    #[error(
        "{channel}: the token in secret `{secret}` was refused; set a valid one with `chitin secret set {secret}` and restart the daemon"
    )]
    Unauthorized {
        /// The channel.
        channel: String,
        /// The secret holding the token.
        secret: String,
    },
}

impl ChannelError {
    /// Whether sending again later may work.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ChannelError::RateLimited { .. } | ChannelError::Unavailable { .. }
        )
    }

    /// How long to wait before the next attempt, when the platform said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ChannelError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// A chat platform. Adapters own the wire format; the hub owns policy.
pub trait Channel: Send + Sync + 'static {
    /// `telegram`, `slack` or `discord` (matches [`ChatRef::channel`]).
    fn name(&self) -> &'static str;

    /// Longest Markdown chunk the hub hands to [`Channel::send`], chosen so
    /// that it still fits the platform's limit once converted.
    fn max_chunk(&self) -> usize;

    /// Send one chunk of Markdown to the chat (converted to what the
    /// platform renders, mentions neutralised), with Approve/Deny buttons
    /// answering `approval` when set.
    fn send<'a>(
        &'a self,
        chat: &'a ChatRef,
        markdown: &'a str,
        approval: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ChannelError>>;

    /// Show "typing…" in the chat (best effort; the hub ignores failures).
    fn typing<'a>(&'a self, chat: &'a ChatRef) -> BoxFuture<'a, Result<(), ChannelError>>;

    /// Receive until `stop`: connect, hand every event to
    /// [`Hub::receive`] in the order the platform sent them (acknowledge an
    /// event to the platform only after `receive` returned), reconnect with
    /// backoff, and report [`Health`] through [`Hub::set_health`]. A
    /// malformed event is logged and skipped, never fatal.
    fn run(self: Arc<Self>, hub: Arc<Hub>, stop: CancellationToken) -> BoxFuture<'static, ()>;
}

/// A configured channel that cannot start: (name, why).
pub type Failed = (String, String);

/// The configured channels' adapters, each with its token read from the
/// secret store, and the ones that cannot start with why (`(name, reason)`).
pub fn build(
    section: &crate::agent::config::ChannelsSection,
    secrets: &std::path::Path,
) -> (Vec<Arc<dyn Channel>>, Vec<Failed>) {
    use chitin_sandbox::capabilities::secrets::SecretStore;
    let mut ok: Vec<Arc<dyn Channel>> = Vec::new();
    let mut failed = Vec::new();
    if section.configured().is_empty() {
        return (ok, failed);
    }
    let store = match SecretStore::open(secrets) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("channels: cannot open the secret store: {e}");
            None
        }
    };
    let token = |channel: &str, name: &str| -> Result<String, String> {
        store
            .as_ref()
            .and_then(|s| s.get(name))
            .map(str::to_string)
            .ok_or_else(|| {
                format!("{channel}: secret `{name}` is not set; run `chitin secret set {name}` and restart the daemon")
            })
    };
    if let Some(t) = &section.telegram {
        match token("telegram", &t.secret).and_then(|k| telegram::Telegram::new(t, k)) {
            Ok(c) => ok.push(Arc::new(c)),
            Err(e) => failed.push(("telegram".to_string(), e)),
        }
    }
    if let Some(s) = &section.slack {
        let made = token("slack", &s.app_secret).and_then(|app| {
            token("slack", &s.bot_secret).and_then(|bot| slack::Slack::new(s, app, bot))
        });
        match made {
            Ok(c) => ok.push(Arc::new(c)),
            Err(e) => failed.push(("slack".to_string(), e)),
        }
    }
    if let Some(d) = &section.discord {
        match token("discord", &d.secret).and_then(|k| discord::Discord::new(d, k)) {
            Ok(c) => ok.push(Arc::new(c)),
            Err(e) => failed.push(("discord".to_string(), e)),
        }
    }
    (ok, failed)
}

/// Backoff between reconnects: 1 s doubling to 60 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(6)).min(Duration::from_secs(60))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = ChatRef::parse_target("telegram:-100123").unwrap();
        assert_eq!(t.key(), "telegram:-100123");
        assert!(ChatRef::parse_target("irc:x").is_none());
        assert!(ChatRef::parse_target("slack:").is_none());
        assert!(ChatRef::parse_target("slack:a/b").is_none());
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(20), Duration::from_secs(60));
    }
}
