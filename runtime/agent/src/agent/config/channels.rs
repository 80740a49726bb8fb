//! `[channels]`: the chat apps and webhooks the daemon answers. Bot tokens
//! and webhook keys are never in this file: each entry names a secret in
//! the secret store, read by the daemon at start.
//!
//! Nobody is served by default: a channel answers only senders the owner
//! paired (`chitin channels pair CODE`), and group chats only when listed
//! in `groups` and the bot is mentioned. There is no setting that opens a
//! channel to everyone.

use serde::{Deserialize, Serialize};

/// `[channels]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsSection {
    /// Messages per minute one sender may send before being told to wait
    /// [default: 20].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_minute: Option<u32>,
    /// `[channels.telegram]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<TelegramSection>,
    /// `[channels.slack]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackSection>,
    /// `[channels.discord]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord: Option<DiscordSection>,
    /// `[[channels.webhooks]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookSection>,
}

/// Default messages per sender per minute.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 20;

/// `[channels.telegram]`: a bot from @BotFather, by long polling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSection {
    /// The secret holding the bot token [default: `TELEGRAM_BOT_TOKEN`].
    #[serde(default = "telegram_secret")]
    pub secret: String,
    /// Group chat ids the bot may answer in (when mentioned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The Bot API's base URL [default: `https://api.telegram.org`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

fn telegram_secret() -> String {
    "TELEGRAM_BOT_TOKEN".into()
}

/// `[channels.slack]`: a Slack app in Socket Mode (no public URL needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSection {
    /// The secret holding the app-level token (`xapp-…`, scope
    /// `connections:write`) [default: `SLACK_APP_TOKEN`].
    #[serde(default = "slack_app_secret")]
    pub app_secret: String,
    /// The secret holding the bot token (`xoxb-…`) [default:
    /// `SLACK_BOT_TOKEN`].
    #[serde(default = "slack_bot_secret")]
    pub bot_secret: String,
    /// Channel ids the bot may answer in (when mentioned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The Web API's base URL [default: `https://slack.com/api`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

fn slack_app_secret() -> String {
    "SLACK_APP_TOKEN".into()
}

fn slack_bot_secret() -> String {
    "SLACK_BOT_TOKEN".into()
}

/// `[channels.discord]`: a Discord bot over the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordSection {
    /// The secret holding the bot token [default: `DISCORD_BOT_TOKEN`].
    #[serde(default = "discord_secret")]
    pub secret: String,
    /// Guild channel ids the bot may answer in (when mentioned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The REST API's base URL [default: `https://discord.com/api/v10`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

fn discord_secret() -> String {
    "DISCORD_BOT_TOKEN".into()
}

/// One `[[channels.webhooks]]` entry: `POST /hooks/NAME`, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// Its name, the last part of its URL.
    pub name: String,
    /// The secret holding the HMAC-SHA256 key.
    pub secret: String,
    /// Where the answer goes (`telegram:CHAT`, `slack:CHANNEL`,
    /// `discord:CHANNEL`); without it the answer is the response body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver: Option<String>,
}

impl ChannelsSection {
    /// Messages per sender per minute.
    pub fn rate(&self) -> u32 {
        self.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE)
    }

    /// The names of the configured chat channels.
    pub fn configured(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.telegram.is_some() {
            out.push("telegram");
        }
        if self.slack.is_some() {
            out.push("slack");
        }
        if self.discord.is_some() {
            out.push("discord");
        }
        out
    }

    /// Every problem that keeps this section from being used.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.rate_per_minute == Some(0) {
            out.push("[channels] rate_per_minute must be at least 1".to_string());
        }
        let mut secrets = Vec::new();
        if let Some(t) = &self.telegram {
            secrets.push(("telegram", &t.secret));
            url_problem("telegram", t.api_url.as_deref(), &mut out);
        }
        if let Some(s) = &self.slack {
            secrets.push(("slack", &s.app_secret));
            secrets.push(("slack", &s.bot_secret));
            url_problem("slack", s.api_url.as_deref(), &mut out);
        }
        if let Some(d) = &self.discord {
            secrets.push(("discord", &d.secret));
            url_problem("discord", d.api_url.as_deref(), &mut out);
        }
        let mut names = std::collections::BTreeSet::new();
        for w in &self.webhooks {
            let ok = !w.name.is_empty()
                && w.name.len() <= 40
                && w.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                out.push(format!(
                    "webhook name `{}`: use 1-40 of a-z, 0-9 and -",
                    chitin_sandbox::text::one_line(&w.name, 40)
                ));
            } else if !names.insert(w.name.as_str()) {
                out.push(format!("webhook `{}` is configured twice", w.name));
            }
            secrets.push(("webhook", &w.secret));
            if let Some(d) = &w.deliver
                && crate::channels::ChatRef::parse_target(d).is_none()
            {
                out.push(format!(
                    "webhook `{}`: deliver = `{}` must be `telegram:CHAT`, `slack:CHANNEL` or `discord:CHANNEL`",
                    w.name,
                    chitin_sandbox::text::one_line(d, 60)
                ));
            }
        }
        for (what, secret) in secrets {
            if chitin_sandbox::capabilities::secrets::validate_name(secret).is_err() {
                out.push(format!(
                    "[channels] {what}: secret name `{}`: use letters, digits and _ (e.g. TELEGRAM_BOT_TOKEN), as in `chitin secret set`",
                    chitin_sandbox::text::one_line(secret, 40)
                ));
            }
        }
        out
    }
}

fn url_problem(what: &str, url: Option<&str>, out: &mut Vec<String>) {
    if let Some(u) = url {
        let l = u.to_ascii_lowercase();
        if !(l.starts_with("https://") || l.starts_with("http://")) || u.contains('?') {
            out.push(format!(
                "[channels.{what}] api_url `{}` must be an http(s) URL without a query",
                chitin_sandbox::text::one_line(u, 80)
            ));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_problems() {
        let c: ChannelsSection = toml::from_str("[telegram]\n").unwrap();
        assert_eq!(c.telegram.as_ref().unwrap().secret, "TELEGRAM_BOT_TOKEN");
        assert!(c.problems().is_empty());
        assert_eq!(c.configured(), vec!["telegram"]);
        let bad: ChannelsSection = toml::from_str(
            "rate_per_minute = 0\n[[webhooks]]\nname = \"Bad Name\"\nsecret = \"a-b\"\ndeliver = \"irc:x\"\n",
        )
        .unwrap();
        let p = bad.problems().join("\n");
        assert!(p.contains("rate_per_minute"), "{p}");
        assert!(p.contains("webhook name"), "{p}");
        assert!(p.contains("deliver"), "{p}");
        assert!(p.contains("secret name"), "{p}");
        // There is no key that opens a channel to everyone.
        assert!(toml::from_str::<ChannelsSection>("[telegram]\nallow_all = true\n").is_err());
    }
}
