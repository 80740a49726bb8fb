//! The Brave Search API: `GET {api}/res/v1/web/search?q=…&count=…&offset=…`,
//! answering `{"web": {"results": [{"title", "url", "description", …}]}, …}`
//! (no `web` at all when nothing matched). The key travels in the
//! `X-Subscription-Token` header, which the host adds from the
//! `BRAVE_SEARCH_KEY` secret: this component never sees it.

use crate::endpoint::{self, Base};
use crate::hits::Hits;
use crate::{MAX_BODY, MAX_SCAN, Query};
use chitin_skill_sdk::prelude::*;

const SERVICE: &str = "Brave Search";

/// The secret the host injects.
pub const SECRET: &str = "BRAVE_SEARCH_KEY";

/// Brave's own limits: at most 20 results a page, offsets 0 to 9.
pub const MAX_COUNT: usize = 20;

/// Run one search against the API at `base`.
pub fn search(base: &Base, q: &Query) -> Result<Hits, ToolError> {
    let mut qs = form_urlencoded::Serializer::new(String::new());
    qs.append_pair("q", &q.text)
        .append_pair("count", &q.count.min(MAX_COUNT).to_string())
        .append_pair("offset", &(q.page - 1).to_string());
    if let Some(lang) = &q.language {
        qs.append_pair("search_lang", &lang.to_ascii_lowercase());
    }
    let url = format!("{}/res/v1/web/search?{}", base.url, qs.finish());
    // No Accept-Encoding: the host refuses compressed answers to requests
    // that carry a secret.
    let reply = endpoint::get(
        crate::SKILL,
        base,
        &url,
        &[("accept", "application/json")],
        MAX_BODY,
        SERVICE,
    )?;
    if reply.status != 200 {
        return Err(refusal(base, reply.status, &reply.body));
    }
    let v = endpoint::json(&reply, SERVICE, "is `api` the Brave Search API?")?;
    let mut hits = Hits::default();
    let Some(web) = v.get("web") else {
        return Ok(hits);
    };
    let results = web
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ToolError::failed("Brave Search's response has `web` but no `web.results` list")
        })?;
    for r in results.iter().take(MAX_SCAN) {
        hits.push(
            &r["title"],
            &r["url"],
            &r["description"],
            &Value::Null,
            q.count,
        );
    }
    Ok(hits)
}

/// An error status, with Brave's own `error.code`/`error.detail` when the
/// body has them.
fn refusal(base: &Base, status: u16, body: &[u8]) -> ToolError {
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            let e = v.get("error")?;
            let code = e.get("code").and_then(Value::as_str).unwrap_or("");
            let detail = e.get("detail").and_then(Value::as_str).unwrap_or("");
            Some(endpoint::short(&format!("{code}: {detail}")))
        })
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    let key_help = format!(
        "set the key with `chitin secret set {SECRET}` and grant it with \
         `chitin skill grant web-search secret:{SECRET}`"
    );
    match status {
        401 | 403 => ToolError::failed(format!(
            "Brave Search refused the request (HTTP {status}){detail}: {key_help}"
        )),
        422 if detail.contains("TOKEN") => ToolError::failed(format!(
            "Brave Search refused the key (HTTP 422){detail}: {key_help}"
        )),
        429 => ToolError::failed(format!(
            "Brave Search rate limit or monthly quota reached (HTTP 429){detail}: try again later"
        )),
        s => ToolError::failed(format!(
            "Brave Search at {} answered HTTP {s}{detail}",
            base.origin
        )),
    }
}
