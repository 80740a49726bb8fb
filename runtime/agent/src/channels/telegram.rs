//! Telegram (placeholder).

use super::{Channel, ChannelError, ChatRef, Hub};
use crate::agent::config::TelegramSection;
use crate::provider::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The Telegram adapter.
pub struct Telegram {
    #[allow(dead_code)]
    token: String,
}

impl Telegram {
    /// An adapter for `section` with the bot `token`.
    pub fn new(section: &TelegramSection, token: String) -> Result<Self, String> {
        let _ = section;
        Ok(Telegram { token })
    }
}

impl Channel for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
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
