//! Discord: a bot over the gateway (a websocket, so no public URL is
//! needed) and the REST API (v10).
//!
//! - [`gateway`]: Hello, Identify with the message intents, heartbeats
//!   (a missing ACK is a zombie connection: reconnect and Resume), Resume
//!   after a drop, op 7 and op 9, close codes (4004: the token was refused,
//!   not retried), backoff.
//! - [`events`]: `MESSAGE_CREATE` (bots, webhooks and the bot itself
//!   ignored; a direct message has no `guild_id`; the bot's mention is taken
//!   out and counts as `mentioned`) and `INTERACTION_CREATE` (our approval
//!   buttons `ap:ID:y|n`, slash commands) into [`Inbound`]s; interaction
//!   responses (a settled approval edits its message, a refusal is shown to
//!   the presser only).
//! - [`text`]: what the agent sends pings nobody (`allowed_mentions`
//!   empty, and `@everyone`, `@here` and `<@…>` broken with a zero-width
//!   space) and fits 2000 characters.
//! - [`socket`]: sends with a deadline, heartbeats kept while the hub
//!   works, close codes.
//! - [`rest`]: `Authorization: Bot TOKEN`, capped answers, 429/5xx/401/4xx
//!   classified; the token is never in an error, a log line or a message.
//!
//! [`Inbound`]: crate::channels::Inbound

mod events;
mod gateway;
mod rest;
mod socket;
mod text;

use super::{Channel, ChannelError, ChatRef, Hub};
use crate::agent::config::DiscordSection;
use crate::provider::BoxFuture;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// Discord's REST API when `api_url` is not set.
pub const DEFAULT_API_URL: &str = "https://discord.com/api/v10";

/// Longest Markdown chunk the hub sends in one message: under Discord's
/// 2000 characters with room for the mentions broken up.
pub const MAX_CHUNK: usize = 1800;

/// The Discord adapter.
#[derive(Debug)]
pub struct Discord {
    rest: Arc<rest::Rest>,
    /// Whether the slash commands were offered since the start.
    registered: AtomicBool,
}

impl Discord {
    /// An adapter for `section` with the bot `token` (read from
    /// `section.secret`).
    pub fn new(section: &DiscordSection, token: String) -> Result<Self, String> {
        let api = section.api_url.as_deref().unwrap_or(DEFAULT_API_URL);
        let rest = rest::Rest::new(api, token, &section.secret)?;
        Ok(Discord {
            rest: Arc::new(rest),
            registered: AtomicBool::new(false),
        })
    }

    /// Offer `/new`, `/stop` and `/status` as slash commands (once per
    /// start, best effort: typed as messages they work as well).
    fn register_commands(&self, application_id: &str) {
        if self.registered.swap(true, Ordering::SeqCst) {
            return;
        }
        let rest = self.rest.clone();
        let path = format!("applications/{application_id}/commands");
        tokio::spawn(async move {
            if let Err(e) = rest.put(&path, &events::commands()).await {
                tracing::warn!("discord: cannot offer the slash commands: {e}");
            }
        });
    }

    async fn post_message(
        &self,
        chat: &ChatRef,
        markdown: &str,
        approval: Option<&str>,
    ) -> Result<(), ChannelError> {
        let channel = channel_id(chat)?;
        let mut content = text::neutralise(markdown);
        if content.trim().is_empty() {
            if approval.is_none() {
                return Ok(());
            }
            content = "Approval needed.".into();
        }
        let mut body = json!({"content": content, "allowed_mentions": {"parse": []}});
        if let Some(id) = approval {
            body["components"] = events::buttons(id).ok_or_else(|| ChannelError::Rejected {
                channel: "discord".into(),
                detail: "the approval id cannot be carried by a button".into(),
            })?;
        }
        self.rest
            .post(&format!("channels/{channel}/messages"), Some(&body))
            .await
            .map(drop)
    }
}

/// The chat's channel id, checked before it goes into a URL.
fn channel_id(chat: &ChatRef) -> Result<&str, ChannelError> {
    if events::is_snowflake(&chat.chat) {
        Ok(&chat.chat)
    } else {
        Err(ChannelError::Rejected {
            channel: "discord".into(),
            detail: format!(
                "`{}` is not a Discord channel id",
                chitin_sandbox::text::one_line(&chat.chat, 40)
            ),
        })
    }
}

impl Channel for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn max_chunk(&self) -> usize {
        MAX_CHUNK
    }

    fn send<'a>(
        &'a self,
        chat: &'a ChatRef,
        markdown: &'a str,
        approval: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(self.post_message(chat, markdown, approval))
    }

    fn typing<'a>(&'a self, chat: &'a ChatRef) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            let channel = channel_id(chat)?;
            self.rest
                .post(&format!("channels/{channel}/typing"), None)
                .await
                .map(drop)
        })
    }

    fn run(self: Arc<Self>, hub: Arc<Hub>, stop: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(gateway::run(self, hub, stop))
    }
}
