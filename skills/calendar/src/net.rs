//! Requests to calendar servers, with errors that say what to do.

use crate::text::{clean, denied, origin};
use chitin_skill_sdk::prelude::*;

/// Largest calendar answer read.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// Send; a host denial names the grant to add. `secret` is the secret the
/// request relies on (for the hint).
pub fn send(
    req: http::Request,
    url: &str,
    secret: Option<&str>,
) -> Result<http::Response, ToolError> {
    let resp = req
        .header("user-agent", "chitin-calendar/0.1")
        .max_body(MAX_BODY + 1)
        .send()
        .map_err(|e| match e {
            http::HttpError::Denied(_) => denied(url, secret),
            other => ToolError::from(other),
        })?;
    if resp.body.len() > MAX_BODY {
        return Err(ToolError::failed(format!(
            "{url}: the answer is larger than {} MiB; not read",
            MAX_BODY / (1024 * 1024)
        )));
    }
    Ok(resp)
}

/// A failure for an unexpected status, with a hint for the common ones.
pub fn status_error(url: &str, status: u16, body: &[u8], secret: Option<&str>) -> ToolError {
    let o = origin(url);
    let hint = match (status, secret) {
        (401 | 403, Some(s)) => format!(
            ": the server refused the credentials; set the {s} secret (e.g. `Basic <base64 of user:password>`) and grant it for {o}"
        ),
        (401 | 403, None) => {
            ": the calendar needs credentials; use the CalDAV tools with the CALDAV_AUTH secret"
                .into()
        }
        (404, _) => ": no such calendar; check the URL".into(),
        _ => String::new(),
    };
    let snippet = clean(&String::from_utf8_lossy(&body[..body.len().min(200)]), 200);
    ToolError::failed(format!("{url} answered {status}{hint} ({snippet})"))
}

/// The body as text, refusing an HTML page where iCalendar or XML was
/// expected (a login page, a wrong URL).
pub fn text_of(resp: &http::Response, url: &str, expected: &str) -> Result<String, ToolError> {
    let text = resp.text();
    let head = text
        .trim_start()
        .get(..64)
        .unwrap_or(text.trim_start())
        .to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        return Err(ToolError::failed(format!(
            "{url} answered with an HTML page, not {expected}: check the URL (a login or share page is not the feed)"
        )));
    }
    Ok(text)
}
