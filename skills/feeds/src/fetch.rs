//! Getting the feed document: the URL checked, the body capped, the bytes
//! decoded (UTF-8, or ISO-8859-1/Windows-1252 when the XML declaration
//! says so), and a host refusal turned into the grant command.

use chitin_skill_sdk::prelude::*;

/// Largest feed accepted.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
const MAX_URL: usize = 2048;

/// The origin (scheme, host, port) of a checked URL: what a grant names.
pub fn check_url(url: &str) -> Result<String, ToolError> {
    let bad = |why: &str| {
        ToolError::invalid(format!(
            "`url` `{}`: {why}",
            crate::text::cap(&crate::text::collapse(url), 80).0
        ))
    };
    if url.len() > MAX_URL {
        return Err(bad("longer than 2048 characters"));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if url.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(bad(
            "contains spaces, control or non-ASCII characters (percent-encode them)",
        ));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains('@') {
        return Err(bad("has no host, or has a user name"));
    }
    Ok(url[..url.len() - rest.len() + end].to_string())
}

/// GET the feed at `url` (with `origin` for messages) as text.
pub fn get(url: &str, origin: &str) -> Result<String, ToolError> {
    let resp = http::get(url)
        .header(
            "accept",
            "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8",
        )
        .header("user-agent", "chitin-feeds/0.1")
        .max_body(MAX_BODY + 1)
        .send()
        .map_err(|e| match e {
            http::HttpError::Denied(m) => ToolError::Denied(format!(
                "{origin} is not granted to this skill ({m}): grant it with \
                 `chitin skill grant feeds net:{origin}`"
            )),
            other => ToolError::failed(format!("fetching the feed: {other}")),
        })?;
    if resp.status != 200 {
        return Err(ToolError::failed(format!(
            "{origin} answered HTTP {} for the feed{}",
            resp.status,
            if resp.status == 404 {
                ": check the feed URL"
            } else {
                ""
            }
        )));
    }
    if resp.body.len() > MAX_BODY {
        return Err(ToolError::failed(format!(
            "the feed is larger than {} MiB; refused",
            MAX_BODY >> 20
        )));
    }
    Ok(decode(resp.body))
}

/// UTF-8 if it is; Latin-1 when the declaration names a Latin-1 family
/// encoding; otherwise UTF-8 with invalid bytes replaced.
fn decode(body: Vec<u8>) -> String {
    match String::from_utf8(body) {
        Ok(s) => s.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(s),
        Err(e) => {
            let bytes = e.into_bytes();
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_ascii_lowercase();
            let latin = ["iso-8859-1", "latin1", "windows-1252", "us-ascii"]
                .iter()
                .any(|enc| head.contains(enc));
            if latin {
                bytes.iter().map(|&b| char::from(b)).collect()
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            }
        }
    }
}
