//! One result as the model sees it: title, URL and a plain-text snippet,
//! each capped, with non-web URLs (`javascript:`, `data:`) dropped.

use crate::text;
use chitin_skill_sdk::prelude::*;

/// Characters kept of a title.
pub const MAX_TITLE: usize = 200;
/// Characters kept of a snippet.
pub const MAX_SNIPPET: usize = 400;
/// Longest URL passed through; longer ones are dropped, not cut (a cut
/// URL points somewhere else).
pub const MAX_URL: usize = 2048;

/// A search result.
#[derive(Debug, Serialize)]
pub struct Hit {
    /// The page title, plain text.
    pub title: String,
    /// The page URL.
    pub url: String,
    /// What the engine quoted from the page, plain text.
    pub snippet: String,
    /// Which engine found it (SearXNG only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// Results collected from one response, with what was cut.
#[derive(Debug, Default)]
pub struct Hits {
    /// Kept results, in the engine's order.
    pub list: Vec<Hit>,
    /// Results the response had beyond the requested count.
    pub dropped: usize,
    /// Results skipped because they had no usable http(s) URL.
    pub skipped: usize,
    /// Whether any title or snippet was shortened.
    pub text_cut: bool,
}

impl Hits {
    /// Add one raw result (fields as the service sent them, any JSON type),
    /// keeping at most `max` results.
    pub fn push(
        &mut self,
        title: &Value,
        url: &Value,
        snippet: &Value,
        engine: &Value,
        max: usize,
    ) {
        let Some(url) = url.as_str().map(str::trim).filter(|u| web_url(u)) else {
            self.skipped += 1;
            return;
        };
        if self.list.len() >= max {
            self.dropped += 1;
            return;
        }
        let (title, t_cut) = text::cap(&text::plain(title.as_str().unwrap_or("")), MAX_TITLE);
        let (snippet, s_cut) = text::cap(&text::plain(snippet.as_str().unwrap_or("")), MAX_SNIPPET);
        self.text_cut |= t_cut || s_cut;
        let engine = engine.as_str().map(|e| text::cap(&text::collapse(e), 40).0);
        self.list.push(Hit {
            title,
            url: url.to_string(),
            snippet,
            engine,
        });
    }
}

/// An absolute http(s) URL with no whitespace or control characters.
fn web_url(u: &str) -> bool {
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && u.len() <= MAX_URL
        && !u.chars().any(|c| c.is_whitespace() || c.is_control())
}
