//! `calendar`: events from an ICS feed, and listing and creating events on
//! a CalDAV server.
//!
//! The CalDAV credential never enters this component: the host injects the
//! `CALDAV_AUTH` secret as the `authorization` header for the granted server.

mod caldav;
mod create;
mod ics;
mod net;
mod text;
mod window;

use chitin_skill_sdk::prelude::*;
use chrono::Utc;
use text::http_url;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
const SECRET: &str = "CALDAV_AUTH";

#[derive(Deserialize)]
struct EventsInput {
    url: String,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct ListInput {
    calendar: String,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct CreateInput {
    calendar: String,
    summary: String,
    start: String,
    #[serde(default)]
    end: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Sort, cap and shape the answer.
fn answer(mut found: ics::Expanded, w: &window::Window, limit: Option<usize>) -> Value {
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    found.items.sort_by(|a, b| {
        a.sort_key
            .cmp(&b.sort_key)
            .then_with(|| a.summary.cmp(&b.summary))
    });
    let total = found.items.len();
    found.items.truncate(limit);
    json!({
        "window": {"start": w.start.to_rfc3339(), "end": w.end.to_rfc3339()},
        "events": found.items,
        "count": total,
        "truncated": total > limit,
        "warnings": found.warnings,
    })
}

fn events(input: EventsInput) -> Result<Value, ToolError> {
    // webcal:// is how feeds are often shared; it is plain HTTPS.
    let raw = match input.url.trim().strip_prefix("webcal://") {
        Some(rest) => format!("https://{rest}"),
        None => input.url.clone(),
    };
    let url = http_url(&raw, "url")?;
    let w = window::window(input.start.as_deref(), input.end.as_deref(), Utc::now())?;
    let req = http::get(&url).header("accept", "text/calendar, */*;q=0.5");
    let resp = net::send(req, &url, None)?;
    if resp.status != 200 {
        return Err(net::status_error(&url, resp.status, &resp.body, None));
    }
    let body = net::text_of(&resp, &url, "an iCalendar (.ics) feed")?;
    let parsed = ics::parse(&body)
        .map_err(|e| ToolError::failed(format!("{url} is not a valid iCalendar feed: {e}")))?;
    let mut found = ics::Expanded::default();
    ics::expand(&parsed, &w, &mut found);
    Ok(answer(found, &w, input.limit))
}

/// The collection URL with exactly one trailing slash.
fn collection(raw: &str) -> Result<String, ToolError> {
    let url = http_url(raw, "calendar")?;
    if url.contains('?') {
        return Err(ToolError::invalid(
            "calendar must be a collection URL without a query",
        ));
    }
    Ok(format!("{}/", url.trim_end_matches('/')))
}

fn list(input: ListInput) -> Result<Value, ToolError> {
    let url = collection(&input.calendar)?;
    let w = window::window(input.start.as_deref(), input.end.as_deref(), Utc::now())?;
    let req = http::Request::new("REPORT", &url)
        .header("depth", "1")
        .header("content-type", "application/xml; charset=utf-8")
        .body(caldav::query_body(&w));
    let resp = net::send(req, &url, Some(SECRET))?;
    if resp.status != 207 {
        return Err(net::status_error(
            &url,
            resp.status,
            &resp.body,
            Some(SECRET),
        ));
    }
    let xml = net::text_of(&resp, &url, "a CalDAV multistatus answer")?;
    let resources = caldav::parse_multistatus(&xml)
        .map_err(|e| ToolError::failed(format!("{url}: could not read the CalDAV answer: {e}")))?;
    let mut found = ics::Expanded::default();
    for r in &resources {
        let events = match ics::parse(&r.data) {
            Ok(ev) => ev,
            Err(e) => {
                found
                    .warnings
                    .push(text::clean(&format!("{}: not iCalendar: {e}", r.href), 200));
                continue;
            }
        };
        let before = found.items.len();
        ics::expand(&events, &w, &mut found);
        for occ in &mut found.items[before..] {
            occ.href = Some(text::clean(&r.href, 500));
        }
    }
    found.warnings.truncate(10);
    Ok(answer(found, &w, input.limit))
}

fn create_event(input: CreateInput) -> Result<Value, ToolError> {
    let base = collection(&input.calendar)?;
    let when = create::when(&input.start, input.end.as_deref())?;
    let uid = format!("{}@chitin", uuid::Uuid::new_v4());
    let ev = create::NewEvent {
        summary: &input.summary,
        when: when.clone(),
        location: input.location.as_deref(),
        description: input.description.as_deref(),
    };
    let body = create::ics(&ev, &uid)?;
    // The UID is a UUID plus a fixed suffix: safe as a path segment.
    let url = format!("{base}{uid}.ics");
    let req = http::Request::new("PUT", &url)
        .header("content-type", "text/calendar; charset=utf-8")
        .header("if-none-match", "*")
        .body(body);
    let resp = net::send(req, &url, Some(SECRET))?;
    match resp.status {
        201 | 204 => {}
        412 => {
            return Err(ToolError::failed(format!(
                "{url}: an event with this UID already exists (412); nothing was changed, try again"
            )));
        }
        s => return Err(net::status_error(&url, s, &resp.body, Some(SECRET))),
    }
    let (start, end, all_day) = match when {
        create::When::AllDay(s, e) => (s.to_string(), e.to_string(), true),
        create::When::Timed(s, e) => (s.to_rfc3339(), e.to_rfc3339(), false),
    };
    Ok(json!({
        "created": {
            "uid": uid, "href": url, "summary": text::clean(&input.summary, 200),
            "start": start, "end": end, "all_day": all_day,
            "location": input.location.as_deref().map(|l| text::clean(l, 200)),
        },
        "etag": resp.header("etag").map(|e| text::clean(e, 200)),
    }))
}

const WINDOW_DOC: &str = "RFC 3339 date-time (2026-12-24T18:00:00+01:00) or date (2026-12-24)";

fn skill() -> Skill {
    let dav = || [Effect::Network, Effect::UsesSecret(SECRET.into())];
    let window_props = |url: (&str, &str)| {
        json!({
            url.0: {"type": "string", "description": url.1},
            "start": {"type": "string", "description": format!("Window start, {WINDOW_DOC}; default now")},
            "end": {"type": "string", "description": format!("Window end (exclusive), {WINDOW_DOC}; default start + 30 days, at most 366 days")},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "Most events returned (default 50)"}
        })
    };
    Skill::new()
        .tool(
            Tool::new(
                "events",
                "Read events from an iCalendar (.ics / webcal://) feed URL within a time window, recurring events expanded, sorted by start. Times without a zone are read as UTC. The feed's host must be granted.",
                json!({"type": "object", "required": ["url"], "properties": window_props(("url", "The feed URL (https://…/calendar.ics or webcal://…)"))}),
            )
            .effects([Effect::Network]),
            events,
        )
        .tool(
            Tool::new(
                "list",
                "List events on a CalDAV calendar (Nextcloud, Radicale, Fastmail, iCloud…) within a time window, recurring events expanded, sorted by start. Read-only.",
                json!({"type": "object", "required": ["calendar"], "properties": window_props(("calendar", "The calendar collection URL, e.g. https://cloud.example.org/remote.php/dav/calendars/ada/personal/"))}),
            )
            .effects(dav()),
            list,
        )
        .tool(
            Tool::new(
                "create",
                "WRITES: create a new event on a CalDAV calendar and return it. Dates (2026-12-24) make an all-day event; date-times need an offset or Z. Confirm with the user before calling.",
                json!({"type": "object", "required": ["calendar", "summary", "start"], "properties": {
                    "calendar": {"type": "string", "description": "The calendar collection URL"},
                    "summary": {"type": "string", "description": "The event's title"},
                    "start": {"type": "string", "description": WINDOW_DOC},
                    "end": {"type": "string", "description": "Exclusive end, same form as start; default start + 1 hour (or the next day for a date)"},
                    "location": {"type": "string"},
                    "description": {"type": "string"}}}),
            )
            .effects(dav()),
            create_event,
        )
}

chitin_skill_sdk::export_skill!(skill);
