//! `[memory]`: the Markdown memory files, the `memory_search` and
//! `memory_save` host tools, and what is recalled at the start of a
//! session.

use serde::Deserialize;

/// `[memory]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemorySection {
    /// Keep memory (the files, the tools, the recall).
    pub enabled: bool,
    /// Tokens (estimated) of memory offered at the start of a session.
    pub recall_tokens: u64,
}

impl Default for MemorySection {
    fn default() -> Self {
        MemorySection {
            enabled: true,
            recall_tokens: 1000,
        }
    }
}

impl MemorySection {
    /// What is wrong with it, for the config error.
    pub fn problems(&self) -> Vec<String> {
        if self.recall_tokens > 50_000 {
            vec![format!(
                "memory.recall_tokens = {}: must be at most 50000 (0 turns the recall off)",
                self.recall_tokens
            )]
        } else {
            Vec::new()
        }
    }
}
