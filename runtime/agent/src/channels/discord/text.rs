//! Text both ways: what the agent sends is neutralised so it cannot ping
//! anyone or hide what it says (Discord renders Markdown natively, so the
//! rest passes through); what people send has the bot's own mention taken
//! out and is capped.

use chitin_sandbox::text::is_dangerous;

/// Discord's limit on a message's content, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// A zero-width space: inserted where Discord would otherwise see a mention.
const ZWSP: char = '\u{200b}';

/// `markdown` as message content that pings nobody and renders no mention:
/// `@everyone`/`@here` get a zero-width space after the `@`, user, role and
/// channel mentions (`<@…>`, `<@!…>`, `<@&…>`, `<#…>`) one after the `<`;
/// characters that reorder or hide text (bidi overrides, invisible
/// characters, controls other than newline and tab) are dropped; the result
/// is cut to [`MAX_MESSAGE_CHARS`]. (`allowed_mentions` with no `parse` is
/// sent as well: this is the second lock.) Applying it twice changes
/// nothing more.
pub fn neutralise(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + 8);
    let chars: Vec<char> = markdown
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !is_dangerous(c))
        .collect();
    for (i, &c) in chars.iter().enumerate() {
        out.push(c);
        let rest = &chars[i + 1..];
        let breaks = match c {
            '<' => matches!(rest.first(), Some('@' | '#')),
            '@' => mass_mention(rest),
            _ => false,
        };
        if breaks {
            out.push(ZWSP);
        }
    }
    cap_chars(&out, MAX_MESSAGE_CHARS)
}

/// Whether `rest` (what follows an `@`) starts with `everyone` or `here`,
/// in any case.
fn mass_mention(rest: &[char]) -> bool {
    ["everyone", "here"].iter().any(|word| {
        rest.len() >= word.len()
            && rest
                .iter()
                .zip(word.chars())
                .all(|(a, b)| a.eq_ignore_ascii_case(&b))
    })
}

/// `text` cut to at most `max` characters (ending with `…` when cut).
pub fn cap_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `content` without the bot's own mentions (`<@ID>`, `<@!ID>`), trimmed.
pub fn strip_mention(content: &str, bot_id: &str) -> String {
    if bot_id.is_empty() {
        return content.trim().to_string();
    }
    content
        .replace(&format!("<@{bot_id}>"), "")
        .replace(&format!("<@!{bot_id}>"), "")
        .trim()
        .to_string()
}

/// Whether `content` mentions the bot by id.
pub fn mentions(content: &str, bot_id: &str) -> bool {
    !bot_id.is_empty()
        && (content.contains(&format!("<@{bot_id}>")) || content.contains(&format!("<@!{bot_id}>")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn mass_mentions_and_mentions_are_neutralised() {
        let out = neutralise("hi @everyone and @HERE, <@123> <@!45> <@&6> <#7>");
        assert!(
            !out.contains("@everyone") && !out.to_lowercase().contains("@here"),
            "{out}"
        );
        for m in ["<@1", "<@!", "<@&", "<#7"] {
            assert!(!out.contains(m), "{m} in {out}");
        }
        assert_eq!(
            out.replace(ZWSP, ""),
            "hi @everyone and @HERE, <@123> <@!45> <@&6> <#7>"
        );
        // Idempotent.
        assert_eq!(neutralise(&out), out);
        // Markdown and masked links pass.
        let md = "**bold** _it_ `code` [link](https://example.com)\n- item";
        assert_eq!(neutralise(md), md);
        // Email-like text is left alone.
        assert_eq!(neutralise("a@b.c"), "a@b.c");
    }

    #[test]
    fn hidden_characters_are_dropped_and_length_capped() {
        assert_eq!(neutralise("ab\u{202e}cd\u{1b}[2J\r\n"), "abcd[2J\n");
        let long = neutralise(&"<@1>".repeat(1000));
        assert_eq!(long.chars().count(), MAX_MESSAGE_CHARS);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn the_bots_mention_is_stripped() {
        assert_eq!(strip_mention("<@42> hello <@!42>", "42"), "hello");
        assert_eq!(strip_mention("<@43> hello", "42"), "<@43> hello");
        assert!(mentions("hey <@!42>", "42"));
        assert!(!mentions("hey <@421>", "42"));
        assert!(!mentions("hey", ""));
    }
}
