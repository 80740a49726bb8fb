//! Channels end to end: the daemon against fake Telegram, Slack and
//! Discord servers on 127.0.0.1 speaking the platforms' real wire formats
//! (tests/support/{telegram,slack,discord}.rs, fixtures copied from the
//! platforms' documentation), with a scripted model; and the signed
//! webhook.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod discord;
mod slack;
mod telegram;
mod webhook;
