//! Discord's REST API (`Authorization: Bot TOKEN`): the calls the adapter
//! makes, answers capped in size, and failures classified into
//! [`ChannelError`] without the token (or an interaction's token, which is
//! in the URL) in any message.

use crate::channels::{ChannelError, tls};
use chitin_sandbox::text::one_line;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::time::Duration;

/// The channel's name in errors.
const NAME: &str = "discord";
/// Largest REST answer read.
const MAX_BODY: usize = 256 << 10;
/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Shortest and longest wait a 429 is taken to ask for.
const MIN_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(600);
/// Discord asks bots to say who they are this way.
const USER_AGENT: &str = concat!(
    "DiscordBot (https://example.invalid/chitin, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// A REST client for one bot.
pub struct Rest {
    base: String,
    auth: HeaderValue,
    token: String,
    secret: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("base", &self.base)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl Rest {
    /// A client for `api_url` (e.g. `https://discord.com/api/v10`) with the
    /// bot `token` read from `secret`.
    pub fn new(api_url: &str, token: String, secret: &str) -> Result<Self, String> {
        let token = token.trim();
        // A token pasted with its scheme still works.
        let token = token
            .strip_prefix("Bot ")
            .unwrap_or(token)
            .trim()
            .to_string();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "discord: the bot token in secret `{secret}` is empty or has spaces or control characters; set it again with `chitin secret set {secret}`"
            ));
        }
        let mut auth = HeaderValue::from_str(&format!("Bot {token}")).map_err(|_| {
            format!("discord: the bot token in secret `{secret}` cannot be sent as a header")
        })?;
        auth.set_sensitive(true);
        let base = api_url.trim().trim_end_matches('/').to_string();
        let lower = base.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) || base.contains('?') {
            return Err(format!(
                "discord: api_url `{}` must be an http(s) URL without a query",
                one_line(&base, 80)
            ));
        }
        Ok(Rest {
            base,
            auth,
            token,
            secret: secret.to_string(),
            http: tls::http(TIMEOUT)?,
        })
    }

    /// The bot token (for the gateway's Identify and Resume only).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The secret the token came from (named in errors).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Whether the API is plain HTTP (a local test server): then a `ws://`
    /// gateway is accepted too; otherwise only `wss://`.
    pub fn insecure(&self) -> bool {
        self.base.to_ascii_lowercase().starts_with("http://")
    }

    /// `GET path` (relative to the API URL).
    pub async fn get(&self, path: &str) -> Result<Value, ChannelError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body (or none).
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, ChannelError> {
        self.call(reqwest::Method::POST, path, body).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ChannelError> {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ChannelError> {
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let mut req = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, self.auth.clone())
            .header(reqwest::header::USER_AGENT, USER_AGENT);
        req = match body {
            Some(b) => req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string()),
            None => req.header(reqwest::header::CONTENT_LENGTH, "0"),
        };
        let resp = req.send().await.map_err(|e| self.network(e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = read_capped(resp).await.map_err(|e| self.network(e))?;
        self.classify(status, &headers, &bytes)
    }

    /// A network failure, without the URL (an interaction's token is in
    /// it) or the bot token.
    fn network(&self, e: reqwest::Error) -> ChannelError {
        let e = e.without_url();
        let detail = if e.is_timeout() {
            "the Discord API did not answer in time".to_string()
        } else {
            format!(
                "cannot reach the Discord API: {}",
                one_line(&crate::provider::http::error_chain(&e), 200)
            )
        };
        ChannelError::Unavailable {
            channel: NAME.into(),
            detail: self.redact(&detail),
        }
    }

    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Value, ChannelError> {
        match status {
            200..=299 => Ok(serde_json::from_slice(body).unwrap_or(Value::Null)),
            401 => Err(ChannelError::Unauthorized {
                channel: NAME.into(),
                secret: self.secret.clone(),
            }),
            429 => Err(ChannelError::RateLimited {
                channel: NAME.into(),
                retry_after: retry_after(headers, body),
            }),
            500..=599 => Err(ChannelError::Unavailable {
                channel: NAME.into(),
                detail: self.redact(&format!("the Discord API failed: {}", detail(status, body))),
            }),
            _ => Err(ChannelError::Rejected {
                channel: NAME.into(),
                detail: self.redact(&detail(status, body)),
            }),
        }
    }

    fn redact(&self, text: &str) -> String {
        text.replace(&self.token, "[token]")
    }
}

/// The body, at most [`MAX_BODY`] bytes of it.
async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_BODY - out.len();
        if chunk.len() >= room {
            out.extend_from_slice(&chunk[..room]);
            break;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// How long a 429 asks to wait: the body's `retry_after` (seconds, a
/// float), else the `Retry-After` header, else 1 s; within 0.1 s..10 min.
pub fn retry_after(headers: &HeaderMap, body: &[u8]) -> Duration {
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(Value::as_f64));
    let from_header = || {
        headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let secs = from_body.or_else(from_header).unwrap_or(1.0);
    if !secs.is_finite() {
        return Duration::from_secs(1);
    }
    Duration::from_secs_f64(secs.clamp(MIN_RETRY.as_secs_f64(), MAX_RETRY.as_secs_f64()))
}

/// A refusal's reason: Discord's `{"message", "code"}` when it sent one,
/// else the status and the start of the body; one line, capped.
fn detail(status: u16, body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str);
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_u64);
    let text = match (message, code) {
        (Some(m), Some(c)) => format!("HTTP {status}: {m} (code {c})"),
        (Some(m), None) => format!("HTTP {status}: {m}"),
        _ => format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(400)])
        ),
    };
    one_line(&text, 200)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rest() -> Rest {
        Rest::new(
            "http://127.0.0.1:9/api/v10/",
            "Bot sekrit.token".into(),
            "DISCORD_BOT_TOKEN",
        )
        .unwrap()
    }

    #[test]
    fn rate_limits_are_read_from_the_body_then_the_header() {
        let mut h = HeaderMap::new();
        let body =
            br#"{"message":"You are being rate limited.","retry_after":0.35,"global":false}"#;
        assert_eq!(retry_after(&h, body), Duration::from_millis(350));
        h.insert(reqwest::header::RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h, b"not json"), Duration::from_secs(3));
        assert_eq!(retry_after(&HeaderMap::new(), b""), Duration::from_secs(1));
        assert_eq!(retry_after(&h, br#"{"retry_after":-5}"#), MIN_RETRY);
        assert_eq!(retry_after(&h, br#"{"retry_after":1e12}"#), MAX_RETRY);
        let r = rest();
        match r.classify(429, &h, body) {
            Err(ChannelError::RateLimited { retry_after, .. }) => {
                assert_eq!(retry_after, Duration::from_millis(350))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failures_are_classified_without_the_token() {
        let r = rest();
        assert_eq!(r.token(), "sekrit.token");
        assert!(r.insecure());
        let h = HeaderMap::new();
        assert!(matches!(
            r.classify(401, &h, b"{}"),
            Err(ChannelError::Unauthorized { secret, .. }) if secret == "DISCORD_BOT_TOKEN"
        ));
        assert!(matches!(r.classify(502, &h, b"bad gateway"), Err(e) if e.is_retryable()));
        let refused = r
            .classify(
                400,
                &h,
                br#"{"message":"Invalid Form Body sekrit.token","code":50035}"#,
            )
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("Invalid Form Body") && refused.contains("50035"),
            "{refused}"
        );
        assert!(!refused.contains("sekrit"), "{refused}");
        assert_eq!(r.classify(204, &h, b"").unwrap(), Value::Null);
        assert!(format!("{r:?}").find("sekrit").is_none());
        assert!(Rest::new("ftp://x", "t".into(), "S").is_err());
        assert!(Rest::new("https://x", "a b".into(), "S").is_err());
    }
}
