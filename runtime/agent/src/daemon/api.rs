//! The HTTP API (see docs/API.md) and the web chat page; the sessions
//! endpoints are in [`sessions`].

pub mod channels;
mod sessions;

use super::turns::{StartError, Turns};
use crate::policy::Policy;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The web chat, embedded: no external resources. One page with one
/// script: the markup and styles, the Markdown renderer, the app.
pub const CHAT_PAGE: &str = concat!(
    include_str!("chat/page.html"),
    include_str!("chat/markdown.js"),
    include_str!("chat/app.js"),
    include_str!("chat/end.html"),
);

const PAGE_CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// An API error: a status and a message saying what to do.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type Shared = State<Arc<Turns>>;

/// A JSON body whose rejection (bad JSON, wrong types, wrong media type)
/// is a JSON error like every other answer of the API.
pub struct ApiJson<T>(pub T);

/// The API's error for a refused JSON body.
fn body_refused(rejection: axum::extract::rejection::JsonRejection) -> ApiError {
    ApiError(
        rejection.status(),
        format!(
            "the request body was refused: {} (see docs/API.md)",
            chitin_sandbox::text::one_line(&rejection.body_text(), 300)
        ),
    )
}

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::OptionalFromRequest<S>
    for ApiJson<T>
{
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<Option<Self>, ApiError> {
        match <Json<T> as axum::extract::OptionalFromRequest<S>>::from_request(req, state).await {
            Ok(value) => Ok(value.map(|Json(v)| ApiJson(v))),
            Err(rejection) => Err(body_refused(rejection)),
        }
    }
}

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(body_refused(rejection)),
        }
    }
}

/// A query string whose rejection is a JSON error like every other answer.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!(
                    "the query string was refused: {} (see docs/API.md)",
                    chitin_sandbox::text::one_line(&rejection.body_text(), 300)
                ),
            )),
        }
    }
}

/// How long a turn's event stream may stay silent before a comment line
/// goes out: a client that went away is noticed (the write fails) and its
/// connection slot freed, even while the turn waits for an approval.
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// All routes (the guard middleware is added by the caller).
pub fn routes(turns: Arc<Turns>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/health", get(health))
        .route("/api/tools", get(tools))
        .route("/api/tools/{name}/policy", put(set_policy))
        .route("/api/sessions", get(sessions::list).post(sessions::create))
        .route(
            "/api/sessions/{id}",
            get(sessions::get)
                .patch(sessions::rename)
                .delete(sessions::delete),
        )
        .route("/api/sessions/{id}/messages", post(post_message))
        .route("/api/sessions/{id}/approvals/{approval}", post(answer))
        .route("/api/sessions/{id}/cancel", post(cancel))
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "no such endpoint (see docs/API.md)".into(),
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not take that method (see docs/API.md)".into(),
            )
        })
        .with_state(turns)
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        CHAT_PAGE,
    )
        .into_response()
}

async fn health(State(t): Shared) -> Json<serde_json::Value> {
    let agent = t.agent();
    // What is installed now, not what was installed at start.
    let problems = agent.toolbox().refresh().await;
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "provider": agent.provider().ok().map(|p| p.describe()),
        "provider_problem": agent.provider().err().map(|e| e.to_string()),
        "skills": agent.toolbox().skill_count(),
        "tools": agent.toolbox().entries().len(),
        "served": agent.toolbox().served(),
        "skill_problems": problems,
    }))
}

async fn tools(State(t): Shared) -> Json<serde_json::Value> {
    t.agent().toolbox().refresh().await;
    Json(json!(t.agent().tools()))
}

#[derive(Deserialize)]
struct PolicyBody {
    policy: String,
}

async fn set_policy(
    State(t): Shared,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PolicyBody>,
) -> Result<StatusCode, ApiError> {
    t.agent().toolbox().refresh().await;
    if t.agent().toolbox().get(&name).is_none() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no tool `{name}` (GET /api/tools lists them)"),
        ));
    }
    let policy = match body.policy.as_str() {
        "default" => None,
        p => Some(Policy::parse(p).ok_or_else(|| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("policy `{p}`: expected allow, ask, deny or default"),
            )
        })?),
    };
    t.agent().set_policy(&name, policy)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct MessageBody {
    text: String,
}

async fn post_message(
    State(t): Shared,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<Response, ApiError> {
    if body.text.trim().is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "the message is empty".into(),
        ));
    }
    t.agent().store().session(&id)?;
    let rx = t.start(&id, body.text).map_err(|e| match e {
        StartError::Busy => ApiError(
            StatusCode::CONFLICT,
            "a turn is already running in this session; wait for it or cancel it".into(),
        ),
        StartError::ShuttingDown => ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down".into(),
        ),
    })?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
            // `recv` is cancel-safe: nothing is lost when the wait times out.
            Err(_) => ": keep-alive\n\n".to_string(),
            Ok(None) => return None,
            Ok(Some(event)) => {
                let line = serde_json::to_string(&event).unwrap_or_else(|e| {
                    json!({ "type": "error", "message": format!("cannot encode an event: {e}") })
                        .to_string()
                });
                format!("data: {line}\n\n")
            }
        };
        Some((Ok::<_, std::convert::Infallible>(Bytes::from(chunk)), rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

#[derive(Deserialize)]
struct AnswerBody {
    approve: bool,
}

async fn answer(
    State(t): Shared,
    Path((id, approval)): Path<(String, String)>,
    ApiJson(body): ApiJson<AnswerBody>,
) -> Result<StatusCode, ApiError> {
    if t.answer(&id, &approval, body.approve) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "no pending approval `{approval}` in session `{id}` (answered, timed out or cancelled)"
            ),
        ))
    }
}

async fn cancel(State(t): Shared, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if t.cancel(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no turn is running in session `{id}`"),
        ))
    }
}
