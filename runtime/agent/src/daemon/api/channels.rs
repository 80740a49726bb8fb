//! `/api/channels`: the channels' health, the owner's pairings and the
//! codes waiting for them (see docs/API.md). Pairing from here is the same
//! as `chitin channels pair CODE`: only someone holding the daemon token
//! can let a sender in.

use super::{ApiError, ApiJson};
use crate::channels::Hub;
use crate::channels::hub::pairing;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

type Shared = State<Arc<Hub>>;

/// The channel routes (behind the token guard).
pub fn routes(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/api/channels", get(list))
        .route("/api/channels/pair", post(pair))
        .route("/api/channels/unpair", post(unpair))
        .with_state(hub)
}

fn store_error(e: crate::store::StoreError) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn list(State(hub): Shared) -> Result<Json<serde_json::Value>, ApiError> {
    let store = hub.turns().agent().store();
    Ok(Json(json!({
        "channels": hub.health(),
        "pairings": store.pairings().map_err(store_error)?,
        "codes": store.codes().map_err(store_error)?.iter().map(|c| json!({
            "code": c.code, "channel": c.channel, "sender_id": c.sender_id,
            "name": c.name, "expires_ms": c.expires_ms,
        })).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
struct PairBody {
    code: String,
}

async fn pair(
    State(hub): Shared,
    ApiJson(body): ApiJson<PairBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let code = pairing::normalize(&body.code).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            "a pairing code looks like ABCD-EFGH (the bot sent it to the person asking)".into(),
        )
    })?;
    let store = hub.turns().agent().store();
    match store.redeem_code(&code).map_err(store_error)? {
        Some(p) => Ok(Json(json!({
            "paired": true, "channel": p.channel, "sender_id": p.sender_id, "name": p.name,
        }))),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "no live pairing code {code}: it expired or was used; ask the sender to message the bot again for a new one"
            ),
        )),
    }
}

#[derive(Deserialize)]
struct UnpairBody {
    channel: String,
    sender_id: String,
}

async fn unpair(
    State(hub): Shared,
    ApiJson(body): ApiJson<UnpairBody>,
) -> Result<StatusCode, ApiError> {
    let store = hub.turns().agent().store();
    if store
        .unpair(&body.channel, &body.sender_id)
        .map_err(store_error)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(
            StatusCode::NOT_FOUND,
            "no such pairing (GET /api/channels lists them)".into(),
        ))
    }
}
