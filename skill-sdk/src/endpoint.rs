//! Base URLs that come from the input (a SearXNG instance, an API base) and
//! the one GET every backend makes through them.
//!
//! A base is checked so that only an http(s) origin and a plain path reach
//! the request; queries are appended by the caller with proper
//! percent-encoding. The host's allow-list still decides whether the
//! request may leave: a refusal is turned into the grant command to run.

use crate::prelude::*;

/// Longest base URL accepted.
const MAX_BASE: usize = 512;

/// A checked base URL.
#[derive(Debug, Clone)]
pub struct Base {
    /// The URL without a trailing slash, e.g. `http://127.0.0.1:8888/searx`.
    pub url: String,
    /// Scheme, host and port: what a network grant names.
    pub origin: String,
}

/// Check `raw` (the input called `what`) as an http(s) base URL.
pub fn parse(raw: &str, what: &str) -> Result<Base, ToolError> {
    let bad = |why: &str| ToolError::invalid(format!("{what} `{}`: {why}", short(raw)));
    if raw.len() > MAX_BASE {
        return Err(bad("longer than 512 characters"));
    }
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/[]%".contains(c);
    if let Some(c) = raw.chars().find(|&c| !allowed(c)) {
        return Err(bad(&format!(
            "character {c:?} is not allowed (no query, fragment, user or spaces)"
        )));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || authority.starts_with(':') {
        return Err(bad("has no host"));
    }
    let url = raw.trim_end_matches('/').to_string();
    let origin = url[..raw.len() - rest.len() + authority.len()].to_string();
    Ok(Base { url, origin })
}

/// At most 80 characters of untrusted text, for error messages.
pub fn short(s: &str) -> String {
    let (t, _) = crate::text::cap(&crate::text::collapse(s), 80);
    t
}

/// A response whose body fit under the cap.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// GET `url` (under `base`) with `headers`, reading at most `max_body`
/// bytes; a larger body is an error rather than a silently cut one. A
/// refusal names the grant `skill` (this skill's installed name) needs.
pub fn get(
    skill: &str,
    base: &Base,
    url: &str,
    headers: &[(&str, &str)],
    max_body: usize,
    service: &str,
) -> Result<Reply, ToolError> {
    let mut req = http::get(url).max_body(max_body + 1);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let resp = req.send().map_err(|e| match e {
        http::HttpError::Denied(m) => ToolError::Denied(format!(
            "{service} at {origin} is not granted to this skill ({m}): grant it with \
             `chitin skill grant {skill} net:{origin}`",
            origin = base.origin,
        )),
        other => ToolError::failed(format!("{service} at {}: {other}", base.origin)),
    })?;
    if resp.body.len() > max_body {
        return Err(ToolError::failed(format!(
            "{service} at {} sent more than {} KiB; refusing an oversized response",
            base.origin,
            max_body / 1024
        )));
    }
    Ok(Reply {
        status: resp.status,
        body: resp.body,
    })
}

/// Parse a JSON body, naming HTML (a login page, an error page, a disabled
/// JSON format) as such.
pub fn json(reply: &Reply, service: &str, hint: &str) -> Result<Value, ToolError> {
    serde_json::from_slice(&reply.body).map_err(|e| {
        let head = String::from_utf8_lossy(&reply.body[..reply.body.len().min(256)]).into_owned();
        if head.trim_start().starts_with('<') {
            ToolError::failed(format!("{service} answered with HTML, not JSON: {hint}"))
        } else {
            ToolError::failed(format!(
                "{service} answered with malformed JSON ({e}): {hint}"
            ))
        }
    })
}
