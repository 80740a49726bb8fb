//! The daemon's OpenAI-compatible endpoint (`/v1/chat/completions`,
//! `/v1/models`) with the official `openai` Python package as the client.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;
