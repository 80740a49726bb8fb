//! What a provider's failure means, whether it came as an HTTP status with
//! an error body or inside a stream (OpenAI-style `{"error":{..}}` chunks,
//! Anthropic's `event: error`): one classifier for both, so an in-band
//! error is named exactly like the same error out of band.

use thiserror::Error;

/// How much of a non-JSON error body is quoted, in characters.
pub const MESSAGE_CHARS: usize = 300;

/// A provider call failed (after any retries).
#[derive(Debug, Error)]
pub enum ProviderError {
    /// The base URL is unusable.
    #[error("provider base URL `{url}` is invalid: {detail}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// 401/403: the key is missing, wrong or lacks access.
    #[error(
        "the provider rejected the API key ({status}): {message}; set the key with `chitin secret set <NAME>` and name it in config.toml [provider] api_key_secret (or set CHITIN_API_KEY)"
    )]
    Auth {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// 404, or a model the provider does not know.
    #[error(
        "the provider does not know model `{model}` or the endpoint ({message}); check [provider] model and base_url in config.toml"
    )]
    NotFound {
        /// The configured model.
        model: String,
        /// The provider's message.
        message: String,
    },
    /// The conversation is longer than the model's context window.
    #[error(
        "the conversation is too long for the model's context window ({message}); lower [agent] context_tokens or start a new session"
    )]
    ContextLength {
        /// The provider's message.
        message: String,
    },
    /// The provider's content filter refused the request.
    #[error("the provider's content filter blocked the request: {message}")]
    Filtered {
        /// The provider's message.
        message: String,
    },
    /// Other 4xx: the request was refused.
    #[error("the provider refused the request ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// 429 or 5xx, still failing after the retries.
    #[error("the provider {} ({status}){}: {message}", busy(*.status), tries(.attempts))]
    Unavailable {
        /// HTTP status (529: overloaded; in-band errors get the status
        /// their type stands for).
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The provider's message.
        message: String,
    },
    /// No connection or no answer in time, after the retries.
    #[error("cannot reach the provider at {url}{}: {detail}", tries(.attempts))]
    Unreachable {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What happened.
        detail: String,
    },
    /// The provider answered, but its stream broke or stalled before the
    /// answer was complete (after the retries, when nothing was shown yet).
    #[error("the provider's answer from {url} was cut off{}: {detail}", tries(.attempts))]
    Cut {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What happened.
        detail: String,
    },
    /// The response did not follow the protocol.
    #[error("the provider's response is malformed: {0}")]
    Protocol(String),
}

impl ProviderError {
    /// Worth retrying (before any output was streamed).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Unavailable { .. }
                | ProviderError::Unreachable { .. }
                | ProviderError::Cut { .. }
        )
    }

    /// Worth trying the next provider once this one's retries are spent:
    /// it is down, overloaded or unreachable. Never for what another
    /// provider would refuse too, nor for a key it refused (that is for
    /// the user to fix, not to route around).
    pub fn fails_over(&self) -> bool {
        self.retryable()
    }
}

/// What a 429/5xx says about the provider.
fn busy(status: u16) -> &'static str {
    match status {
        429 => "is rate limiting requests",
        503 | 529 => "is overloaded",
        _ => "had a server error",
    }
}

/// ` (3 attempts)` after a retried failure; nothing after a single one.
fn tries(attempts: &u32) -> String {
    if *attempts > 1 {
        format!(" ({attempts} attempts)")
    } else {
        String::new()
    }
}

/// An error as the provider described it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Described {
    /// The HTTP status, when out of band or given in-band as a number.
    pub status: Option<u16>,
    /// `error.type` (Anthropic's and OpenAI's categories).
    pub kind: String,
    /// `error.code` when a string (`context_length_exceeded`, ...).
    pub code: String,
    /// The human message.
    pub message: String,
}

impl Described {
    /// Read an error body or in-band error value: `{"error":{..}}`,
    /// `{"type":"error","error":{..}}`, `{"error":".."}`, `{"message":..}`;
    /// else the first [`MESSAGE_CHARS`] characters of the text.
    pub fn from_body(status: Option<u16>, body: &[u8]) -> Self {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(json) => Self::from_json(status, &json),
            Err(_) => Described {
                status,
                message: quote(&String::from_utf8_lossy(body)),
                ..Described::default()
            },
        }
    }

    /// As [`Described::from_body`], for parsed JSON (an `error` value or
    /// the whole body).
    pub fn from_json(status: Option<u16>, json: &serde_json::Value) -> Self {
        let err = match json.get("error") {
            Some(e) if e.is_object() => e,
            _ => json,
        };
        let str_at = |v: &serde_json::Value, k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let message = [
            err.get("message"),
            json.get("error"),
            json.get("message"),
            json.get("detail"),
        ]
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
        .map_or_else(|| quote(&json.to_string()), str::to_string);
        let numeric = err
            .get("code")
            .and_then(serde_json::Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c));
        Described {
            status: status.or(numeric),
            kind: str_at(err, "type"),
            code: str_at(err, "code"),
            message,
        }
    }

    /// The error this is. `model` names the configured model in
    /// [`ProviderError::NotFound`].
    pub fn classify(self, model: &str) -> ProviderError {
        let Described {
            status,
            kind,
            code,
            message,
        } = self;
        let message = quote(&message);
        let lower = message.to_ascii_lowercase();
        // Only a refused request can be about its length (a 429 or 5xx
        // that mentions the context window is still a busy provider).
        let about_the_request = matches!(status, None | Some(400 | 413 | 422));
        if code == "context_length_exceeded" || (about_the_request && says_too_long(&lower)) {
            return ProviderError::ContextLength { message };
        }
        if ["content_filter", "content_policy_violation"].contains(&code.as_str())
            || lower.contains("content management policy")
        {
            return ProviderError::Filtered { message };
        }
        // In-band errors name a type (or a code), not a status: give them
        // the status it stands for.
        let status = status
            .or_else(|| status_of(&kind))
            .or_else(|| status_of(&code));
        let quota = code == "insufficient_quota" || kind == "insufficient_quota";
        match status {
            Some(status @ (401 | 403)) => ProviderError::Auth { status, message },
            Some(404) => ProviderError::NotFound {
                model: model.to_string(),
                message,
            },
            Some(400 | 422) if says_unknown_model(&lower) => ProviderError::NotFound {
                model: model.to_string(),
                message,
            },
            // Out of credit: waiting will not help.
            Some(status @ 429) if quota => ProviderError::Rejected { status, message },
            Some(status @ (429 | 500..=599)) => ProviderError::Unavailable {
                status,
                attempts: 1,
                message,
            },
            Some(status) => ProviderError::Rejected { status, message },
            None => ProviderError::Protocol(format!("the stream reported an error: {message}")),
        }
    }
}

/// The HTTP status an error type or code stands for (Anthropic's types,
/// OpenAI's types and codes, OpenRouter's mid-stream codes).
fn status_of(name: &str) -> Option<u16> {
    Some(match name {
        "authentication_error" | "invalid_api_key" => 401,
        "permission_error" => 403,
        "not_found_error" | "model_not_found" => 404,
        "invalid_request_error" => 400,
        "request_too_large" => 413,
        "rate_limit_error" | "rate_limit_exceeded" | "insufficient_quota" => 429,
        "overloaded_error" => 529,
        "api_error" | "server_error" | "internal_error" => 500,
        _ => return None,
    })
}

/// The error for a non-success `status` with `body` (one attempt so far).
pub fn status_error(status: u16, body: &[u8], model: &str) -> ProviderError {
    Described::from_body(Some(status), body).classify(model)
}

/// The first [`MESSAGE_CHARS`] characters of `text`, `…` when cut.
fn quote(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let mut cut: String = text.chars().take(MESSAGE_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// Does `message` (lowercase) say the model does not exist?
fn says_unknown_model(m: &str) -> bool {
    m.contains("model")
        && [
            "not exist",
            "not found",
            "invalid model",
            "unknown model",
            "not a valid model",
            "no such model",
            "model_not_found",
        ]
        .iter()
        .any(|p| m.contains(p))
}

/// Does `message` (lowercase) say the prompt is over the context window?
/// (OpenAI, DeepSeek, vLLM: "maximum context length is N tokens";
/// Anthropic: "prompt is too long: N tokens > M maximum"; others alike.)
fn says_too_long(m: &str) -> bool {
    [
        "maximum context length",
        "context length exceeded",
        "context_length_exceeded",
        "prompt is too long",
        "context window",
        "input is too long",
        "exceeds the context",
        "too many input tokens",
        "reduce the length of the messages",
        "exceed context limit",
        "exceeds the maximum number of tokens",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// The first number right after `phrase` in `m` (commas, spaces, `(`
/// and `about` skipped).
fn number_after(m: &str, phrase: &str) -> Option<u64> {
    let rest = &m[m.find(phrase)? + phrase.len()..];
    let rest = rest.trim_start_matches([' ', '(', ':']);
    let rest = rest.strip_prefix("about ").unwrap_or(rest);
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The number right before `phrase` in `m`.
fn number_before(m: &str, phrase: &str) -> Option<u64> {
    let head = &m[..m.find(phrase)?];
    let digits: String = head
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// From a context-length message, how much of the input sent fits: the
/// model's limit, less the output it reserves, over the input sent, as the
/// providers word it (OpenAI, DeepSeek, vLLM: "maximum context length is N
/// tokens ... requested M (I in the messages, O in the completion)";
/// Anthropic: "prompt is too long: M tokens > N maximum", "exceed context
/// limit: I + O > N"). Clamped to 0.5..=0.9; 0.5 when the message says
/// too little.
pub fn context_ratio(message: &str) -> f64 {
    let m = message.to_ascii_lowercase();
    let limit = number_after(&m, "maximum context length is")
        .or_else(|| number_after(&m, "context window of"))
        .or_else(|| number_after(&m, "> "))
        .or_else(|| number_after(&m, "maximum number of tokens allowed"));
    let output = number_before(&m, " in the completion")
        .or_else(|| number_before(&m, " in the output"))
        .or_else(|| number_after(&m, "+ "))
        .unwrap_or(0);
    let sent = number_before(&m, " in the messages")
        .or_else(|| number_before(&m, " of text input"))
        .or_else(|| number_after(&m, "context limit:"))
        .or_else(|| number_after(&m, "resulted in"))
        .or_else(|| number_after(&m, "too long:"))
        .or_else(|| number_after(&m, "input token count"))
        .or_else(|| number_after(&m, "requested"));
    match (limit, sent) {
        (Some(limit), Some(sent)) if sent > 0 => {
            (limit.saturating_sub(output) as f64 / sent as f64).clamp(0.5, 0.9)
        }
        _ => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(status: Option<u16>, body: &str) -> ProviderError {
        Described::from_body(status, body.as_bytes()).classify("m")
    }

    #[test]
    fn in_band_and_out_of_band_errors_get_the_same_class() {
        let rate = r#"{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}"#;
        assert!(matches!(
            class(None, rate),
            ProviderError::Unavailable { status: 429, .. }
        ));
        assert!(matches!(
            class(Some(429), rate),
            ProviderError::Unavailable { status: 429, .. }
        ));
        let over = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let e = class(None, over);
        assert!(matches!(e, ProviderError::Unavailable { status: 529, .. }));
        assert!(e.to_string().contains("overloaded"), "{e}");
        let bad = r#"{"error":{"message":"tools.0: bad schema","type":"invalid_request_error"}}"#;
        assert!(matches!(
            class(None, bad),
            ProviderError::Rejected { status: 400, .. }
        ));
        let auth = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert!(matches!(
            class(None, auth),
            ProviderError::Auth { status: 401, .. }
        ));
        // OpenRouter puts the status in `code`.
        let or = r#"{"error":{"code":502,"message":"Provider returned error"}}"#;
        assert!(matches!(
            class(None, or),
            ProviderError::Unavailable { status: 502, .. }
        ));
        assert!(matches!(
            class(None, r#"{"error":{"message":"?"}}"#),
            ProviderError::Protocol(_)
        ));
    }

    #[test]
    fn context_length_filters_and_quota_are_told_apart() {
        let openai = r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130532 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        let e = class(Some(400), openai);
        assert!(matches!(e, ProviderError::ContextLength { .. }), "{e}");
        assert_eq!(context_ratio(&e.to_string()), 0.9, "128000 of 130532 fit");
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208196 tokens > 200000 maximum"}}"#;
        assert!(matches!(
            class(None, anthropic),
            ProviderError::ContextLength { .. }
        ));
        let ratio = |m: &str| (context_ratio(m) * 1000.0).round() / 1000.0;
        assert_eq!(
            ratio("prompt is too long: 208,196 tokens > 200,000 maximum"),
            0.9
        );
        assert_eq!(
            ratio("prompt is too long: 400000 tokens > 200000 maximum"),
            0.5
        );
        assert_eq!(ratio("too long"), 0.5);
        // The output the request reserves is not input to cut.
        assert_eq!(
            ratio(
                "This model's maximum context length is 128000 tokens. However, you requested 140000 tokens (135000 in the messages, 5000 in the completion)."
            ),
            0.911_f64.min(0.9)
        );
        assert_eq!(
            ratio(
                "This endpoint's maximum context length is 163840 tokens. However, you requested about 180254 tokens (172062 of text input, 8192 in the output)."
            ),
            0.905_f64.min(0.9)
        );
        assert_eq!(
            ratio(
                "input length and `max_tokens` exceed context limit: 195000 + 8192 > 200000, decrease input length or `max_tokens` and try again"
            ),
            0.9
        );
        assert_eq!(
            ratio(
                "The input token count (1500000) exceeds the maximum number of tokens allowed (1048576)."
            ),
            0.699
        );
        let anthropic_sum = r#"{"type":"error","error":{"type":"invalid_request_error","message":"input length and `max_tokens` exceed context limit: 195000 + 8192 > 200000"}}"#;
        assert!(matches!(
            class(None, anthropic_sum),
            ProviderError::ContextLength { .. }
        ));
        // A busy provider that mentions the context window is still busy.
        let busy = r#"{"error":{"message":"Server overloaded; context window caches full","type":"server_error"}}"#;
        assert!(matches!(
            class(Some(503), busy),
            ProviderError::Unavailable { .. }
        ));
        // Messages are capped.
        let long = format!(
            r#"{{"error":{{"message":"{}","type":"invalid_request_error"}}}}"#,
            "x".repeat(100_000)
        );
        assert!(class(None, &long).to_string().len() < 2 * MESSAGE_CHARS);
        let azure = r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","code":"content_filter","status":400}}"#;
        assert!(matches!(
            class(Some(400), azure),
            ProviderError::Filtered { .. }
        ));
        let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        let e = class(Some(429), quota);
        assert!(
            matches!(e, ProviderError::Rejected { status: 429, .. }),
            "{e}"
        );
        assert!(!e.retryable());
    }

    #[test]
    fn messages_are_taken_from_every_common_shape() {
        let m = |b: &str| Described::from_body(Some(500), b.as_bytes()).message;
        assert_eq!(
            m(r#"{"error":{"message":"Incorrect API key"}}"#),
            "Incorrect API key"
        );
        assert_eq!(
            m(r#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(m(r#"{"detail":"nope"}"#), "nope");
        assert_eq!(m(""), "(empty body)");
        let long = "é".repeat(400);
        assert_eq!(m(&long).chars().count(), MESSAGE_CHARS + 1);
        assert!(matches!(
            status_error(400, b"The model `gpt-9` does not exist", "m"),
            ProviderError::NotFound { .. }
        ));
        assert!(matches!(
            status_error(413, b"too big", "m"),
            ProviderError::Rejected { status: 413, .. }
        ));
    }
}
