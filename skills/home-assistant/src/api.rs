//! One request to the Home Assistant REST API, with the errors a user can
//! act on (token, grant, wrong address) and a bounded JSON body.

use chitin_skill_sdk::prelude::*;

/// Largest response read (a big installation's `/api/states` is a few MiB).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Send `method` to `base` + `path` (already validated) with an optional
/// JSON body, and parse the JSON answer.
pub fn call(
    method: &str,
    base: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, ToolError> {
    let url = format!("{base}{path}");
    let mut req = http::Request::new(method, &url)
        .header("accept", "application/json")
        .header("user-agent", "chitin-home-assistant/0.1")
        .max_body(MAX_BODY + 1);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().map_err(|e| match e {
        http::HttpError::Denied(m) => ToolError::Denied(format!(
            "{m}: grant {base} to this skill (`chitin skill grant home-assistant net:{base}`) \
             and its HOME_ASSISTANT_TOKEN secret for that host"
        )),
        other => ToolError::from(other),
    })?;
    if resp.body.len() > MAX_BODY {
        return Err(ToolError::failed(format!(
            "{url}: the answer is larger than {} MiB; not read",
            MAX_BODY / (1024 * 1024)
        )));
    }
    let message = || {
        serde_json::from_slice::<Value>(&resp.body)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .and_then(Value::as_str)
                    .map(|m| crate::shape::clean(m, 300))
            })
            .unwrap_or_default()
    };
    match resp.status {
        200 | 201 => {}
        401 | 403 => {
            return Err(ToolError::failed(format!(
                "Home Assistant at {base} refused the token ({}): set the HOME_ASSISTANT_TOKEN secret \
                 to a long-lived access token (Profile > Security) and grant it for {base}",
                resp.status
            )));
        }
        404 => {
            return Err(ToolError::failed(format!(
                "not found: {path} at {base} {}",
                message()
            )));
        }
        400 => {
            return Err(ToolError::failed(format!(
                "Home Assistant rejected the request to {path}: {}",
                message()
            )));
        }
        s => {
            return Err(ToolError::failed(format!(
                "Home Assistant at {base} answered {s} for {path} {}",
                message()
            )));
        }
    }
    serde_json::from_slice(&resp.body).map_err(|e| {
        let ct = resp.header("content-type").unwrap_or("");
        let head = String::from_utf8_lossy(&resp.body[..resp.body.len().min(64)]).to_ascii_lowercase();
        if ct.contains("html") || head.trim_start().starts_with('<') {
            ToolError::failed(format!(
                "{url} answered with an HTML page, not the REST API's JSON: is base_url the Home Assistant \
                 address (e.g. http://homeassistant.local:8123), not a proxy or login page?"
            ))
        } else {
            ToolError::failed(format!("{url} answered with invalid JSON: {e}"))
        }
    })
}
