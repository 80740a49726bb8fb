//! `/api/channels`: the channels' health and the owner's pairings.

use crate::channels::Hub;
use std::sync::Arc;

/// The channel routes (behind the token guard).
pub fn routes(hub: Arc<Hub>) -> axum::Router {
    let _ = hub;
    axum::Router::new()
}
