//! What keeps a long-running agent useful and in bounds, in process with a
//! scripted model server: memory that outlives a session (Markdown files
//! the user can edit, an FTS5 index that follows them), compaction that
//! keeps an early fact, and spend caps checked before a call is sent.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod compaction;
mod recall;
mod spend;

use chitin::agent::Agent;
use chitin::agent::config::MemorySection;
use chitin::memory::Memory;
use chitin::provider::ProviderKind;
use std::sync::Arc;
use support::agent::Home;
use support::model::ModelServer;

/// An in-process agent of `home` on `server` (OpenAI wire format) with its
/// memory on.
pub fn agent_with_memory(home: &Home, server: &ModelServer, agent_toml: &str) -> Agent {
    home.agent(ProviderKind::Openai, server, agent_toml)
        .with_memory(memory(home), MemorySection::default())
}

/// The memory of `home`.
pub fn memory(home: &Home) -> Arc<Memory> {
    Arc::new(
        Memory::open_at(
            &home.home.join("data/memory"),
            &home.home.join("data/memory-index.db"),
        )
        .unwrap(),
    )
}

/// The text of every message a request sent, and its system prompt.
pub fn request_text(body: &serde_json::Value) -> String {
    body["messages"].to_string()
}
