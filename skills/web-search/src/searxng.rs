//! SearXNG's JSON API: `GET {instance}/search?q=…&format=json&pageno=N`,
//! answering `{"results": [{"url", "title", "content", "engine", …}], …}`.
//! SearXNG has no page-size parameter, so the count is applied here.

use crate::endpoint::{self, Base};
use crate::hits::Hits;
use crate::{MAX_BODY, MAX_SCAN, Query};
use chitin_skill_sdk::prelude::*;

const SERVICE: &str = "SearXNG";

/// Run one search on the instance at `base`.
pub fn search(base: &Base, q: &Query) -> Result<(Hits, Option<String>), ToolError> {
    let mut qs = form_urlencoded::Serializer::new(String::new());
    qs.append_pair("q", &q.text)
        .append_pair("format", "json")
        .append_pair("pageno", &q.page.to_string());
    if let Some(lang) = &q.language {
        qs.append_pair("language", lang);
    }
    let url = format!("{}/search?{}", base.url, qs.finish());
    let reply = endpoint::get(
        crate::SKILL,
        base,
        &url,
        &[("accept", "application/json")],
        MAX_BODY,
        SERVICE,
    )?;
    match reply.status {
        200 => {}
        403 => {
            return Err(ToolError::failed(format!(
                "SearXNG at {} refused the JSON format (HTTP 403): add `json` to \
                 `search.formats` in the instance's settings.yml",
                base.origin
            )));
        }
        429 => {
            return Err(ToolError::failed(format!(
                "SearXNG at {} rate-limited this client (HTTP 429): use your own instance \
                 or relax its limiter",
                base.origin
            )));
        }
        s => {
            return Err(ToolError::failed(format!(
                "SearXNG at {} answered HTTP {s}",
                base.origin
            )));
        }
    }
    let hint = format!(
        "is {} a SearXNG instance with `json` in search.formats?",
        base.origin
    );
    let v = endpoint::json(&reply, SERVICE, &hint)?;
    let results = v.get("results").and_then(Value::as_array).ok_or_else(|| {
        ToolError::failed(format!("SearXNG's response has no `results` list: {hint}"))
    })?;
    let mut hits = Hits::default();
    for r in results.iter().take(MAX_SCAN) {
        hits.push(&r["title"], &r["url"], &r["content"], &r["engine"], q.count);
    }
    Ok((hits, unresponsive(&v)))
}

/// The engines that failed, as SearXNG lists them (`[[name, reason], …]`):
/// worth saying when the results are thin.
fn unresponsive(v: &Value) -> Option<String> {
    let list = v.get("unresponsive_engines")?.as_array()?;
    let names: Vec<String> = list
        .iter()
        .take(5)
        .filter_map(|e| {
            let pair = e.as_array()?;
            let name = endpoint::short(pair.first()?.as_str()?);
            let why = pair.get(1).and_then(Value::as_str).map(endpoint::short);
            Some(match why {
                Some(why) => format!("{name} ({why})"),
                None => name,
            })
        })
        .collect();
    (!names.is_empty()).then(|| format!("engines that did not answer: {}", names.join(", ")))
}
