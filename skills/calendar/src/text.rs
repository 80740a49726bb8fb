//! Small text and URL helpers: everything from a server is hostile text.

use chitin_skill_sdk::ToolError;

/// Drop control characters (terminal escapes start with one; newlines and
/// tabs stay) and cap the length in characters, marking a cut with `…`.
pub fn clean(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// Check a user-given `http(s)://` URL: no credentials, fragment, spaces
/// or control characters. `what` names the input in the error.
pub fn http_url(raw: &str, what: &str) -> Result<String, ToolError> {
    let raw = raw.trim();
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or_else(|| {
            ToolError::invalid(format!("{what} `{raw}` must be an http:// or https:// URL"))
        })?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty()
        || authority.contains('@')
        || raw.contains(['#', ' ', '\\'])
        || raw.chars().any(char::is_control)
    {
        return Err(ToolError::invalid(format!(
            "{what} `{raw}` is not a plain http(s) URL"
        )));
    }
    Ok(raw.to_string())
}

/// The origin (`scheme://host[:port]`) of a checked URL, for error hints.
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split(['/', '?']).next().unwrap_or("");
    format!("{scheme}://{host}")
}

/// A denial from the host, turned into the grant the user can add.
pub fn denied(url: &str, secret: Option<&str>) -> ToolError {
    let o = origin(url);
    let extra = secret
        .map(|s| format!(" and its {s} secret for that host"))
        .unwrap_or_default();
    ToolError::Denied(format!(
        "the host refused {url}: grant {o} to this skill (`chitin skill grant calendar net:{o}`){extra}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(http_url("https://cal.example.org/dav/cal/", "url").is_ok());
        for bad in [
            "ftp://x",
            "https://u:p@h/",
            "https://h/#x",
            "https:///x",
            "https://h/a b",
        ] {
            assert!(http_url(bad, "url").is_err(), "{bad}");
        }
        assert_eq!(origin("http://127.0.0.1:80/a?b"), "http://127.0.0.1:80");
        assert_eq!(clean("a\u{1b}[2Jb", 99), "a[2Jb");
    }
}
