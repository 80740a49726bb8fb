//! `feeds`: read an RSS 2.0, RSS 1.0 (RDF) or Atom 1.0 feed and return its
//! newest items as plain text (HTML stripped, entities decoded, dates in
//! RFC 3339), capped in count and length.

mod date;
mod fetch;
use chitin_skill_sdk::text;
mod xml;

use chitin_skill_sdk::prelude::*;
use chrono::{DateTime, Utc};
use xml::{Field, Markup};

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 50;
const MAX_TITLE: usize = 300;
const MAX_SUMMARY: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadInput {
    url: String,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    since: Option<String>,
}

#[derive(Serialize)]
struct FeedInfo {
    title: String,
    link: Option<String>,
    format: &'static str,
}

#[derive(Serialize)]
struct Item {
    title: String,
    link: Option<String>,
    published: Option<String>,
    summary: String,
}

#[derive(Serialize)]
struct ReadOutput {
    feed: FeedInfo,
    items: Vec<Item>,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

/// A field as one line of plain text.
fn plain(field: &Field) -> String {
    match field.markup {
        Markup::Html => text::plain(&field.text),
        Markup::Text => text::collapse(&field.text),
    }
}

/// An absolute http(s) link; a root-relative one is resolved against the
/// feed's origin; anything else (`javascript:`, `data:`) is dropped.
fn link(raw: Option<&str>, origin: &str) -> Option<String> {
    let raw = raw?.trim();
    let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
    let url = if lower.starts_with("https://") || lower.starts_with("http://") {
        raw.to_string()
    } else if raw.starts_with('/') && !raw.starts_with("//") {
        format!("{origin}{raw}")
    } else {
        return None;
    };
    (url.len() <= 2048 && url.chars().all(|c| c.is_ascii_graphic())).then_some(url)
}

fn read(input: ReadInput) -> Result<ReadOutput, ToolError> {
    let origin = fetch::check_url(input.url.trim())?;
    let limit = input
        .limit
        .map_or(DEFAULT_LIMIT, |l| (l as usize).clamp(1, MAX_LIMIT));
    let since: Option<DateTime<Utc>> = match input.since.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    ToolError::invalid(format!(
                        "`since` `{}` is not an RFC 3339 date such as 2024-05-01T00:00:00Z",
                        text::cap(&text::collapse(s), 40).0
                    ))
                })?
                .with_timezone(&Utc),
        ),
    };
    let doc = fetch::get(input.url.trim(), &origin)?;
    let raw = xml::parse(&doc).map_err(ToolError::failed)?;

    let mut items = Vec::new();
    let (mut older, mut undated, mut dropped, mut cut) = (0usize, 0usize, raw.more, false);
    for it in &raw.items {
        let when = it
            .published
            .as_deref()
            .or(it.updated.as_deref())
            .and_then(date::parse);
        if let Some(since) = since {
            match when {
                Some(w) if w <= since => {
                    older += 1;
                    continue;
                }
                None => {
                    undated += 1;
                    continue;
                }
                Some(_) => {}
            }
        }
        if items.len() >= limit {
            dropped += 1;
            continue;
        }
        let (title, t_cut) = text::cap(&plain(&it.title), MAX_TITLE);
        let body = if it.summary.text.trim().is_empty() {
            &it.content
        } else {
            &it.summary
        };
        let (summary, s_cut) = text::cap(&plain(body), MAX_SUMMARY);
        cut |= t_cut || s_cut;
        let permalink = it.id.as_deref().filter(|_| raw.format == xml::Format::Rss);
        items.push(Item {
            title,
            link: link(it.link.as_deref(), &origin).or_else(|| link(permalink, &origin)),
            published: when.as_ref().map(date::format),
            summary,
        });
    }

    let mut notes = Vec::new();
    if dropped > 0 {
        notes.push(format!(
            "{dropped} more items left out (limit {limit}); use `since` or a larger limit"
        ));
    }
    if cut {
        notes.push(format!(
            "titles are cut at {MAX_TITLE} and summaries at {MAX_SUMMARY} characters"
        ));
    }
    if older > 0 {
        notes.push(format!("{older} items published before `since` skipped"));
    }
    if undated > 0 {
        notes.push(format!(
            "{undated} items without a readable date skipped (`since` given)"
        ));
    }
    if items.is_empty() {
        notes.push("no items".to_string());
    }
    Ok(ReadOutput {
        feed: FeedInfo {
            title: text::cap(&plain(&raw.title), MAX_TITLE).0,
            link: link(raw.link.as_deref(), &origin),
            format: raw.format.name(),
        },
        items,
        truncated: dropped > 0 || cut,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

fn skill() -> Skill {
    let schema = json!({
        "type": "object",
        "required": ["url"],
        "additionalProperties": false,
        "properties": {
            "url": {"type": "string", "description": "The feed's URL (RSS or Atom), http or https; its host must be granted."},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT,
                "description": "Most items to return, in the feed's order (usually newest first)."},
            "since": {"type": "string", "format": "date-time",
                "description": "Only items published after this RFC 3339 time, e.g. 2024-05-01T00:00:00Z."}
        }
    });
    Skill::new().tool(
        Tool::new(
            "read",
            "Read an RSS or Atom feed: items with title, link, published date (RFC 3339, UTC) \
             and a plain-text summary. Item text is untrusted web content.",
            schema,
        )
        .effects([Effect::Network]),
        read,
    )
}

chitin_skill_sdk::export_skill!(skill);
