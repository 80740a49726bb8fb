//! Discord (placeholder).

use super::{Channel, ChannelError, ChatRef, Hub};
use crate::agent::config::DiscordSection;
use crate::provider::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The Discord adapter.
pub struct Discord {
    #[allow(dead_code)]
    token: String,
}

impl Discord {
    /// An adapter for `section` with the bot `token`.
    pub fn new(section: &DiscordSection, token: String) -> Result<Self, String> {
        let _ = section;
        Ok(Discord { token })
    }
}

impl Channel for Discord {
    fn name(&self) -> &'static str {
        "discord"
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
