//! `web-fetch`: GET a URL inside the network grant and return its readable
//! text (tags, scripts and styles stripped), capped in size.

use chitin_skill_sdk::prelude::*;

const DEFAULT_MAX_CHARS: usize = 20_000;
const MAX_BODY: usize = 4 * 1024 * 1024;

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
    text: String,
    truncated: bool,
}

/// Remove markup: drop `<script>`/`<style>` bodies and tags, decode the
/// common entities, collapse whitespace.
fn readable(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &lower[i..];
        if rest.starts_with("<script") || rest.starts_with("<style") {
            let close = if rest.starts_with("<script") {
                "</script>"
            } else {
                "</style>"
            };
            i = match rest.find(close) {
                Some(end) => i + end + close.len(),
                None => html.len(),
            };
            out.push(' ');
        } else if rest.starts_with('<') {
            i = match rest.find('>') {
                Some(end) => i + end + 1,
                None => html.len(),
            };
            out.push(' ');
        } else {
            let next = rest.find('<').map_or(html.len(), |n| i + n);
            out.push_str(&html[i..next]);
            i = next;
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn fetch(input: FetchInput) -> Result<Page, ToolError> {
    let max_chars = input.max_chars.unwrap_or(DEFAULT_MAX_CHARS).min(200_000);
    let resp = http::get(&input.url)
        .header("accept", "text/html, text/plain;q=0.9, */*;q=0.5")
        .header("user-agent", "chitin-web-fetch/0.1")
        .max_body(MAX_BODY)
        .send()?;
    let content_type = resp.header("content-type").unwrap_or("").to_string();
    let raw = resp.text();
    let text = if content_type.contains("html") || raw.trim_start().starts_with('<') {
        readable(&raw)
    } else {
        raw
    };
    let truncated = text.chars().count() > max_chars;
    let text = if truncated {
        text.chars().take(max_chars).collect()
    } else {
        text
    };
    Ok(Page {
        url: resp.url,
        status: resp.status,
        content_type,
        text,
        truncated,
    })
}

fn skill() -> Skill {
    Skill::new().tool(
        Tool::new(
            "fetch",
            "Fetch a web page (GET) and return its readable text. Only hosts the user granted are reachable.",
            json!({"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "description": "http:// or https:// URL"},
                "max_chars": {"type": "integer", "minimum": 1, "description": "Cap on returned characters (default 20000)"}}}),
        )
        .effects([Effect::Network]),
        fetch,
    )
}

chitin_skill_sdk::export_skill!(skill);

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn strips_markup_scripts_and_entities() {
        let html = "<html><head><style>p{}</style><script>alert(1)</script></head>\
                    <body><h1>Hi &amp; bye</h1>\n<p>a  b</p></body></html>";
        assert_eq!(readable(html), "Hi & bye a b");
    }
}
