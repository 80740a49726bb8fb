//! Markdown to the HTML subset Telegram renders (`parse_mode = HTML`):
//! bold, italic, strikethrough, code, code blocks and http(s) links. All
//! text is escaped first, so nothing in an answer can become markup of its
//! own; what is not understood stays as plain text.

/// `markdown` as Telegram HTML.
pub fn html(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + 64);
    let mut fence: Option<String> = None;
    for line in markdown.split('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("```") {
            match fence.take() {
                Some(_) => {
                    out.push_str("</code></pre>\n");
                }
                None => {
                    let lang = crate::channels::chunk::fence_lang(rest);
                    if lang.is_empty() {
                        out.push_str("<pre><code>");
                    } else {
                        out.push_str(&format!("<pre><code class=\"language-{lang}\">"));
                    }
                    fence = Some(lang);
                }
            }
            continue;
        }
        if fence.is_some() {
            out.push_str(&escape(line));
            out.push('\n');
            continue;
        }
        let heading = trimmed.trim_start_matches('#');
        if trimmed.starts_with('#') && heading.starts_with(' ') {
            out.push_str("<b>");
            out.push_str(&inline(heading.trim()));
            out.push_str("</b>\n");
            continue;
        }
        let bullet = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "));
        match bullet {
            Some(item) => {
                out.push_str("• ");
                out.push_str(&inline(item));
            }
            None => out.push_str(&inline(line)),
        }
        out.push('\n');
    }
    if fence.is_some() {
        out.push_str("</code></pre>");
    }
    while out.ends_with('\n') {
        out.pop();
    }
    out
}

/// Escape for Telegram HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline spans of one line.
fn inline(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '`'
            && let Some(end) = find(&chars, i + 1, "`")
        {
            out.push_str("<code>");
            out.push_str(&escape(&chars[i + 1..end].iter().collect::<String>()));
            out.push_str("</code>");
            i = end + 1;
            continue;
        }
        let mut matched = false;
        for (marker, tag) in [
            ("**", "b"),
            ("__", "b"),
            ("~~", "s"),
            ("*", "i"),
            ("_", "i"),
        ] {
            if starts(&chars, i, marker)
                && chars.get(i + marker.len()).is_some_and(|c| !c.is_whitespace())
                && let Some(end) = find(&chars, i + marker.len(), marker)
                && end > i + marker.len()
                && !chars[end - 1].is_whitespace()
                // `snake_case_words` are not italics.
                && !(marker.starts_with('_') && i > 0 && chars[i - 1].is_alphanumeric())
            {
                let inner: String = chars[i + marker.len()..end].iter().collect();
                out.push_str(&format!("<{tag}>{}</{tag}>", inline(&inner)));
                i = end + marker.len();
                matched = true;
                break;
            }
        }
        if matched {
            continue;
        }
        if c == '['
            && let Some(close) = find(&chars, i + 1, "](")
            && let Some(end) = find(&chars, close + 2, ")")
        {
            let text: String = chars[i + 1..close].iter().collect();
            let url: String = chars[close + 2..end].iter().collect();
            let lower = url.to_ascii_lowercase();
            if (lower.starts_with("https://") || lower.starts_with("http://"))
                && !url.contains(char::is_whitespace)
            {
                out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape(&url).replace('"', "&quot;"),
                    inline(&text)
                ));
                // The label is the model's text: show where it really goes.
                let host = url
                    .split_once("://")
                    .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(rest))
                    .unwrap_or_default();
                if text != url && text != host {
                    out.push_str(&format!(" ({})", escape(host)));
                }
                i = end + 1;
                continue;
            }
        }
        out.push_str(&escape(&c.to_string()));
        i += 1;
    }
    out
}

fn starts(chars: &[char], at: usize, s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(k, c)| chars.get(at + k) == Some(&c))
}

fn find(chars: &[char], from: usize, s: &str) -> Option<usize> {
    (from..chars.len()).find(|&k| starts(chars, k, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_common_markdown() {
        let table = [
            ("**bold** and *it*", "<b>bold</b> and <i>it</i>"),
            ("`a<b>`", "<code>a&lt;b&gt;</code>"),
            ("~~old~~", "<s>old</s>"),
            ("# Title", "<b>Title</b>"),
            ("- one", "• one"),
            (
                "[site](https://x.org/a?b=1&c=2)",
                "<a href=\"https://x.org/a?b=1&amp;c=2\">site</a> (x.org)",
            ),
            ("[bad](javascript:alert(1))", "[bad](javascript:alert(1))"),
            ("snake_case_name", "snake_case_name"),
            ("2 * 3 * 4", "2 * 3 * 4"),
            (
                "```rust\nlet a = 1 < 2;\n```",
                "<pre><code class=\"language-rust\">let a = 1 &lt; 2;\n</code></pre>",
            ),
        ];
        for (md, want) in table {
            assert_eq!(html(md), want, "{md}");
        }
    }

    #[test]
    fn a_link_label_cannot_hide_its_host() {
        let h = html("[https://bank.example](https://evil.example/login)");
        assert!(h.ends_with("</a> (evil.example)"), "{h}");
        assert!(!html("[x.org](https://x.org)").contains("(x.org)"));
    }

    #[test]
    fn hostile_text_cannot_make_markup() {
        let h = html("<a href=\"tg://x\">click</a> & <b>");
        assert!(!h.contains("<a"), "{h}");
        assert!(h.contains("&lt;a href"), "{h}");
        let unclosed = html("```\n<b>never closed");
        assert!(unclosed.ends_with("</code></pre>"), "{unclosed}");
    }
}
