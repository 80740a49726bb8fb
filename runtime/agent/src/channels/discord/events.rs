//! Gateway dispatches into the hub's terms, and the hub's answers back into
//! Discord's: `READY`, `MESSAGE_CREATE` and `INTERACTION_CREATE` parsed
//! from hostile JSON (every id checked, every text capped), the approval
//! buttons and their `custom_id`s, and interaction responses.

use super::text;
use crate::channels::{Ack, ChatRef, Event, Inbound, MAX_INBOUND_CHARS, Sender};
use chitin_sandbox::text::one_line;
use serde_json::{Value, json};

/// The channel's name.
const NAME: &str = "discord";
/// Longest display name kept.
const MAX_NAME: usize = 64;
/// Longest command arguments kept.
const MAX_ARGS: usize = 1000;
/// Interaction response types.
const CHANNEL_MESSAGE: u64 = 4;
const DEFERRED_UPDATE: u64 = 6;
const UPDATE_MESSAGE: u64 = 7;
/// Message flag: only the person who pressed sees it.
const EPHEMERAL: u64 = 64;

/// A dispatch that cannot be used, and why (logged, then skipped).
pub type Malformed = &'static str;

/// What `READY` says about the new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// The session to resume.
    pub session_id: String,
    /// Where to resume it.
    pub resume_url: String,
    /// The bot's own user id.
    pub bot_id: String,
    /// The application's id (for its slash commands).
    pub application_id: String,
}

/// A Discord id (snowflake): 1-20 digits, as a string.
pub fn snowflake(v: &Value) -> Option<String> {
    v.as_str().filter(|s| is_snowflake(s)).map(str::to_string)
}

/// Whether `s` is a Discord id.
pub fn is_snowflake(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// `READY`'s session, resume URL and the bot's id.
pub fn ready(d: &Value) -> Result<Ready, Malformed> {
    let session_id = d["session_id"]
        .as_str()
        .filter(|s| (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or("READY without a usable session_id")?;
    let resume_url = d["resume_gateway_url"]
        .as_str()
        .filter(|s| s.len() <= 200)
        .ok_or("READY without a usable resume_gateway_url")?;
    let bot_id = snowflake(&d["user"]["id"]).ok_or("READY without the bot's user id")?;
    let application_id = snowflake(&d["application"]["id"]).unwrap_or_else(|| bot_id.clone());
    Ok(Ready {
        session_id: session_id.to_string(),
        resume_url: resume_url.to_string(),
        bot_id,
        application_id,
    })
}

/// The slash commands the bot offers, in guilds and in direct messages
/// (for `PUT /applications/{id}/commands`, which replaces the set).
pub fn commands() -> Value {
    let command = |name: &str, description: &str| json!({"name": name, "type": 1, "description": description, "contexts": [0, 1], "integration_types": [0]});
    json!([
        command("new", "Start a new conversation"),
        command("stop", "Stop the answer being written"),
        command(
            "status",
            "Show the conversation, what is waiting and the model"
        ),
    ])
}

/// A `MESSAGE_CREATE` as an inbound message; `Ok(None)` for what the agent
/// ignores (bots, itself, webhooks, system messages, empty text).
pub fn message(d: &Value, bot_id: &str) -> Result<Option<Inbound>, Malformed> {
    let author = &d["author"];
    let flag = |v: &Value| v.as_bool() == Some(true);
    if flag(&author["bot"]) || flag(&author["system"]) || !d["webhook_id"].is_null() {
        return Ok(None);
    }
    // 0 is a default message and 19 a reply; the rest are joins, pins, ….
    if !matches!(d["type"].as_u64(), None | Some(0 | 19)) {
        return Ok(None);
    }
    let author_id = snowflake(&author["id"]).ok_or("MESSAGE_CREATE without an author id")?;
    if author_id == bot_id {
        return Ok(None);
    }
    let id = snowflake(&d["id"]).ok_or("MESSAGE_CREATE without a message id")?;
    let channel = snowflake(&d["channel_id"]).ok_or("MESSAGE_CREATE without a channel id")?;
    let group = guild(d)?;
    let content = match &d["content"] {
        Value::String(s) => s.as_str(),
        Value::Null => "",
        _ => return Err("MESSAGE_CREATE whose content is not text"),
    };
    let mentioned = text::mentions(content, bot_id)
        || d["mentions"]
            .as_array()
            .is_some_and(|m| m.iter().take(100).any(|u| u["id"].as_str() == Some(bot_id)))
        || d["referenced_message"]["author"]["id"].as_str() == Some(bot_id);
    let text = text::strip_mention(content, bot_id);
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(Inbound {
        chat: chat(channel, group),
        sender: sender(author, author_id),
        id,
        event: Event::Message {
            // One past the hub's limit: it cuts there and tells the sender.
            text: text::cap_chars(&text, MAX_INBOUND_CHARS + 1),
            mentioned,
        },
    }))
}

/// What an interaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One of our approval buttons.
    Button {
        /// Approve or deny.
        approve: bool,
    },
    /// A slash command.
    Command,
    /// A component that is not ours: answered, not passed on.
    Foreign,
}

/// An interaction to hand to the hub and to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// Its id (in the callback URL).
    pub id: String,
    /// Its token (in the callback URL; valid for 15 minutes).
    pub token: String,
    /// What it is.
    pub kind: Kind,
    /// For the hub (none for [`Kind::Foreign`]).
    pub inbound: Option<Inbound>,
    /// The content of the message the button is on.
    pub original: String,
}

/// An `INTERACTION_CREATE`: a button press (type 3) or a slash command
/// (type 2); `Ok(None)` for other types.
pub fn interaction(d: &Value) -> Result<Option<Interaction>, Malformed> {
    let kind = d["type"].as_u64();
    if !matches!(kind, Some(2 | 3)) {
        return Ok(None);
    }
    let id = snowflake(&d["id"]).ok_or("INTERACTION_CREATE without an id")?;
    let token = d["token"]
        .as_str()
        .filter(|t| {
            (1..=1000).contains(&t.len())
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .ok_or("INTERACTION_CREATE without a usable token")?
        .to_string();
    let channel = snowflake(&d["channel_id"])
        .or_else(|| snowflake(&d["channel"]["id"]))
        .ok_or("INTERACTION_CREATE without a channel id")?;
    let group = guild(d)?;
    let user = if d["member"]["user"].is_object() {
        &d["member"]["user"]
    } else {
        &d["user"]
    };
    let user_id = snowflake(&user["id"]).ok_or("INTERACTION_CREATE without a user id")?;
    let data = &d["data"];
    let (kind, event) = if kind == Some(3) {
        match data["custom_id"].as_str().and_then(parse_custom_id) {
            Some((approval_id, approve)) => (
                Kind::Button { approve },
                Some(Event::Button {
                    approval_id,
                    approve,
                }),
            ),
            None => (Kind::Foreign, None),
        }
    } else {
        let name = data["name"]
            .as_str()
            .filter(|n| {
                (1..=32).contains(&n.len())
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
            .ok_or("an application command without a usable name")?;
        (
            Kind::Command,
            Some(Event::Command {
                name: name.to_ascii_lowercase(),
                args: command_args(&data["options"]),
            }),
        )
    };
    let original = d["message"]["content"].as_str().unwrap_or("");
    Ok(Some(Interaction {
        id: id.clone(),
        token,
        kind,
        inbound: event.map(|event| Inbound {
            chat: chat(channel, group),
            sender: sender(user, user_id),
            id,
            event,
        }),
        original: text::cap_chars(original, text::MAX_MESSAGE_CHARS),
    }))
}

/// A slash command's option values, space-separated and capped.
fn command_args(options: &Value) -> String {
    let Some(options) = options.as_array() else {
        return String::new();
    };
    let values: Vec<String> = options
        .iter()
        .take(25)
        .filter_map(|o| match &o["value"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
        .collect();
    text::cap_chars(values.join(" ").trim(), MAX_ARGS)
}

/// Whether the event came from a guild (`Ok(false)`: a direct message).
fn guild(d: &Value) -> Result<bool, Malformed> {
    match &d["guild_id"] {
        Value::Null => Ok(false),
        g if snowflake(g).is_some() => Ok(true),
        _ => Err("an event with a malformed guild_id"),
    }
}

fn chat(channel: String, group: bool) -> ChatRef {
    ChatRef {
        channel: NAME.into(),
        chat: channel,
        thread: None,
        group,
    }
}

fn sender(user: &Value, id: String) -> Sender {
    let name = user["username"].as_str().unwrap_or("");
    Sender {
        id,
        name: one_line(name, MAX_NAME),
    }
}

/// Whether `id` can be put in a `custom_id` (`ap:ID:y` within Discord's
/// 100 characters).
fn valid_approval(id: &str) -> bool {
    (1..=90).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `ap:{approval_id}:y` (approve) or `:n` (deny); `None` for anything else.
pub fn parse_custom_id(custom_id: &str) -> Option<(String, bool)> {
    let rest = custom_id.strip_prefix("ap:")?;
    let (id, answer) = rest.rsplit_once(':')?;
    let approve = match answer {
        "y" => true,
        "n" => false,
        _ => return None,
    };
    valid_approval(id).then(|| (id.to_string(), approve))
}

/// The action row with Approve and Deny for `approval`; `None` when the id
/// cannot be carried in a `custom_id`.
pub fn buttons(approval: &str) -> Option<Value> {
    valid_approval(approval).then(|| {
        json!([{
            "type": 1,
            "components": [
                {"type": 2, "style": 3, "label": "Approve", "custom_id": format!("ap:{approval}:y")},
                {"type": 2, "style": 4, "label": "Deny", "custom_id": format!("ap:{approval}:n")},
            ]
        }])
    })
}

/// The interaction response for what the hub said: a settled approval
/// edits its message (the decision in, the buttons out); otherwise the
/// hub's notice is shown to the presser only.
pub fn response(i: &Interaction, ack: &Ack) -> Value {
    match (i.kind, &ack.notice) {
        (Kind::Button { approve }, notice) if ack.resolved => {
            let decision = match notice {
                Some(n) => one_line(n, 200),
                None if approve => "Approved.".to_string(),
                None => "Denied.".to_string(),
            };
            let room = text::MAX_MESSAGE_CHARS - decision.chars().count() - 8;
            let original = text::cap_chars(&text::neutralise(&i.original), room);
            let content = if original.trim().is_empty() {
                format!("**{decision}**")
            } else {
                format!("{original}\n\n**{decision}**")
            };
            json!({
                "type": UPDATE_MESSAGE,
                "data": {"content": content, "components": [], "allowed_mentions": {"parse": []}}
            })
        }
        (_, Some(notice)) => ephemeral(notice),
        (Kind::Button { .. }, None) => json!({ "type": DEFERRED_UPDATE }),
        (Kind::Command, None) => ephemeral("…"),
        (Kind::Foreign, None) => ephemeral("This button is not one of this agent's."),
    }
}

fn ephemeral(text: &str) -> Value {
    json!({
        "type": CHANNEL_MESSAGE,
        "data": {
            "content": text::neutralise(text),
            "flags": EPHEMERAL,
            "allowed_mentions": {"parse": []}
        }
    })
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
