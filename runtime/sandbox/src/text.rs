//! Hostile text: everything a skill, a package, a model or a remote peer
//! controls is cleaned before it reaches a terminal ([`clean`]), capped in
//! size ([`cap`]), and refused where it names something the host shows as
//! its own (guest paths, tool names, descriptions: [`find_control`]).
//!
//! One function decides what is dangerous on a terminal, so every path that
//! prints such text escapes the same characters.

use std::borrow::Cow;

/// Whether `c` can change what a terminal shows beyond printing a glyph, or
/// hide text from the person reading it: C0 and C1 controls and DEL (escape
/// sequences, carriage return, backspace), the Unicode format characters
/// (bidirectional overrides, isolates and marks that reorder text,
/// zero-width and invisible characters, tag characters that a model reads
/// but a terminal does not show), line and paragraph separators, and the
/// blank fillers. Zero-width (non-)joiners stay: scripts and emoji need
/// them and they move nothing. Newline and tab are handled by the callers.
pub fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{115f}'..='\u{1160}'
                | '\u{180e}'
                | '\u{200b}'
                | '\u{200e}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{3164}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0000}'..='\u{e007f}'
        )
}

/// `text` with every dangerous character (see [`is_dangerous`]) except
/// newline and tab shown as an escape (`\u{1b}`), so no escape sequence,
/// carriage return or bidi override reaches a terminal. Borrowed when there
/// is nothing to escape.
///
/// ```
/// use chitin_sandbox::text::clean;
/// assert_eq!(clean("ok\u{1b}[2J"), "ok\\u{1b}[2J");
/// assert_eq!(clean("two\nlines\tand tab"), "two\nlines\tand tab");
/// ```
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| is_dangerous(c) && c != '\n' && c != '\t')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_dangerous(c) && c != '\n' && c != '\t' {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`clean`], on one line: newlines and tabs become spaces, and the text is
/// cut at `max` characters (with `…`).
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = clean(text)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// Serialized JSON made safe for a terminal: JSON already escapes C0
/// controls inside strings, but not DEL, C1 controls or bidi characters;
/// those are written as `\uXXXX` escapes (still valid JSON, same value).
pub fn clean_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_dangerous_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_dangerous_in_json(c) {
            json_escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_dangerous_in_json(c: char) -> bool {
    // Newline, tab and other C0 controls can only appear between tokens
    // (whitespace) or already escaped; leave them.
    is_dangerous(c) && (c as u32) >= 0x7f
}

/// A `\uXXXX` JSON escape of `c` (a surrogate pair above the BMP).
fn json_escape(c: char, out: &mut String) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        out.push_str(&format!("\\u{:04x}", unit));
    }
}

/// `text` cut to at most `max_bytes` bytes (at a character boundary), with a
/// note saying how much was cut. Borrowed when it fits.
pub fn cap(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let mut end = max_bytes;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… [cut: {} more bytes]",
        &text[..end],
        text.len() - end
    ))
}

/// An error with its causes, each said once: a cause whose text the message
/// already ends with (`"reading x: No such file"` over `"No such file"`) is
/// not repeated, so a chain reads as one sentence; a short cause that only
/// appears inside the message (`"timed out"`) is still said.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// The first character of `text` that must not appear in a name, path or
/// description a package declares: any dangerous character, except newline
/// and tab when `multiline` allows them.
pub fn find_control(text: &str, multiline: bool) -> Option<char> {
    text.chars()
        .find(|&c| is_dangerous(c) && !(multiline && (c == '\n' || c == '\t')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_reach_the_terminal_only_as_text() {
        let hostile = "ok\u{1b}]52;c;Y3VybCBldmlsfHNo\u{7}\r\u{9b}2J\u{202e}txt.exe\u{200b}\u{7f}";
        let shown = clean(hostile);
        assert!(!shown.chars().any(is_dangerous), "{shown:?}");
        assert!(shown.starts_with("ok\\u{1b}]52;"), "{shown}");
        assert_eq!(clean("line\n\ttab é"), "line\n\ttab é");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
        assert_eq!(one_line("a\nb\u{1b}c", 100), "a b\\u{1b}c");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    #[test]
    fn json_stays_valid_and_equal() {
        let v = serde_json::json!({"t": "a\u{1b}b\u{9b}c\u{202e}d\u{7f}e\u{e0041}f"});
        let s = serde_json::to_string(&v).unwrap();
        let safe = clean_json(&s);
        assert!(!safe.chars().any(is_dangerous), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn caps_at_a_char_boundary() {
        assert_eq!(cap("short", 10), "short");
        let c = cap("ééééé", 3);
        assert!(c.starts_with("é…"), "{c}");
        assert!(c.contains("8 more bytes"), "{c}");
    }

    #[test]
    fn control_characters_are_found() {
        assert_eq!(find_control("/workspace", false), None);
        assert_eq!(find_control("/work\u{1b}[1A", false), Some('\u{1b}'));
        assert_eq!(find_control("two\nlines", true), None);
        assert_eq!(find_control("two\nlines", false), Some('\n'));
        assert_eq!(find_control("rtl\u{202e}", true), Some('\u{202e}'));
        // Invisible to the reader, readable by a model: tag characters.
        assert_eq!(
            find_control("ok\u{e0049}\u{e0047}", true),
            Some('\u{e0049}')
        );
        for c in [
            '\u{2028}', '\u{2029}', '\u{61c}', '\u{ad}', '\u{3164}', '\u{fff9}',
        ] {
            assert_eq!(find_control(&format!("a{c}b"), true), Some(c), "{c:?}");
        }
        // Joiners are part of scripts and emoji.
        assert_eq!(find_control("می\u{200c}خواهم 👩\u{200d}💻", false), None);
    }

    #[test]
    fn an_error_chain_says_each_cause_once() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let inner = E("No such file", None);
        let quoting = E("reading x: No such file", Some(Box::new(inner)));
        let outer = E("install failed", Some(Box::new(quoting)));
        assert_eq!(
            error_chain(&outer),
            "install failed: reading x: No such file"
        );
        let inner = E("timed out", None);
        let outer = E("the request timed out once, then", Some(Box::new(inner)));
        assert_eq!(
            error_chain(&outer),
            "the request timed out once, then: timed out"
        );
    }
}
