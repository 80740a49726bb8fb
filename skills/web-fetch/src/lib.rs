//! `web-fetch`: GET a URL inside the network grant and return its readable
//! content: the title, the main text (boilerplate dropped, headings and
//! paragraphs as lines) and its links, capped in size.

mod extract;
mod render;

use chitin_skill_sdk::prelude::*;
use render::Link;
use scraper::{Html, Selector};
use url::Url;

const DEFAULT_MAX_CHARS: usize = 20_000;
const MAX_CHARS: usize = 200_000;
const MAX_BODY: usize = 4 * 1024 * 1024;
const MAX_TITLE: usize = 300;

#[derive(Deserialize)]
struct FetchInput {
    url: String,
    #[serde(default)]
    max_chars: Option<usize>,
}

#[derive(Serialize)]
struct Page {
    url: String,
    status: u16,
    content_type: String,
    title: Option<String>,
    text: String,
    truncated: bool,
    links: Vec<Link>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    links_truncated: bool,
}

fn collapse(s: &str, max: usize) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    words
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

fn title(doc: &Html) -> Option<String> {
    let sel = |s: &str| Selector::parse(s).ok();
    let from = |s: &str| {
        sel(s)
            .and_then(|q| doc.select(&q).next())
            .map(|e| collapse(&e.text().collect::<String>(), MAX_TITLE))
    };
    from("title")
        .filter(|t| !t.is_empty())
        .or_else(|| from("h1"))
        .filter(|t| !t.is_empty())
}

/// `<base href>` when it resolves, else the page's own URL.
fn base_url(doc: &Html, page: &str) -> Option<Url> {
    let page = Url::parse(page).ok();
    let base = Selector::parse("base[href]").ok().and_then(|q| {
        doc.select(&q)
            .next()
            .and_then(|b| b.value().attr("href").map(str::to_string))
    });
    match (base, &page) {
        (Some(b), Some(p)) => p.join(&b).ok().or(page),
        (Some(b), None) => Url::parse(&b).ok(),
        (None, _) => page,
    }
}

/// Readable parts of an HTML document.
fn readable(html: &str, page_url: &str, max_chars: usize) -> (Option<String>, render::Rendered) {
    let doc = Html::parse_document(html);
    let base = base_url(&doc, page_url);
    let root = extract::content_root(&doc);
    (title(&doc), render::render(root, base.as_ref(), max_chars))
}

fn plain(text: &str, max_chars: usize) -> (String, bool) {
    let clean = text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t');
    let mut out: String = clean.clone().take(max_chars).collect();
    let truncated = clean.count() > max_chars;
    if out.ends_with('\r') {
        out.pop();
    }
    (out, truncated)
}

fn fetch(input: FetchInput) -> Result<Page, ToolError> {
    let max_chars = input
        .max_chars
        .unwrap_or(DEFAULT_MAX_CHARS)
        .clamp(1, MAX_CHARS);
    let resp = http::get(&input.url)
        .header("accept", "text/html, text/plain;q=0.9, */*;q=0.5")
        .header("user-agent", "chitin-web-fetch/0.1")
        .max_body(MAX_BODY)
        .send()
        .map_err(|e| match e {
            http::HttpError::Denied(m) => ToolError::Denied(format!(
                "{m}: grant the site to this skill (`chitin skill grant web-fetch net:<scheme://host>` or --allow-host)"
            )),
            other => ToolError::from(other),
        })?;
    let content_type = collapse(resp.header("content-type").unwrap_or(""), 200);
    let raw = resp.text();
    let looks_html = content_type.contains("html")
        || raw
            .trim_start()
            .get(..15)
            .is_some_and(|h| h.to_ascii_lowercase().starts_with("<!doctype html"))
        || raw
            .trim_start()
            .get(..5)
            .is_some_and(|h| h.eq_ignore_ascii_case("<html"));
    let (title, text, truncated, links, links_truncated) = if looks_html {
        let (title, r) = readable(&raw, &resp.url, max_chars);
        (title, r.text, r.truncated, r.links, r.links_truncated)
    } else {
        let (text, truncated) = plain(&raw, max_chars);
        (None, text, truncated, Vec::new(), false)
    };
    Ok(Page {
        url: resp.url,
        status: resp.status,
        content_type,
        title,
        text,
        truncated: truncated || resp.body.len() >= MAX_BODY,
        links,
        links_truncated,
    })
}

fn skill() -> Skill {
    Skill::new().tool(
        Tool::new(
            "fetch",
            "Fetch a web page (GET) and return its readable content: `title`, `text` (the main content without navigation, ads and footers; headings as `#` lines, list items as `- ` lines), and `links` (text + absolute URL). `truncated` says the text was cut at `max_chars`. Only hosts the user granted are reachable.",
            json!({"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "description": "http:// or https:// URL"},
                "max_chars": {"type": "integer", "minimum": 1, "maximum": MAX_CHARS, "description": "Cap on returned text characters (default 20000)"}}}),
        )
        .effects([Effect::Network]),
        fetch,
    )
}

chitin_skill_sdk::export_skill!(skill);
