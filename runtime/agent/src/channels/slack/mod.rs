//! Slack, in Socket Mode: the app opens a websocket to Slack (no public
//! URL), receives direct messages (`message` events in `im` channels),
//! mentions in channels (`app_mention`, answered in a thread), slash
//! commands and approval button presses as envelopes ([`socket`]), and
//! answers through the Web API (`chat.postMessage`, [`api`]) in Slack's
//! `mrkdwn` ([`mrkdwn`]), with Approve/Deny buttons for approvals.
//!
//! Two tokens, each named by a secret in `[channels.slack]`: the app-level
//! token (`xapp-…`, scope `connections:write`) opens connections; the bot
//! token (`xoxb-…`, scopes `chat:write`, `app_mentions:read`, `im:history`)
//! does everything else. Neither ever appears in a message, a log line or
//! an error.
//!
//! The Slack app needs: Socket Mode on; event subscriptions `message.im`
//! and `app_mention`; Interactivity on (for the buttons); App Home's
//! Messages tab allowing messages; optionally slash commands `/new`,
//! `/stop`, `/status` (scope `commands`). In channels the bot answers only
//! when mentioned (the hub also wants the channel listed in `groups`);
//! follow-ups in its thread need a mention too.

pub mod api;
pub mod events;
pub mod mrkdwn;
mod socket;

use super::{Channel, ChannelError, ChatRef, Hub};
use crate::agent::config::SlackSection;
use crate::provider::BoxFuture;
use api::{Api, Token};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The Web API's default base URL.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";

/// Longest text in one section block (Slack refuses more).
const SECTION_MAX: usize = 3000;

/// The Slack adapter.
pub struct Slack {
    api: Api,
    /// The bot's own user id, learnt with `auth.test` before connecting.
    bot_user: Mutex<Option<String>>,
}

impl Slack {
    /// An adapter for `section` with the app-level token (`xapp-…`) and the
    /// bot token (`xoxb-…`). Refuses tokens of the wrong kind (naming the
    /// secret, never showing the token) and a malformed `api_url`.
    pub fn new(
        section: &SlackSection,
        app_token: String,
        bot_token: String,
    ) -> Result<Self, String> {
        let app_token = app_token.trim().to_string();
        let bot_token = bot_token.trim().to_string();
        if !app_token.starts_with("xapp-") {
            return Err(format!(
                "slack: secret `{}` must hold the app-level token (xapp-…, with connections:write), made under Basic Information > App-Level Tokens",
                section.app_secret
            ));
        }
        if !bot_token.starts_with("xoxb-") {
            return Err(format!(
                "slack: secret `{}` must hold the bot token (xoxb-…), from OAuth & Permissions",
                section.bot_secret
            ));
        }
        let base = section
            .api_url
            .as_deref()
            .unwrap_or(DEFAULT_API_URL)
            .trim_end_matches('/')
            .to_string();
        let lower = base.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://"))
            || base.contains(['?', '#'])
            || reqwest::Url::parse(&base).is_err()
        {
            return Err(format!(
                "slack: api_url `{}` must be an http(s) URL without a query",
                chitin_sandbox::text::one_line(&base, 80)
            ));
        }
        Ok(Slack {
            api: Api::new(
                base,
                app_token,
                bot_token,
                section.app_secret.clone(),
                section.bot_secret.clone(),
            )?,
            bot_user: Mutex::new(None),
        })
    }

    /// The bot's user id (`auth.test` the first time).
    async fn bot_user(&self) -> Result<String, ChannelError> {
        let mut known = self.bot_user.lock().await;
        if let Some(id) = known.as_ref() {
            return Ok(id.clone());
        }
        let v = self.api.call(Token::Bot, "auth.test", &json!({})).await?;
        let id =
            events::slack_id(v.get("user_id"), 64).ok_or_else(|| ChannelError::Unavailable {
                channel: "slack".into(),
                detail: "auth.test: no user_id in the answer".into(),
            })?;
        *known = Some(id.clone());
        Ok(id)
    }

    /// A bot call retried once when Slack asks to wait (at most 10 s) or is
    /// briefly down: for the presser's notice and the buttons' removal,
    /// which nobody else retries.
    async fn call_retrying(&self, method: &str, body: &Value) -> Result<Value, ChannelError> {
        match self.api.call(Token::Bot, method, body).await {
            Err(e) if e.is_retryable() => {
                let wait = e.retry_after().unwrap_or(std::time::Duration::from_secs(1));
                tokio::time::sleep(wait.min(std::time::Duration::from_secs(10))).await;
                self.api.call(Token::Bot, method, body).await
            }
            other => other,
        }
    }

    async fn post(
        &self,
        chat: &ChatRef,
        markdown: &str,
        approval: Option<&str>,
    ) -> Result<(), ChannelError> {
        let body = message(chat, markdown, approval);
        self.api
            .call(Token::Bot, "chat.postMessage", &body)
            .await
            .map(|_| ())
    }
}

/// The `chat.postMessage` body for one chunk: mrkdwn text, in the chat's
/// thread, no unfurling (Slack would fetch the model's links), and for an
/// approval the text in section blocks followed by Approve/Deny buttons
/// whose value is the approval id.
pub fn message(chat: &ChatRef, markdown: &str, approval: Option<&str>) -> Value {
    let text = mrkdwn::to_mrkdwn(markdown);
    let mut body = json!({
        "channel": chat.chat,
        "text": text,
        "mrkdwn": true,
        "parse": "none",
        "link_names": false,
        "unfurl_links": false,
        "unfurl_media": false,
    });
    if let Some(t) = &chat.thread {
        body["thread_ts"] = json!(t);
    }
    if let Some(id) = approval {
        let mut blocks: Vec<Value> = sections(&text)
            .into_iter()
            .map(|s| json!({ "type": "section", "text": { "type": "mrkdwn", "text": s } }))
            .collect();
        let button = |label: &str, style: &str, action: &str| {
            json!({
                "type": "button",
                "text": { "type": "plain_text", "text": label },
                "style": style,
                "action_id": action,
                "value": id,
            })
        };
        blocks.push(json!({
            "type": "actions",
            "block_id": "chitin_approval",
            "elements": [
                button("Approve", "primary", events::APPROVE),
                button("Deny", "danger", events::DENY),
            ],
        }));
        body["blocks"] = Value::Array(blocks);
    }
    body
}

/// `text` in pieces that fit a section block, cut at line ends when
/// possible (at most 40: a message holds 50 blocks).
fn sections(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.trim_end();
    while !rest.is_empty() && out.len() < 40 {
        if rest.chars().count() <= SECTION_MAX {
            out.push(rest.to_string());
            break;
        }
        let limit = rest
            .char_indices()
            .nth(SECTION_MAX)
            .map_or(rest.len(), |(i, _)| i);
        let cut = rest[..limit]
            .rfind('\n')
            .filter(|&i| i > 0)
            .unwrap_or(limit);
        out.push(rest[..cut].to_string());
        rest = rest[cut..].trim_start_matches('\n');
    }
    if out.is_empty() {
        out.push(" ".into());
    }
    out
}

impl Channel for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    /// 3500 Markdown characters: well under Slack's 4000 recommended for
    /// one message's text once converted (escapes grow it a little), and
    /// still readable as one message.
    fn max_chunk(&self) -> usize {
        3500
    }

    fn send<'a>(
        &'a self,
        chat: &'a ChatRef,
        markdown: &'a str,
        approval: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(self.post(chat, markdown, approval))
    }

    /// Nothing to do: Slack's typing indicator belongs to the legacy RTM
    /// API; a Socket Mode app has no Web API call that shows one (its
    /// `assistant.threads.setStatus` is only for AI-assistant threads), so
    /// the answer simply arrives.
    fn typing<'a>(&'a self, _chat: &'a ChatRef) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async { Ok(()) })
    }

    fn run(self: Arc<Self>, hub: Arc<Hub>, stop: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(socket::run(self, hub, stop))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn section(api_url: Option<&str>) -> SlackSection {
        toml::from_str::<SlackSection>(&match api_url {
            Some(u) => format!("api_url = \"{u}\"\n"),
            None => String::new(),
        })
        .unwrap()
    }

    #[test]
    fn tokens_checked_never_shown() {
        let s = section(None);
        let e = Slack::new(&s, "xoxb-wrong-kind".into(), "xoxb-1".into())
            .err()
            .unwrap();
        assert!(
            e.contains("SLACK_APP_TOKEN") && !e.contains("wrong-kind"),
            "{e}"
        );
        let e = Slack::new(&s, "xapp-1".into(), "xoxp-user-token".into())
            .err()
            .unwrap();
        assert!(
            e.contains("SLACK_BOT_TOKEN") && !e.contains("user-token"),
            "{e}"
        );
        let e = Slack::new(&s, "xapp-1\nX: y".into(), "xoxb-1".into())
            .err()
            .unwrap();
        assert!(!e.contains("X: y"), "{e}");
        assert!(Slack::new(&section(Some("ftp://x")), "xapp-1".into(), "xoxb-1".into()).is_err());
        let ok = Slack::new(
            &section(Some("http://127.0.0.1:9/api/")),
            "xapp-1".into(),
            "xoxb-1".into(),
        )
        .unwrap();
        assert!(ok.api.is_plain_http());
        assert_eq!(ok.api.redact("a xoxb-1 b xapp-1"), "a [token] b [token]");
    }

    #[test]
    fn message_bodies() {
        let dm = ChatRef::direct("slack", "D1");
        let m = message(&dm, "**hi** <!channel>", None);
        assert_eq!(m["channel"], "D1");
        assert_eq!(m["text"], "*hi* &lt;!channel&gt;");
        assert!(m.get("thread_ts").is_none() && m.get("blocks").is_none());
        assert_eq!(m["unfurl_links"], false);
        let mut thread = ChatRef::direct("slack", "C1");
        thread.thread = Some("1.2".into());
        thread.group = true;
        let m = message(&thread, "Write notes.txt?", Some("ap-1"));
        assert_eq!(m["thread_ts"], "1.2");
        let blocks = m["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["text"]["text"], "Write notes.txt?");
        let buttons = blocks[1]["elements"].as_array().unwrap();
        assert_eq!(buttons[0]["action_id"], "chitin_approve");
        assert_eq!(buttons[0]["style"], "primary");
        assert_eq!(buttons[0]["value"], "ap-1");
        assert_eq!(buttons[1]["action_id"], "chitin_deny");
        assert_eq!(buttons[1]["style"], "danger");
        // A long question is split over section blocks, each under the limit.
        let long = "line of text\n".repeat(600);
        let m = message(&dm, &long, Some("ap-2"));
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() >= 4);
        for b in &blocks[..blocks.len() - 1] {
            assert!(b["text"]["text"].as_str().unwrap().chars().count() <= SECTION_MAX);
        }
        assert_eq!(sections(&"x".repeat(7000)).len(), 3);
    }
}
