//! Socket Mode frames (`hello`, `disconnect`, envelopes) read into what
//! the hub handles. Everything in a frame is hostile: ids must look like
//! Slack's ids (short, `[A-Za-z0-9._-]`), texts are capped, and anything
//! unexpected is skipped with a reason, never a panic.

use super::mrkdwn::from_slack;
use crate::channels::{ChatRef, Event, Inbound, MAX_INBOUND_CHARS, Sender};
use serde_json::Value;

/// Button `action_id`s the adapter sends, and reads back.
pub const APPROVE: &str = "chitin_approve";
/// The Deny button's `action_id`.
pub const DENY: &str = "chitin_deny";

/// Most bytes of a message's text read before converting it.
const MAX_RAW_TEXT: usize = 4 * MAX_INBOUND_CHARS;

/// Most of the question's text kept when its buttons are replaced.
const MAX_QUESTION: usize = 5000;

/// One frame from the Socket Mode websocket.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// The connection is ready.
    Hello,
    /// Slack is about to close this connection: open a new one.
    Disconnect {
        /// `refresh_requested`, `warning`, `link_disabled`, … (capped).
        reason: String,
    },
    /// An envelope, acknowledged by its id whatever `item` holds.
    Envelope {
        /// Its `envelope_id`.
        envelope_id: String,
        /// `Ok(Some)`: for the hub; `Ok(None)`: not for us (a bot's own
        /// message, an edit, another event type); `Err`: malformed.
        item: Result<Option<Box<Item>>, String>,
    },
    /// Some other frame type, ignored.
    Other,
}

/// An envelope's event for the hub.
#[derive(Debug, PartialEq)]
pub struct Item {
    /// What to hand to the hub.
    pub inbound: Inbound,
    /// For an approval button: where to answer the presser.
    pub pressed: Option<Pressed>,
}

/// A pressed approval button.
#[derive(Debug, PartialEq)]
pub struct Pressed {
    /// The channel it was pressed in.
    pub channel: String,
    /// The message holding the buttons.
    pub message_ts: Option<String>,
    /// Approve (true) or Deny.
    pub approve: bool,
    /// The question's text as Slack holds it, made plain and escaped
    /// again (capped), to keep above the decision.
    pub question: String,
}

/// Read one websocket text frame; `bot` is the bot's own user id.
pub fn parse(text: &str, bot: Option<&str>) -> Result<Frame, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    if let Some(raw) = v.get("envelope_id") {
        let envelope_id = slack_id(Some(raw), 128).ok_or("an envelope with a malformed id")?;
        let payload = v.get("payload").unwrap_or(&Value::Null);
        let item = match kind {
            "events_api" => event_item(payload, bot),
            "slash_commands" => command_item(payload, &envelope_id),
            "interactive" => button_item(payload, &envelope_id),
            _ => Ok(None),
        }
        .map(|i| i.map(Box::new));
        return Ok(Frame::Envelope { envelope_id, item });
    }
    Ok(match kind {
        "hello" => Frame::Hello,
        "disconnect" => Frame::Disconnect {
            reason: chitin_sandbox::text::one_line(
                v.get("reason").and_then(Value::as_str).unwrap_or("unknown"),
                60,
            ),
        },
        _ => Frame::Other,
    })
}

/// A Slack id (user, channel, ts, event, trigger): 1 to `max` of
/// `[A-Za-z0-9._-]`.
pub fn slack_id(v: Option<&Value>, max: usize) -> Option<String> {
    let s = v?.as_str()?;
    let ok = !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    ok.then(|| s.to_string())
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn required(v: &Value, path: &[&str]) -> Result<String, String> {
    slack_id(field(v, path), 64).ok_or_else(|| format!("missing or malformed `{}`", path.join(".")))
}

fn optional(v: &Value, path: &[&str]) -> Option<String> {
    slack_id(field(v, path), 64)
}

/// Hostile text from Slack made plain, capped just past the hub's limit (so
/// the hub still sees it was too long and tells the sender).
fn text_of(v: Option<&Value>, bot: Option<&str>) -> (String, bool) {
    let raw = v.and_then(Value::as_str).unwrap_or("");
    let raw = chitin_sandbox::text::cap(raw, MAX_RAW_TEXT);
    let (text, mentioned) = from_slack(&raw, bot);
    let text = if text.chars().count() > MAX_INBOUND_CHARS {
        text.chars().take(MAX_INBOUND_CHARS + 1).collect()
    } else {
        text
    };
    (text, mentioned)
}

fn is_dm(channel: &str) -> bool {
    channel.starts_with('D')
}

fn event_item(payload: &Value, bot: Option<&str>) -> Result<Option<Item>, String> {
    let event = payload
        .get("event")
        .ok_or("an events_api payload without event")?;
    let event_id = required(payload, &["event_id"])?;
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "message" | "app_mention") {
        return Ok(None);
    }
    // Edits, joins, bot posts (ours included) are not messages to answer.
    if event.get("subtype").is_some() || event.get("bot_id").is_some() {
        return Ok(None);
    }
    let user = required(event, &["user"])?;
    if bot == Some(user.as_str()) {
        return Ok(None);
    }
    let channel = required(event, &["channel"])?;
    let thread_ts = optional(event, &["thread_ts"]);
    let chat = if kind == "message" {
        // Direct messages only: in channels the bot answers mentions, which
        // come as `app_mention` (a channel message would come twice).
        if event.get("channel_type").and_then(Value::as_str) != Some("im") {
            return Ok(None);
        }
        ChatRef {
            channel: "slack".into(),
            chat: channel,
            thread: thread_ts,
            group: false,
        }
    } else {
        if is_dm(&channel) {
            return Ok(None);
        }
        // A mention starts a thread at its message (or is in one): the
        // answer goes there.
        let thread = thread_ts.or_else(|| optional(event, &["ts"]));
        ChatRef {
            channel: "slack".into(),
            chat: channel,
            thread: Some(thread.ok_or("an app_mention without ts")?),
            group: true,
        }
    };
    let (text, _) = text_of(event.get("text"), bot);
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(Item {
        inbound: Inbound {
            chat,
            sender: Sender {
                id: user.clone(),
                name: user,
            },
            id: event_id,
            // A direct message is addressed to the bot; app_mention says so.
            event: Event::Message {
                text,
                mentioned: true,
            },
        },
        pressed: None,
    }))
}

fn command_item(payload: &Value, envelope_id: &str) -> Result<Option<Item>, String> {
    let command = payload
        .get("command")
        .and_then(Value::as_str)
        .ok_or("a slash command without command")?;
    let name = command
        .strip_prefix('/')
        .unwrap_or(command)
        .to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err("a slash command with a malformed name".into());
    }
    let user = required(payload, &["user_id"])?;
    let channel = required(payload, &["channel_id"])?;
    let (args, _) = text_of(payload.get("text"), None);
    let trigger = optional(payload, &["trigger_id"]).unwrap_or_else(|| envelope_id.to_string());
    let name_shown = payload
        .get("user_name")
        .and_then(Value::as_str)
        .map(|n| chitin_sandbox::text::one_line(n, 80))
        .unwrap_or_else(|| user.clone());
    Ok(Some(Item {
        inbound: Inbound {
            chat: ChatRef {
                channel: "slack".into(),
                group: !is_dm(&channel),
                chat: channel,
                thread: None,
            },
            sender: Sender {
                id: user,
                name: name_shown,
            },
            id: format!("cmd:{trigger}"),
            event: Event::Command { name, args },
        },
        pressed: None,
    }))
}

fn button_item(payload: &Value, envelope_id: &str) -> Result<Option<Item>, String> {
    if payload.get("type").and_then(Value::as_str) != Some("block_actions") {
        return Ok(None);
    }
    let actions = payload
        .get("actions")
        .and_then(Value::as_array)
        .ok_or("block_actions without actions")?;
    let Some((action, approve)) =
        actions
            .iter()
            .find_map(|a| match a.get("action_id").and_then(Value::as_str) {
                Some(APPROVE) => Some((a, true)),
                Some(DENY) => Some((a, false)),
                _ => None,
            })
    else {
        return Ok(None);
    };
    let approval_id =
        slack_id(action.get("value"), 128).ok_or("an approval button with a malformed value")?;
    let user = required(payload, &["user", "id"])?;
    let channel = optional(payload, &["channel", "id"])
        .or_else(|| optional(payload, &["container", "channel_id"]))
        .ok_or("block_actions without a channel")?;
    let message_ts = optional(payload, &["container", "message_ts"])
        .or_else(|| optional(payload, &["message", "ts"]));
    let thread_ts = optional(payload, &["container", "thread_ts"])
        .or_else(|| optional(payload, &["message", "thread_ts"]));
    let action_ts = optional(action, &["action_ts"]).unwrap_or_else(|| envelope_id.to_string());
    let question = field(payload, &["message", "text"])
        .and_then(Value::as_str)
        .map(|t| {
            let (plain, _) = from_slack(&chitin_sandbox::text::cap(t, MAX_QUESTION), None);
            super::mrkdwn::escape(&plain.chars().take(MAX_QUESTION / 2).collect::<String>())
        })
        .unwrap_or_default();
    let name = ["username", "name"]
        .iter()
        .find_map(|k| field(payload, &["user", k]).and_then(Value::as_str))
        .map(|n| chitin_sandbox::text::one_line(n, 80))
        .unwrap_or_else(|| user.clone());
    Ok(Some(Item {
        inbound: Inbound {
            chat: ChatRef {
                channel: "slack".into(),
                chat: channel.clone(),
                thread: thread_ts.clone(),
                group: !is_dm(&channel),
            },
            sender: Sender {
                id: user.clone(),
                name,
            },
            id: format!("act:{}:{action_ts}", message_ts.as_deref().unwrap_or("-")),
            event: Event::Button {
                approval_id,
                approve,
            },
        },
        pressed: Some(Pressed {
            channel,
            message_ts,
            approve,
            question,
        }),
    }))
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
