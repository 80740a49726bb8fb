//! `/v1/chat/completions` and `/v1/models`: the agent behind the OpenAI
//! Chat Completions API (placeholder; see the endpoint work).

use super::turns::Turns;
use std::sync::Arc;

/// The OpenAI-compatible routes (behind the token guard).
pub fn routes(turns: Arc<Turns>) -> axum::Router {
    let _ = turns;
    axum::Router::new()
}
