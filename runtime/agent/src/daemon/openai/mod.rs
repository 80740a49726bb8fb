//! `/v1/chat/completions` and `/v1/models`: the agent behind the OpenAI
//! Chat Completions API, so any OpenAI client or UI (the `openai` SDKs,
//! Open WebUI, LibreChat) can talk to it. Behind the daemon's token like
//! the rest of the API.
//!
//! Each request is one turn of the agent ([`Turns::start_with`] with
//! [`Asking::Deny`]: nobody can answer an approval over this API, so a tool
//! that asks is denied at once and the model told; tools that policy
//! allows run in the sandbox as usual). The answer streams as `content`,
//! the progress as `reasoning_content` ([`reply`]); the conversation maps
//! onto a Chitin session ([`conversation`]); the request is checked
//! ([`request`]) and every refusal is an OpenAI-shaped error ([`error`]).

pub mod conversation;
pub mod error;
pub mod reply;
pub mod request;

use super::turns::{Asking, StartError, Turns};
use crate::agent::events::TurnEvent;
use crate::store::StoreError;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use error::OpenAiError;
use http_body_util::BodyExt;
use reply::{Ending, Ids, Translator};
use request::Message;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

/// The one model this endpoint serves: the agent.
pub const MODEL_ID: &str = "chitin";

/// The response header naming the Chitin session a completion ran in.
pub const SESSION_HEADER: &str = "x-chitin-session";

/// The endpoint's state.
struct Endpoint {
    turns: Arc<Turns>,
    memory: conversation::Memory,
    /// When the daemon started (the model's `created`).
    created: u64,
}

type Shared = State<Arc<Endpoint>>;

/// The OpenAI-compatible routes (behind the token guard).
pub fn routes(turns: Arc<Turns>) -> Router {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let state = Arc::new(Endpoint {
        turns,
        memory: conversation::Memory::default(),
        created,
    });
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/models/{model}", get(model))
        .route("/v1/chat/completions", post(completions))
        .with_state(state)
}

fn model_object(created: u64) -> Value {
    json!({
        "id": MODEL_ID,
        "object": "model",
        "created": created,
        "owned_by": "chitin",
    })
}

async fn models(State(e): Shared) -> Json<Value> {
    Json(json!({ "object": "list", "data": [model_object(e.created)] }))
}

async fn model(State(e): Shared, Path(id): Path<String>) -> Response {
    if id == MODEL_ID {
        Json(model_object(e.created)).into_response()
    } else {
        OpenAiError::no_model(&id).into_response()
    }
}

async fn completions(State(e): Shared, req: Request) -> Response {
    match complete(e, req).await {
        Ok(r) => r,
        Err(err) => {
            tracing::info!(status = err.status.as_u16(), code = ?err.code, "/v1/chat/completions refused: {}", chitin_sandbox::text::one_line(&err.message, 300));
            err.into_response()
        }
    }
}

/// The body, at most [`request::MAX_BODY_BYTES`].
async fn read_body(req: Request) -> Result<Bytes, OpenAiError> {
    let too_large = || {
        OpenAiError::with_status(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!(
                "the request body is larger than {} MiB",
                request::MAX_BODY_BYTES >> 20
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > request::MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(req.into_body(), request::MAX_BODY_BYTES);
    match limited.collect().await {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(OpenAiError::with_status(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "body_not_received",
            format!("the request body could not be read: {e}"),
        )),
    }
}

fn store_failed(e: StoreError) -> OpenAiError {
    OpenAiError::with_status(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "session_store",
        format!("the session database failed: {e}"),
    )
}

/// The session the request continues (true) or a new one (false).
fn session_for(e: &Endpoint, messages: &[Message]) -> Result<(String, bool), OpenAiError> {
    let store = e.turns.agent().store();
    if let Some(key) = conversation::continues(messages)
        && let Some(id) = e.memory.find(&key)
    {
        match store.session(&id) {
            Ok(_) => return Ok((id, true)),
            // Deleted since: the conversation starts again.
            Err(StoreError::NoSession(_)) => {}
            Err(err) => return Err(store_failed(err)),
        }
    }
    // Titled after the conversation's first user message.
    let user = messages
        .iter()
        .find(|m| m.role == request::Role::User)
        .map_or("", |m| m.text.as_str());
    let info = store
        .create_session(&conversation::title(user))
        .map_err(store_failed)?;
    Ok((info.id, false))
}

async fn complete(e: Arc<Endpoint>, req: Request) -> Result<Response, OpenAiError> {
    let body = read_body(req).await?;
    let chat = request::parse(&body)?;
    let (session, continued) = session_for(&e, &chat.messages)?;
    let text = conversation::turn_text(&chat.messages, continued);
    let rx = e
        .turns
        .start_with(&session, text, Asking::Deny)
        .map_err(|err| match err {
            StartError::Busy => OpenAiError::with_status(
                StatusCode::CONFLICT,
                "invalid_request_error",
                "conversation_busy",
                "the agent is still answering an earlier request of this conversation; wait for it to finish (or cancel it in Chitin), then send again",
            ),
            StartError::ShuttingDown => OpenAiError::with_status(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "shutting_down",
                "the daemon is shutting down",
            ),
        })?;
    tracing::info!(session = %session, continued, stream = chat.stream, "/v1/chat/completions: turn started");
    let answered = Answered {
        endpoint: e,
        messages: chat.messages,
        session: session.clone(),
    };
    let mut response = if chat.stream {
        stream(rx, answered, chat.include_usage)
    } else {
        whole(rx, answered).await?
    };
    if let Ok(v) = HeaderValue::from_str(&session) {
        response.headers_mut().insert(SESSION_HEADER, v);
    }
    Ok(response)
}

/// What is remembered once the turn answered.
struct Answered {
    endpoint: Arc<Endpoint>,
    messages: Vec<Message>,
    session: String,
}

impl Answered {
    /// The conversation with this answer continues in this session.
    fn remember(&self, answer: &str) {
        let key = conversation::key(&self.messages, Some(answer));
        self.endpoint.memory.remember(key, &self.session);
    }
}

fn ended_early() -> OpenAiError {
    OpenAiError::turn_failed("the agent's turn ended without an answer (the daemon's log says why)")
}

/// Wait for the whole turn; one `chat.completion`.
async fn whole(
    mut rx: UnboundedReceiver<TurnEvent>,
    answered: Answered,
) -> Result<Response, OpenAiError> {
    let mut t = Translator::default();
    while let Some(event) = rx.recv().await {
        let (_, end) = t.event(event);
        match end {
            None => continue,
            Some(Ending::Failed(err)) => return Err(err),
            Some(Ending::Finish { reason, refusal }) => {
                answered.remember(&t.content);
                let body = Ids::new().completion(&t, reason, refusal.as_deref());
                return Ok(Json(body).into_response());
            }
        }
    }
    Err(ended_early())
}

/// A streamed completion's state.
struct Streaming {
    rx: UnboundedReceiver<TurnEvent>,
    ids: Ids,
    t: Translator,
    include_usage: bool,
    answered: Answered,
    queue: VecDeque<String>,
    finished: bool,
}

fn sse(v: &Value) -> String {
    format!("data: {v}\n\n")
}

const DONE: &str = "data: [DONE]\n\n";

impl Streaming {
    fn on(&mut self, event: TurnEvent) {
        let (pieces, end) = self.t.event(event);
        for p in &pieces {
            let chunk = self.ids.chunk(reply::delta(p), None);
            self.queue.push_back(sse(&chunk));
        }
        match end {
            None => {}
            Some(Ending::Finish { reason, .. }) => {
                self.answered.remember(&self.t.content);
                let last = self.ids.chunk(json!({}), Some(reason));
                self.queue.push_back(sse(&last));
                if self.include_usage {
                    let usage = self.ids.usage_chunk(&self.t);
                    self.queue.push_back(sse(&usage));
                }
                self.finish();
            }
            Some(Ending::Failed(err)) => self.fail(&err),
        }
    }

    fn fail(&mut self, err: &OpenAiError) {
        self.queue.push_back(sse(&err.body()));
        self.finish();
    }

    fn finish(&mut self) {
        self.queue.push_back(DONE.to_string());
        self.finished = true;
    }

    /// The next bytes to send; `None` once `[DONE]` went out.
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(s) = self.queue.pop_front() {
                return Some(s);
            }
            if self.finished {
                return None;
            }
            match tokio::time::timeout(super::api::KEEP_ALIVE, self.rx.recv()).await {
                // A comment line: SSE clients skip it.
                Err(_) => return Some(": keep-alive\n\n".to_string()),
                Ok(None) => self.fail(&ended_early()),
                Ok(Some(event)) => self.on(event),
            }
        }
    }
}

/// Stream the turn as `chat.completion.chunk` events, then `[DONE]`.
fn stream(rx: UnboundedReceiver<TurnEvent>, answered: Answered, include_usage: bool) -> Response {
    let ids = Ids::new();
    let first = ids.chunk(json!({ "role": "assistant", "content": "" }), None);
    let state = Streaming {
        rx,
        ids,
        t: Translator::default(),
        include_usage,
        answered,
        queue: VecDeque::from([sse(&first)]),
        finished: false,
    };
    let body = futures_util::stream::unfold(state, |mut s| async move {
        let chunk = s.next().await?;
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), s))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
