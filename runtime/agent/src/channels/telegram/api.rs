//! The Bot API client: frankenstein's typed methods over Chitin's own HTTP
//! client (rustls, no proxy, bounded), with the platform's errors sorted
//! into [`ChannelError`]s. The token is part of every URL, so no URL ever
//! goes into an error or a log line.

use crate::channels::ChannelError;
use frankenstein::response::ErrorResponse;
use std::path::PathBuf;
use std::time::Duration;

/// Longest response body read from the Bot API.
const MAX_BODY: usize = 8 << 20;

/// A Bot API client for one bot.
pub struct Api {
    /// `{api_url}/bot{token}`.
    base: String,
    client: reqwest::Client,
    secret: String,
}

impl Api {
    /// A client for the bot with `token` at `api_url`; `secret` names the
    /// secret holding the token (for error messages).
    pub fn new(api_url: &str, token: &str, secret: &str) -> Result<Self, String> {
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(format!(
                "telegram: the token in secret `{secret}` is not a bot token (it looks like 123456:ABC…, from @BotFather)"
            ));
        }
        Ok(Api {
            base: format!("{}/bot{token}", api_url.trim_end_matches('/')),
            // Long polls wait up to 25 s on the server.
            client: super::super::tls::http(Duration::from_secs(40))?,
            secret: secret.to_string(),
        })
    }

    fn err(&self, kind: Kind, detail: String) -> ChannelError {
        let channel = "telegram".to_string();
        match kind {
            Kind::Unavailable => ChannelError::Unavailable { channel, detail },
            Kind::Rejected => ChannelError::Rejected { channel, detail },
        }
    }
}

enum Kind {
    Unavailable,
    Rejected,
}

#[async_trait::async_trait]
impl frankenstein::AsyncTelegramApi for Api {
    type Error = ChannelError;

    async fn request<Params, Output>(
        &self,
        method: &str,
        params: Option<Params>,
    ) -> Result<Output, ChannelError>
    where
        Params: serde::ser::Serialize + std::fmt::Debug + std::marker::Send,
        Output: serde::de::DeserializeOwned,
    {
        let mut req = self.client.post(format!("{}/{method}", self.base));
        if let Some(p) = params {
            req = req.json(&p);
        }
        let mut resp = req.send().await.map_err(|e| {
            self.err(
                Kind::Unavailable,
                format!(
                    "{method} failed: {}",
                    chitin_sandbox::text::error_chain(&e.without_url())
                ),
            )
        })?;
        let status = resp.status();
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(c)) => {
                    if body.len() + c.len() > MAX_BODY {
                        return Err(self.err(
                            Kind::Unavailable,
                            format!("{method}: the response is over {MAX_BODY} bytes"),
                        ));
                    }
                    body.extend_from_slice(&c);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(self.err(
                        Kind::Unavailable,
                        format!(
                            "{method}: reading the response failed: {}",
                            chitin_sandbox::text::error_chain(&e.without_url())
                        ),
                    ));
                }
            }
        }
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                self.err(
                    Kind::Unavailable,
                    format!("{method}: the response does not parse: {e}"),
                )
            });
        }
        let parsed: Option<ErrorResponse> = serde_json::from_slice(&body).ok();
        let description = parsed
            .as_ref()
            .map(|p| chitin_sandbox::text::one_line(&p.description, 200))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        match status.as_u16() {
            // A bad token is a 401 (or a 404 for a malformed one).
            401 | 404 => Err(ChannelError::Unauthorized {
                channel: "telegram".into(),
                secret: self.secret.clone(),
            }),
            429 => Err(ChannelError::RateLimited {
                channel: "telegram".into(),
                retry_after: Duration::from_secs(u64::from(
                    parsed
                        .and_then(|p| p.parameters)
                        .and_then(|p| p.retry_after)
                        .unwrap_or(1)
                        .clamp(1, 300),
                )),
            }),
            s if s >= 500 => Err(self.err(Kind::Unavailable, format!("{method}: {description}"))),
            _ => Err(self.err(Kind::Rejected, format!("{method}: {description}"))),
        }
    }

    async fn request_with_form_data<Params, Output>(
        &self,
        method: &str,
        _params: Params,
        _files: Vec<(&str, PathBuf)>,
    ) -> Result<Output, ChannelError>
    where
        Params: serde::ser::Serialize + std::fmt::Debug + std::marker::Send,
        Output: serde::de::DeserializeOwned,
    {
        // The agent sends text only; uploading files is not offered.
        Err(self.err(
            Kind::Rejected,
            format!("{method}: file uploads are not supported"),
        ))
    }
}
