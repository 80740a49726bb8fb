//! The model server's prompt cache, reported the way the providers report
//! theirs (for the caching benchmark and tests): Anthropic caches the
//! prefix up to each `cache_control` breakpoint (tools, then system, then
//! messages; a later request hits an entry at a block boundary up to 20
//! blocks before one of its breakpoints); DeepSeek caches every prompt and
//! reports the longest prefix shared with an earlier one, in 64-token
//! units. Tokens are counted as bytes / 4 of the blocks' JSON.

use serde_json::Value;

/// Which provider's cache to emulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Explicit breakpoints (`cache_control`), reads and writes reported.
    Anthropic,
    /// Automatic prefix caching, hits reported.
    DeepSeek,
    /// No cache: prompt tokens counted, nothing ever hits (a provider
    /// without caching, or a prefix that changes every request).
    Off,
}

/// What one request cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// All prompt tokens.
    pub total: u64,
    /// Read from the cache.
    pub read: u64,
    /// Written to it (Anthropic).
    pub write: u64,
}

/// The cache's entries so far.
#[derive(Debug, Default)]
pub struct PromptCache {
    entries: Vec<String>,
}

/// Most entries kept (the oldest go first).
const MAX_ENTRIES: usize = 4096;

fn tokens(bytes: usize) -> u64 {
    (bytes / 4) as u64
}

impl PromptCache {
    /// Account for one request body, and cache what it makes cacheable.
    pub fn request(&mut self, mode: CacheMode, body: &Value) -> CacheUsage {
        let blocks = blocks(mode, body);
        let mut prefix = Vec::with_capacity(blocks.len());
        let mut text = String::new();
        for (json, _) in &blocks {
            text.push_str(json);
            prefix.push(text.len());
        }
        let total = tokens(text.len());
        match mode {
            CacheMode::Anthropic => {
                let breakpoints: Vec<usize> = blocks
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, bp))| *bp)
                    .map(|(i, _)| i)
                    .collect();
                let mut hit = 0usize;
                for &b in breakpoints.iter().rev() {
                    let found = (b.saturating_sub(20)..=b).rev().find(|&j| {
                        self.entries
                            .iter()
                            .any(|e| e.len() == prefix[j] && text.starts_with(e.as_str()))
                    });
                    if let Some(j) = found {
                        hit = hit.max(prefix[j]);
                        break;
                    }
                }
                let written = breakpoints
                    .last()
                    .map_or(0, |&b| prefix[b].saturating_sub(hit));
                for &b in &breakpoints {
                    self.insert(text[..prefix[b]].to_string());
                }
                CacheUsage {
                    total,
                    read: tokens(hit),
                    write: tokens(written),
                }
            }
            CacheMode::Off => CacheUsage {
                total,
                ..CacheUsage::default()
            },
            CacheMode::DeepSeek => {
                let shared = self
                    .entries
                    .iter()
                    .map(|e| common_prefix(e, &text))
                    .max()
                    .unwrap_or(0);
                self.insert(text);
                // 64-token units of 4 bytes.
                CacheUsage {
                    total,
                    read: tokens(shared / 256 * 256),
                    write: 0,
                }
            }
        }
    }

    fn insert(&mut self, entry: String) {
        if !self.entries.contains(&entry) {
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.remove(0);
            }
            self.entries.push(entry);
        }
    }
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The request's blocks in cache order, each as JSON without its
/// `cache_control`, and whether it carries one.
fn blocks(mode: CacheMode, body: &Value) -> Vec<(String, bool)> {
    let strip = |v: &Value| {
        let mut v = v.clone();
        let bp = v.get("cache_control").is_some();
        if let Some(o) = v.as_object_mut() {
            o.remove("cache_control");
        }
        (v.to_string(), bp)
    };
    let mut out: Vec<(String, bool)> = Vec::new();
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    match mode {
        CacheMode::Anthropic => {
            out.extend(list(&body["tools"]).iter().map(strip));
            match &body["system"] {
                Value::String(s) => out.push((Value::String(s.clone()).to_string(), false)),
                v => out.extend(list(v).iter().map(strip)),
            }
            for m in list(&body["messages"]) {
                out.push((m["role"].to_string(), false));
                match &m["content"] {
                    Value::String(s) => out.push((Value::String(s.clone()).to_string(), false)),
                    v => out.extend(list(v).iter().map(strip)),
                }
            }
        }
        CacheMode::DeepSeek | CacheMode::Off => {
            out.extend(list(&body["tools"]).iter().map(strip));
            out.extend(list(&body["messages"]).iter().map(strip));
        }
    }
    out
}
