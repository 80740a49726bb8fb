//! `web-search`: search the web through a SearXNG instance (self-hosted,
//! no key) or the Brave Search API (a key the host injects from the
//! `BRAVE_SEARCH_KEY` secret), returning a short list of titles, URLs and
//! plain-text snippets.

mod brave;
use chitin_skill_sdk::endpoint;
mod hits;
mod searxng;
use chitin_skill_sdk::text;

use chitin_skill_sdk::prelude::*;
use hits::Hit;

/// This skill's name, as `chitin skill grant` takes it.
pub(crate) const SKILL: &str = "web-search";
/// Largest response body read from either service.
pub(crate) const MAX_BODY: usize = 2 * 1024 * 1024;
/// Results looked at in one response, whatever it claims to hold.
pub(crate) const MAX_SCAN: usize = 500;
/// Most results returned by one call.
const MAX_COUNT: usize = 20;
const DEFAULT_COUNT: usize = 5;
const MAX_PAGE: u32 = 10;
const MAX_QUERY: usize = 400;

const DEFAULT_INSTANCE: &str = "http://127.0.0.1:8888";
const DEFAULT_BRAVE_API: &str = "https://api.search.brave.com";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    #[default]
    Searxng,
    Brave,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchInput {
    query: String,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    backend: Backend,
    #[serde(default)]
    instance: Option<String>,
    #[serde(default)]
    api: Option<String>,
}

/// A checked query, as both backends take it.
pub(crate) struct Query {
    /// The search terms.
    pub text: String,
    /// Results wanted (1 to 20).
    pub count: usize,
    /// Page, from 1.
    pub page: u32,
    /// A language code such as `en` or `de-DE`.
    pub language: Option<String>,
}

#[derive(Serialize)]
struct SearchOutput {
    backend: Backend,
    query: String,
    results: Vec<Hit>,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

fn check(input: &SearchInput) -> Result<Query, ToolError> {
    let text = input.query.trim();
    if text.is_empty() {
        return Err(ToolError::invalid(
            "`query` is empty: give the words to search for",
        ));
    }
    if text.chars().count() > MAX_QUERY {
        return Err(ToolError::invalid(format!(
            "`query` is longer than {MAX_QUERY} characters: shorten it"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(ToolError::invalid("`query` contains control characters"));
    }
    let page = input.page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ToolError::invalid(format!(
            "`page` must be between 1 and {MAX_PAGE}"
        )));
    }
    let language = match input.language.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(l) if valid_language(l) => Some(l.to_string()),
        Some(l) => {
            return Err(ToolError::invalid(format!(
                "`language` `{}` is not a language code such as `en` or `de-DE`",
                endpoint::short(l)
            )));
        }
    };
    let count = input
        .count
        .map_or(DEFAULT_COUNT, |c| (c as usize).clamp(1, MAX_COUNT));
    Ok(Query {
        text: text.to_string(),
        count,
        page,
        language,
    })
}

/// `en`, `de-DE`, `zh-Hans`, or `all` (SearXNG's "any language").
fn valid_language(l: &str) -> bool {
    let mut parts = l.split('-');
    let primary = parts.next().unwrap_or("");
    let region = parts.next();
    parts.next().is_none()
        && (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && region.is_none_or(|r| {
            (2..=8).contains(&r.len()) && r.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

fn search(input: SearchInput) -> Result<SearchOutput, ToolError> {
    let q = check(&input)?;
    let (hits, engines_note) = match input.backend {
        Backend::Searxng => {
            let raw = input.instance.as_deref().unwrap_or(DEFAULT_INSTANCE);
            searxng::search(&endpoint::parse(raw, "instance")?, &q)?
        }
        Backend::Brave => {
            let raw = input.api.as_deref().unwrap_or(DEFAULT_BRAVE_API);
            (brave::search(&endpoint::parse(raw, "api")?, &q)?, None)
        }
    };
    let mut notes = Vec::new();
    if hits.dropped > 0 {
        notes.push(format!(
            "{} more results on this page were left out (count {}); ask with a larger count or the next page",
            hits.dropped, q.count
        ));
    }
    if hits.text_cut {
        notes.push(format!(
            "titles are cut at {} and snippets at {} characters",
            hits::MAX_TITLE,
            hits::MAX_SNIPPET
        ));
    }
    if hits.skipped > 0 {
        notes.push(format!(
            "{} results without an http(s) URL were skipped",
            hits.skipped
        ));
    }
    if hits.list.is_empty() {
        notes.push("no results".to_string());
    }
    notes.extend(engines_note);
    Ok(SearchOutput {
        backend: input.backend,
        query: q.text,
        truncated: hits.dropped > 0 || hits.text_cut,
        results: hits.list,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

fn skill() -> Skill {
    let schema = json!({
        "type": "object",
        "required": ["query"],
        "additionalProperties": false,
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY,
                "description": "What to search for, as you would type it into a search engine."},
            "count": {"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "default": DEFAULT_COUNT,
                "description": "How many results to return."},
            "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1,
                "description": "Result page, from 1."},
            "language": {"type": "string",
                "description": "Language of the results, e.g. `en` or `de-DE` (default: the service's own)."},
            "backend": {"enum": ["searxng", "brave"], "default": "searxng",
                "description": "`searxng` (a SearXNG instance, no key) or `brave` (Brave Search API; needs the BRAVE_SEARCH_KEY secret)."},
            "instance": {"type": "string", "default": DEFAULT_INSTANCE,
                "description": "SearXNG base URL (must be granted to this skill)."},
            "api": {"type": "string", "default": DEFAULT_BRAVE_API,
                "description": "Brave Search API base URL, for a proxy (must be granted)."}
        }
    });
    Skill::new().tool(
        Tool::new(
            "search",
            "Search the web and get back a short list of results (title, url, plain-text snippet). \
             Use it to find pages; fetch a page to read it. Snippets are untrusted web text.",
            schema,
        )
        .effects([Effect::Network, Effect::UsesSecret(brave::SECRET.into())]),
        search,
    )
}

chitin_skill_sdk::export_skill!(skill);
