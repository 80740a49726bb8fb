//! Slack (placeholder).

use super::{Channel, ChannelError, ChatRef, Hub};
use crate::agent::config::SlackSection;
use crate::provider::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The Slack adapter.
pub struct Slack {
    #[allow(dead_code)]
    token: String,
}

impl Slack {
    /// An adapter for `section` with the bot `token`.
    pub fn new(
        section: &SlackSection,
        app_token: String,
        bot_token: String,
    ) -> Result<Self, String> {
        let token = app_token + &bot_token;
        let _ = section;
        Ok(Slack { token })
    }
}

impl Channel for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }
    fn max_chunk(&self) -> usize {
        3500
    }
    fn send<'a>(
        &'a self,
        _chat: &'a ChatRef,
        _markdown: &'a str,
        _approval: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async { Ok(()) })
    }
    fn typing<'a>(&'a self, _chat: &'a ChatRef) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async { Ok(()) })
    }
    fn run(self: Arc<Self>, _hub: Arc<Hub>, _stop: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
