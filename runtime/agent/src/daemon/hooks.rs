//! `POST /hooks/NAME`: signed webhooks (placeholder; see the webhook work).

use crate::agent::config::WebhookSection;
use crate::channels::Hub;
use std::path::Path;
use std::sync::Arc;

/// The webhook routes (outside the token guard: each request is checked
/// by its signature instead).
pub fn routes(hub: Arc<Hub>, hooks: &[WebhookSection], secrets: &Path) -> axum::Router {
    let _ = (hub, hooks, secrets);
    axum::Router::new()
}
