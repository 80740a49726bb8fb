//! The sessions endpoints: create, list a page at a time (optionally
//! searching), open one (with its running turn's pending approvals),
//! rename and delete.

use super::{ApiError, ApiJson, ApiQuery, Shared};
use crate::store::{MAX_PAGE, SessionInfo, StoreError};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

/// Sessions per page when the request does not say.
const DEFAULT_PAGE: u32 = 50;

/// The longest search text (in characters).
const MAX_QUERY_CHARS: usize = 200;

#[derive(Deserialize, Default)]
pub(super) struct NewSession {
    #[serde(default)]
    title: Option<String>,
}

pub(super) async fn create(
    State(t): Shared,
    body: Option<ApiJson<NewSession>>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let title = body.and_then(|b| b.0.title).unwrap_or_default();
    let info = t.agent().store().create_session(&title)?;
    Ok((StatusCode::CREATED, Json(json!(info))))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    limit: Option<u32>,
    before: Option<String>,
    q: Option<String>,
}

/// A session as the list shows it: the summary and whether a turn runs.
fn listed(t: &super::Turns, s: SessionInfo) -> serde_json::Value {
    let running = t.is_running(&s.id);
    let mut v = json!(s);
    v["running"] = json!(running);
    v
}

pub(super) async fn list(
    State(t): Shared,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("limit {limit}: a page holds 1 to {MAX_PAGE} sessions"),
        ));
    }
    let before = query.before.as_deref().filter(|b| !b.is_empty());
    let q = query.q.as_deref().map(str::trim).unwrap_or_default();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("the search text is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let store = t.agent().store().clone();
    let (q, before) = (q.to_string(), before.map(str::to_string));
    let page = blocking(move || {
        if q.is_empty() {
            store.sessions_page(limit, before.as_deref())
        } else {
            store.search_sessions(&q, limit, before.as_deref())
        }
    })
    .await?;
    let sessions: Vec<serde_json::Value> =
        page.sessions.into_iter().map(|s| listed(&t, s)).collect();
    Ok(Json(json!({ "sessions": sessions, "next": page.next })))
}

pub(super) async fn get(
    State(t): Shared,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = t.agent().store();
    let session = store.session(&id)?;
    let messages = store.messages(&id)?;
    let approvals = store.approvals(&id)?;
    let pending = t.pending_approvals(&id);
    Ok(Json(json!({
        "session": session,
        "messages": messages,
        "approvals": approvals,
        "running": pending.is_some(),
        "pending_approvals": pending.unwrap_or_default(),
    })))
}

#[derive(Deserialize)]
pub(super) struct Rename {
    title: String,
}

pub(super) async fn rename(
    State(t): Shared,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Rename>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let info = t.agent().store().rename_session(&id, &body.title)?;
    Ok(Json(listed(&t, info)))
}

pub(super) async fn delete(
    State(t): Shared,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // No turn can start in the session while it is deleted; the deletion
    // itself (a write transaction, maybe waiting on another process) runs
    // off the async threads.
    let Some(reserved) = t.reserve(&id) else {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "a turn is running in session `{id}`; cancel it or wait for it to end, then delete the session"
            ),
        ));
    };
    let store = t.agent().store().clone();
    let scratch = t
        .agent()
        .toolbox()
        .interpreters()
        .map(|i| i.scratch().clone());
    blocking(move || {
        let _reserved = reserved;
        let n = store.delete_session(&id)?;
        // Its files go with it (a failure is logged; the record is gone).
        if let Some(Err(e)) = scratch.map(|s| s.remove(&id)) {
            tracing::warn!("removing the scratch directory of session {id}: {e}");
        }
        Ok(n)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run store work that may take a while (a search over every message, a
/// deletion) on a blocking thread, so the daemon's async threads stay free.
async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, StoreError> + Send + 'static,
) -> Result<R, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the store task failed: {e}"),
        )),
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NoSession(_) => StatusCode::NOT_FOUND,
            StoreError::BadCursor(_) | StoreError::BadTitle(_) => StatusCode::BAD_REQUEST,
            StoreError::Busy { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}
