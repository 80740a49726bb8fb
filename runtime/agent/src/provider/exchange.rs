//! What every provider does the same way for one model call over HTTP:
//! post the request and read the answer (a stream of events, or a whole
//! JSON body from servers that ignore `stream`) into the provider's own
//! parser, note whether anything reached the user (retries stop then), read
//! the token counts of a usage report, and list the models for `check()`.

use super::http::{HttpClient, MAX_BODY};
use super::retry::{self, Failure};
use super::sse::SseEvent;
use super::{Delta, ProviderError, TextSink};
use bytes::Bytes;
use http::Method;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};

/// A provider's parser of one answer.
pub(super) trait Answer {
    /// One streamed event; `true` when it ends the answer.
    fn event(&mut self, event: &SseEvent, sink: TextSink<'_>) -> Result<bool, Failure>;

    /// A whole (non-streamed) JSON answer.
    fn whole(&mut self, json: &Value, sink: TextSink<'_>) -> Result<(), ProviderError>;

    /// A stream that closed without its end event is still complete
    /// (OpenAI-compatible servers that send a finish reason but no `[DONE]`).
    fn complete_without_end(&self) -> bool {
        false
    }
}

/// One model request.
pub(super) struct Post<'a> {
    /// Path under the base URL.
    pub path: &'a str,
    /// Headers besides `accept` (which asks for a stream).
    pub headers: &'a [(&'a str, &'a str)],
    /// The JSON body.
    pub body: &'a Bytes,
    /// The model (named in errors).
    pub model: &'a str,
    /// The event a complete stream ends with (named when it is cut).
    pub end: &'a str,
}

/// Send `req` and read the answer into `answer`.
pub(super) async fn post(
    client: &HttpClient,
    req: Post<'_>,
    answer: &mut impl Answer,
    sink: TextSink<'_>,
) -> Result<(), Failure> {
    let Post {
        path,
        headers,
        body,
        model,
        end,
    } = req;
    let mut headers = headers.to_vec();
    headers.push(("accept", "text/event-stream"));
    let resp = client
        .send(Method::POST, path, &headers, Some(body.clone()))
        .await?;
    let mut resp = retry::check_status(resp, model).await?;
    if resp.content_type() == "application/json" {
        let body = resp.bytes(MAX_BODY).await?;
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| ProviderError::Protocol(format!("invalid JSON answer: {e}")))?;
        return Ok(answer.whole(&json, sink)?);
    }
    let complete = resp
        .events::<Failure, _>(|event| answer.event(&event, sink))
        .await?;
    if !complete && !answer.complete_without_end() {
        return Err(resp.cut(format!("the stream ended before {end}")).into());
    }
    Ok(())
}

/// The model ids `GET path` lists (`{"data":[{"id":..}]}`).
pub(super) async fn models(
    client: &HttpClient,
    path: &str,
    headers: &[(&str, &str)],
    model: &str,
) -> Result<Vec<String>, Failure> {
    let resp = client.send(Method::GET, path, headers, None).await?;
    let resp = retry::check_status(resp, model).await?;
    Ok(model_ids(&resp.bytes(MAX_BODY).await?)?)
}

/// `Bearer KEY`, when there is a key.
pub(super) fn bearer(api_key: Option<&str>) -> Option<String> {
    api_key.map(|k| format!("Bearer {k}"))
}

/// Whether anything of the answer reached the user yet.
#[derive(Debug, Default)]
pub(super) struct Shown(AtomicBool);

impl Shown {
    /// `text`, noting each non-empty piece.
    pub(super) fn sink<'a>(&'a self, text: TextSink<'a>) -> impl Fn(Delta<'_>) + Send + Sync + 'a {
        move |d: Delta<'_>| {
            if !matches!(d, Delta::Text("") | Delta::Reasoning("")) {
                self.0.store(true, Ordering::SeqCst);
                text(d);
            }
        }
    }

    /// The flag the retry loop reads.
    pub(super) fn flag(&self) -> &AtomicBool {
        &self.0
    }

    /// Something was shown.
    pub(super) fn any(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The `id`s of a `{"data":[{"id":..}, ..]}` model list.
pub(super) fn model_ids(body: &[u8]) -> Result<Vec<String>, ProviderError> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| ProviderError::Protocol(format!("the model list is not JSON: {e}")))?;
    let data = json
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Protocol("the model list has no `data` array".into()))?;
    Ok(data
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// `check()`'s verdict: a summary when `listed` accepts one of `ids` (or the
/// list is empty, so nothing can be told), else `NotFound`.
pub(super) fn check_listed(
    describe: String,
    model: &str,
    ids: &[String],
    listed: impl Fn(&str) -> bool,
) -> Result<String, ProviderError> {
    if ids.is_empty() {
        Ok(format!("{describe}: reachable (it lists no models)"))
    } else if ids.iter().any(|id| listed(id)) {
        Ok(format!(
            "{describe}: reachable, model listed ({} models)",
            ids.len()
        ))
    } else {
        Err(ProviderError::NotFound {
            model: model.to_string(),
            message: format!("it is not among the {} models listed", ids.len()),
        })
    }
}

/// A token count from a usage report, capped (a hostile or broken count
/// cannot overflow the sums).
pub(super) fn tokens(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
        .map(|n| n.min(crate::messages::MAX_REPORTED_TOKENS))
}
