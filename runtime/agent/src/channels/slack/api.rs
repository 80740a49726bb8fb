//! Slack's Web API: `POST {api_url}/{method}` with a JSON body and the
//! token as a Bearer header (marked sensitive, never in a URL), the answer
//! read capped and classified into [`ChannelError`]s. No detail that leaves
//! this module can carry a token: they are cut out of every message.

use crate::channels::ChannelError;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde_json::Value;
use std::time::Duration;

/// Most bytes read from one Web API answer.
const MAX_ANSWER: usize = 1 << 20;
/// Per-request timeout.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Which token a call uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// The app-level token (`xapp-…`): `apps.connections.open` only.
    App,
    /// The bot token (`xoxb-…`): everything else.
    Bot,
}

/// A Web API client holding both tokens.
pub struct Api {
    http: reqwest::Client,
    base: String,
    app: HeaderValue,
    bot: HeaderValue,
    app_token: String,
    bot_token: String,
    /// Secret names, for errors that say what to fix.
    pub app_secret: String,
    /// The bot token's secret name.
    pub bot_secret: String,
}

fn bearer(token: &str) -> Result<HeaderValue, String> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "holds characters a token cannot have".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}

impl Api {
    /// A client for `base` (no trailing `/`).
    pub fn new(
        base: String,
        app_token: String,
        bot_token: String,
        app_secret: String,
        bot_secret: String,
    ) -> Result<Self, String> {
        let app = bearer(&app_token).map_err(|e| format!("slack: secret `{app_secret}` {e}"))?;
        let bot = bearer(&bot_token).map_err(|e| format!("slack: secret `{bot_secret}` {e}"))?;
        Ok(Api {
            http: crate::channels::tls::http(TIMEOUT).map_err(|e| format!("slack: {e}"))?,
            base,
            app,
            bot,
            app_token,
            bot_token,
            app_secret,
            bot_secret,
        })
    }

    /// Whether the API is reached over plain HTTP (a local test server).
    pub fn is_plain_http(&self) -> bool {
        self.base.to_ascii_lowercase().starts_with("http://")
    }

    /// `text` with both tokens cut out, on one line, capped.
    pub fn redact(&self, text: &str) -> String {
        let mut t = text.to_string();
        for token in [&self.app_token, &self.bot_token] {
            if !token.is_empty() {
                t = t.replace(token.as_str(), "[token]");
            }
        }
        chitin_sandbox::text::one_line(&t, 200)
    }

    fn secret(&self, token: Token) -> &str {
        match token {
            Token::App => &self.app_secret,
            Token::Bot => &self.bot_secret,
        }
    }

    fn unavailable(&self, detail: &str) -> ChannelError {
        ChannelError::Unavailable {
            channel: "slack".into(),
            detail: self.redact(detail),
        }
    }

    /// Call `method` with `body`; the answer when `ok` is true.
    pub async fn call(
        &self,
        token: Token,
        method: &str,
        body: &Value,
    ) -> Result<Value, ChannelError> {
        let auth = match token {
            Token::App => self.app.clone(),
            Token::Bot => self.bot.clone(),
        };
        let sent = self
            .http
            .post(format!("{}/{method}", self.base))
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let why = if e.is_timeout() {
                    "timed out".to_string()
                } else if e.is_connect() {
                    "cannot connect".to_string()
                } else {
                    chitin_sandbox::text::error_chain(&e)
                };
                return Err(self.unavailable(&format!("{method}: Slack is unreachable ({why})")));
            }
        };
        let status = resp.status().as_u16();
        if status == 429 {
            return Err(rate_limited(retry_after(resp.headers().get(RETRY_AFTER))));
        }
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) if bytes.len() + c.len() <= MAX_ANSWER => bytes.extend_from_slice(&c),
                Ok(Some(_)) => {
                    return Err(self.unavailable(&format!("{method}: the answer is over 1 MiB")));
                }
                Ok(None) => break,
                Err(_) => return Err(self.unavailable(&format!("{method}: the answer was cut"))),
            }
        }
        classify(status, &bytes, method, self.secret(token), |d| {
            self.redact(d)
        })
    }
}

fn rate_limited(retry_after: Duration) -> ChannelError {
    ChannelError::RateLimited {
        channel: "slack".into(),
        retry_after,
    }
}

/// `Retry-After` in seconds, 1 s when absent or malformed, at most 300 s.
pub fn retry_after(v: Option<&HeaderValue>) -> Duration {
    v.and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.max(1)).min(MAX_RETRY_AFTER))
        .unwrap_or(Duration::from_secs(1))
}

/// The error codes that mean the token is wrong, revoked or its owner gone.
const AUTH_ERRORS: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
];

/// The error codes worth retrying.
const TRANSIENT_ERRORS: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Read an answer: its JSON when `ok`, else the error it is.
pub fn classify(
    status: u16,
    body: &[u8],
    method: &str,
    secret: &str,
    redact: impl Fn(&str) -> String,
) -> Result<Value, ChannelError> {
    if status == 401 || status == 403 {
        return Err(ChannelError::Unauthorized {
            channel: "slack".into(),
            secret: secret.into(),
        });
    }
    if status >= 500 {
        return Err(ChannelError::Unavailable {
            channel: "slack".into(),
            detail: format!("{method}: Slack answered HTTP {status}"),
        });
    }
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let Some(v) = parsed.filter(Value::is_object) else {
        let detail = format!("{method}: HTTP {status}, not a Slack API answer");
        return Err(if (200..300).contains(&status) {
            ChannelError::Unavailable {
                channel: "slack".into(),
                detail,
            }
        } else {
            ChannelError::Rejected {
                channel: "slack".into(),
                detail,
            }
        });
    };
    if v.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(v);
    }
    let code = v
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown_error");
    let code = redact(&chitin_sandbox::text::one_line(code, 80));
    if AUTH_ERRORS.contains(&code.as_str()) {
        Err(ChannelError::Unauthorized {
            channel: "slack".into(),
            secret: secret.into(),
        })
    } else if code == "ratelimited" || code == "rate_limited" {
        Err(rate_limited(Duration::from_secs(1)))
    } else if TRANSIENT_ERRORS.contains(&code.as_str()) {
        Err(ChannelError::Unavailable {
            channel: "slack".into(),
            detail: format!("{method}: {code}"),
        })
    } else {
        Err(ChannelError::Rejected {
            channel: "slack".into(),
            detail: format!("{method}: {code}"),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(status: u16, body: &str) -> Result<Value, ChannelError> {
        classify(
            status,
            body.as_bytes(),
            "chat.postMessage",
            "SLACK_BOT_TOKEN",
            |d| d.replace("xoxb-secret", "[token]"),
        )
    }

    #[test]
    fn errors_classified() {
        assert!(run(200, r#"{"ok":true,"ts":"1.2"}"#).is_ok());
        for code in [
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
        ] {
            let e = run(200, &format!(r#"{{"ok":false,"error":"{code}"}}"#)).unwrap_err();
            assert_eq!(
                e,
                ChannelError::Unauthorized {
                    channel: "slack".into(),
                    secret: "SLACK_BOT_TOKEN".into()
                }
            );
            assert!(!e.is_retryable());
        }
        assert!(matches!(
            run(401, ""),
            Err(ChannelError::Unauthorized { .. })
        ));
        let e = run(200, r#"{"ok":false,"error":"channel_not_found"}"#).unwrap_err();
        assert!(
            matches!(&e, ChannelError::Rejected { detail, .. } if detail.contains("channel_not_found"))
        );
        assert!(!e.is_retryable());
        assert!(run(503, "oops").unwrap_err().is_retryable());
        assert!(run(200, "<html>").unwrap_err().is_retryable());
        assert!(!run(404, "<html>").unwrap_err().is_retryable());
        assert!(
            run(200, r#"{"ok":false,"error":"internal_error"}"#)
                .unwrap_err()
                .is_retryable()
        );
        let e = run(200, r#"{"ok":false,"error":"xoxb-secret\u001b[2J"}"#).unwrap_err();
        let shown = e.to_string();
        assert!(
            !shown.contains("xoxb-secret") && !shown.contains('\u{1b}'),
            "{shown}"
        );
    }

    #[test]
    fn retry_after_header() {
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(retry_after(Some(&h("7"))), Duration::from_secs(7));
        assert_eq!(retry_after(Some(&h("0"))), Duration::from_secs(1));
        assert_eq!(retry_after(Some(&h("99999"))), MAX_RETRY_AFTER);
        assert_eq!(retry_after(Some(&h("soon"))), Duration::from_secs(1));
        assert_eq!(retry_after(None), Duration::from_secs(1));
    }
}
