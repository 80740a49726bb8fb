//! Telegram, by long polling the Bot API (no public URL needed): messages
//! and approval-button presses in, HTML-formatted chunks out ([`format`]),
//! approvals as inline keyboards. An update is confirmed to Telegram (the
//! next `getUpdates` offset) only after the hub recorded it, so a crash
//! redelivers it, and the hub drops what it has seen.

pub mod api;
pub mod format;

use super::{Ack, Channel, ChannelError, ChatRef, Event, Health, Hub, Inbound, Sender};
use crate::agent::config::TelegramSection;
use crate::provider::BoxFuture;
use api::Api;
use frankenstein::AsyncTelegramApi;
use frankenstein::ParseMode;
use frankenstein::methods::{
    AnswerCallbackQueryParams, EditMessageReplyMarkupParams, GetUpdatesParams,
    SendChatActionParams, SendMessageParams,
};
use frankenstein::response::MethodResponse;
use frankenstein::types::{
    AllowedUpdate, ChatAction, ChatId, ChatType, InlineKeyboardButton, InlineKeyboardMarkup,
    LinkPreviewOptions, MaybeInaccessibleMessage, Message, ReplyMarkup, User,
};
use frankenstein::updates::{Update, UpdateContent};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The default Bot API.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";

/// Seconds a long poll waits on Telegram's side.
const POLL_SECS: u32 = 25;

/// The Telegram adapter.
pub struct Telegram {
    api: Api,
    /// The bot's `@username`, learned at start (for mentions in groups).
    me: OnceLock<User>,
}

impl Telegram {
    /// An adapter for `section` with the bot `token`.
    pub fn new(section: &TelegramSection, token: String) -> Result<Self, String> {
        let url = section.api_url.as_deref().unwrap_or(DEFAULT_API_URL);
        Ok(Telegram {
            api: Api::new(url, &token, &section.secret)?,
            me: OnceLock::new(),
        })
    }

    async fn poll(
        &self,
        offset: Option<i64>,
        timeout: u32,
    ) -> Result<Vec<serde_json::Value>, ChannelError> {
        let params = GetUpdatesParams::builder()
            .timeout(timeout)
            .limit(100)
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .build();
        let params = GetUpdatesParams { offset, ..params };
        // Parsed one by one below, so one malformed update is skipped alone.
        let resp: MethodResponse<Vec<serde_json::Value>> =
            self.api.request("getUpdates", Some(&params)).await?;
        Ok(resp.result)
    }

    /// The hub's view of one update, if it is one the agent handles.
    fn inbound(&self, update: &Update) -> Option<(Inbound, Option<String>)> {
        let id = update.update_id.to_string();
        match &update.content {
            UpdateContent::Message(m) => {
                let from = m.from.as_deref()?;
                if from.is_bot {
                    return None;
                }
                let text = m.text.clone()?;
                let (text, mentioned) = self.strip_mention(&text, m);
                Some((
                    Inbound {
                        chat: chat_ref(m),
                        sender: sender(from),
                        id,
                        event: Event::Message { text, mentioned },
                    },
                    None,
                ))
            }
            UpdateContent::CallbackQuery(q) => {
                let (approval_id, approve) = parse_button(q.data.as_deref()?)?;
                let chat = match q.message.as_ref()? {
                    MaybeInaccessibleMessage::Message(m) => chat_ref(m),
                    MaybeInaccessibleMessage::InaccessibleMessage(m) => ChatRef {
                        channel: "telegram".into(),
                        chat: m.chat.id.to_string(),
                        thread: None,
                        group: m.chat.type_field != ChatType::Private,
                    },
                };
                Some((
                    Inbound {
                        chat,
                        sender: sender(&q.from),
                        id,
                        event: Event::Button {
                            approval_id,
                            approve,
                        },
                    },
                    Some(q.id.clone()),
                ))
            }
            _ => None,
        }
    }

    /// The text without the bot's `@name`, and whether it named (or
    /// replied to) the bot.
    fn strip_mention(&self, text: &str, m: &Message) -> (String, bool) {
        let Some(me) = self.me.get() else {
            return (text.to_string(), false);
        };
        let replied = m
            .reply_to_message
            .as_ref()
            .and_then(|r| r.from.as_ref())
            .is_some_and(|u| u.id == me.id);
        let Some(name) = &me.username else {
            return (text.to_string(), replied);
        };
        match find_mention(text, name) {
            Some(i) => {
                let mut t = text.to_string();
                t.replace_range(i..i + name.len() + 1, "");
                (t.trim().to_string(), true)
            }
            None => (text.to_string(), replied),
        }
    }

    async fn acknowledge(
        &self,
        query_id: String,
        ack: &Ack,
        inbound: &Inbound,
        message: Option<i32>,
    ) {
        let params = AnswerCallbackQueryParams::builder()
            .callback_query_id(query_id)
            .maybe_text(ack.notice.clone())
            .build();
        if let Err(e) = self.api.answer_callback_query(&params).await {
            tracing::warn!("{e}");
        }
        if ack.resolved
            && let Some(message_id) = message
        {
            let params = EditMessageReplyMarkupParams::builder()
                .chat_id(chat_id(&inbound.chat.chat))
                .message_id(message_id)
                .reply_markup(InlineKeyboardMarkup {
                    inline_keyboard: Vec::new(),
                    force_reply: None,
                })
                .build();
            if let Err(e) = self.api.edit_message_reply_markup(&params).await {
                tracing::warn!("{e}");
            }
        }
    }

    async fn receive(self: &Arc<Self>, hub: &Arc<Hub>, stop: &CancellationToken) {
        let mut offset: Option<i64> = None;
        let mut failures = 0u32;
        let mut started = false;
        while !stop.is_cancelled() {
            if !started {
                match self.api.get_me().await {
                    Ok(me) => {
                        let _ = self.me.set(me.result);
                        started = true;
                    }
                    Err(e @ ChannelError::Unauthorized { .. }) => {
                        hub.set_health(
                            "telegram",
                            Health::Failed {
                                reason: e.to_string(),
                            },
                        );
                        return;
                    }
                    Err(e) => {
                        hub.set_health(
                            "telegram",
                            Health::Down {
                                reason: e.to_string(),
                            },
                        );
                        failures += 1;
                        wait(stop, e.retry_after().unwrap_or(super::backoff(failures))).await;
                        continue;
                    }
                }
            }
            let batch = tokio::select! {
                b = self.poll(offset, POLL_SECS) => b,
                _ = stop.cancelled() => break,
            };
            let updates = match batch {
                Ok(u) => u,
                Err(e @ ChannelError::Unauthorized { .. }) => {
                    hub.set_health(
                        "telegram",
                        Health::Failed {
                            reason: e.to_string(),
                        },
                    );
                    return;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!("{e}");
                    hub.set_health(
                        "telegram",
                        Health::Down {
                            reason: e.to_string(),
                        },
                    );
                    wait(stop, e.retry_after().unwrap_or(super::backoff(failures))).await;
                    continue;
                }
            };
            failures = 0;
            hub.set_health("telegram", Health::Connected);
            for value in updates {
                let Some(update_id) = value.get("update_id").and_then(serde_json::Value::as_i64)
                else {
                    tracing::warn!("telegram: an update without an update_id was skipped");
                    continue;
                };
                offset = Some(offset.map_or(update_id + 1, |o| o.max(update_id + 1)));
                let update: Update = match serde_json::from_value(value) {
                    Ok(u) => u,
                    Err(e) => {
                        tracing::warn!(
                            "telegram: update {update_id} does not parse ({}); skipped",
                            chitin_sandbox::text::one_line(&e.to_string(), 200)
                        );
                        continue;
                    }
                };
                let Some((inbound, query)) = self.inbound(&update) else {
                    continue;
                };
                let message_id = match &update.content {
                    UpdateContent::CallbackQuery(q) => match &q.message {
                        Some(MaybeInaccessibleMessage::Message(m)) => Some(m.message_id),
                        _ => None,
                    },
                    _ => None,
                };
                let ack = hub.receive(inbound.clone()).await;
                if let Some(query) = query {
                    self.acknowledge(query, &ack, &inbound, message_id).await;
                }
            }
        }
        // Confirm what was handled, so a restart is not sent it again (the
        // hub would drop it, but need not see it).
        if offset.is_some() {
            let confirm = self.poll(offset, 0);
            let _ = tokio::time::timeout(Duration::from_secs(3), confirm).await;
        }
    }
}

async fn wait(stop: &CancellationToken, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.cancelled() => {}
    }
}

/// Where `@name` is in `text` as a whole mention (not `@name_else`, not
/// inside an address), if it is. Usernames are ASCII, so comparing ASCII
/// case-insensitively keeps every offset on a character boundary.
fn find_mention(text: &str, name: &str) -> Option<usize> {
    let at = format!("@{name}");
    let hay = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    (0..hay.len().saturating_sub(at.len() - 1)).find(|&i| {
        hay[i..i + at.len()].eq_ignore_ascii_case(at.as_bytes())
            && (i == 0 || !is_word(hay[i - 1]))
            && hay.get(i + at.len()).is_none_or(|b| !is_word(*b))
    })
}

fn chat_ref(m: &Message) -> ChatRef {
    let forum = m.chat.is_forum == Some(true);
    ChatRef {
        channel: "telegram".into(),
        chat: m.chat.id.to_string(),
        thread: m.message_thread_id.filter(|_| forum).map(|t| t.to_string()),
        group: m.chat.type_field != ChatType::Private,
    }
}

fn sender(u: &User) -> Sender {
    let name = match (&u.last_name, &u.username) {
        (Some(l), _) => format!("{} {l}", u.first_name),
        (None, Some(n)) if u.first_name.is_empty() => n.clone(),
        _ => u.first_name.clone(),
    };
    Sender {
        id: u.id.to_string(),
        name: chitin_sandbox::text::one_line(&name, 80),
    }
}

fn chat_id(chat: &str) -> ChatId {
    chat.parse::<i64>()
        .map(ChatId::Integer)
        .unwrap_or_else(|_| ChatId::String(chat.to_string()))
}

/// `ap:ID:y` / `ap:ID:n`, the buttons' callback data.
fn parse_button(data: &str) -> Option<(String, bool)> {
    let rest = data.strip_prefix("ap:")?;
    let (id, answer) = rest.rsplit_once(':')?;
    let approve = match answer {
        "y" => true,
        "n" => false,
        _ => return None,
    };
    (!id.is_empty() && id.len() <= 48).then(|| (id.to_string(), approve))
}

impl Channel for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn max_chunk(&self) -> usize {
        // Telegram's limit is 4096 characters after parsing the markup.
        3500
    }

    fn send<'a>(
        &'a self,
        chat: &'a ChatRef,
        markdown: &'a str,
        approval: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            let markup = approval.map(|id| {
                ReplyMarkup::InlineKeyboardMarkup(InlineKeyboardMarkup {
                    inline_keyboard: vec![vec![
                        button("Approve", format!("ap:{id}:y")),
                        button("Deny", format!("ap:{id}:n")),
                    ]],
                    force_reply: None,
                })
            });
            let thread = chat.thread.as_deref().and_then(|t| t.parse::<i32>().ok());
            let no_preview = LinkPreviewOptions::builder().is_disabled(true).build();
            let params = SendMessageParams::builder()
                .chat_id(chat_id(&chat.chat))
                .text(format::html(markdown))
                .parse_mode(ParseMode::Html)
                .link_preview_options(no_preview.clone())
                .maybe_message_thread_id(thread)
                .maybe_reply_markup(markup.clone())
                .build();
            match self.api.send_message(&params).await {
                Ok(_) => Ok(()),
                // Markup Telegram will not take: the same text, plain.
                Err(ChannelError::Rejected { detail, .. }) if detail.contains("parse entities") => {
                    let plain = SendMessageParams::builder()
                        .chat_id(chat_id(&chat.chat))
                        .text(markdown.to_string())
                        .link_preview_options(no_preview)
                        .maybe_message_thread_id(thread)
                        .maybe_reply_markup(markup)
                        .build();
                    self.api.send_message(&plain).await.map(|_| ())
                }
                Err(e) => Err(e),
            }
        })
    }

    fn typing<'a>(&'a self, chat: &'a ChatRef) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            let params = SendChatActionParams::builder()
                .chat_id(chat_id(&chat.chat))
                .maybe_message_thread_id(chat.thread.as_deref().and_then(|t| t.parse::<i32>().ok()))
                .action(ChatAction::Typing)
                .build();
            self.api.send_chat_action(&params).await.map(|_| ())
        })
    }

    fn run(self: Arc<Self>, hub: Arc<Hub>, stop: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.receive(&hub, &stop).await })
    }
}

fn button(text: &str, data: String) -> InlineKeyboardButton {
    InlineKeyboardButton::builder()
        .text(text)
        .callback_data(data)
        .build()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_found_whole_and_never_cut_a_character() {
        assert_eq!(find_mention("@Chitin_Bot hi", "chitin_bot"), Some(0));
        assert_eq!(find_mention("hi @chitin_bot", "chitin_bot"), Some(3));
        assert_eq!(find_mention("@chitin_botnet", "chitin_bot"), None);
        assert_eq!(find_mention("me@chitin_bot", "chitin_bot"), None);
        // Case changes that alter byte lengths (ẞ → ß, İ → i̇) around it.
        let hostile = "ẞ@chitin_botİ";
        let i = find_mention(hostile, "chitin_bot").unwrap();
        assert!(hostile.is_char_boundary(i) && hostile.is_char_boundary(i + 11));
        assert_eq!(find_mention("İİİ", "chitin_bot"), None);
    }

    #[test]
    fn buttons_parse_and_nothing_else_does() {
        assert_eq!(parse_button("ap:a-1:y"), Some(("a-1".into(), true)));
        assert_eq!(parse_button("ap:a-1:n"), Some(("a-1".into(), false)));
        assert_eq!(parse_button("ap::y"), None);
        assert_eq!(parse_button("ap:x:maybe"), None);
        assert_eq!(parse_button("other"), None);
    }

    #[test]
    fn a_documented_update_becomes_an_inbound_message() {
        // The shape of an update from the Bot API documentation.
        let json = serde_json::json!({
            "update_id": 10000,
            "message": {
                "message_id": 1365, "date": 1441645532,
                "chat": {"id": 1111111, "type": "private", "first_name": "Test"},
                "from": {"id": 1111111, "is_bot": false, "first_name": "Test", "last_name": "Lastname", "username": "Test"},
                "text": "/start"
            }
        });
        let update: Update = serde_json::from_value(json).unwrap();
        let t = Telegram::new(
            &TelegramSection {
                secret: "T".into(),
                groups: vec![],
                api_url: None,
            },
            "1:abc".into(),
        )
        .unwrap();
        let (inbound, query) = t.inbound(&update).unwrap();
        assert!(query.is_none());
        assert_eq!(inbound.id, "10000");
        assert_eq!(inbound.chat.key(), "telegram:1111111");
        assert!(!inbound.chat.group);
        assert_eq!(inbound.sender.id, "1111111");
        assert_eq!(inbound.sender.name, "Test Lastname");
    }
}
