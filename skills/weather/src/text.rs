//! Untrusted strings from the API made safe to show: control and
//! bidi-override characters removed, whitespace collapsed, length capped.

/// Characters that must not reach a terminal or a model verbatim: C0/C1
/// controls (escape sequences) and bidi overrides.
fn hidden(c: char) -> bool {
    (c.is_control() && !c.is_whitespace())
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Runs of whitespace become one space; hidden characters are dropped.
pub fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        let clean: String = word.chars().filter(|&c| !hidden(c)).collect();
        if clean.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&clean);
    }
    out
}

/// At most `max` characters; an ellipsis marks a cut.
pub fn cap(s: &str, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        None => (s.to_string(), false),
        Some((end, _)) => {
            let cut = s[..end].trim_end();
            (format!("{cut}…"), true)
        }
    }
}
