//! The conversion table, hostile text and Slack's inbound markup.

#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn conversion_table() {
    let cases = [
        ("plain text", "plain text"),
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("***both***", "*_both_*"),
        (
            "**bold with *italic* inside**",
            "*bold with _italic_ inside*",
        ),
        ("~~gone~~", "~gone~"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("a ** b", "a ** b"),
        (
            "[docs](https://example.com/a?b=1&c=2)",
            "<https://example.com/a?b=1&amp;c=2|docs> (example.com)",
        ),
        (
            "[wiki](https://en.wikipedia.org/wiki/Rust_(language))",
            "<https://en.wikipedia.org/wiki/Rust_(language)|wiki> (en.wikipedia.org)",
        ),
        (
            "![alt](https://example.com/i.png)",
            "<https://example.com/i.png|alt> (example.com)",
        ),
        ("<https://example.com>", "<https://example.com>"),
        (
            "[click](javascript:alert(1))",
            "click (javascript:alert(1))",
        ),
        ("# Title", "*Title*"),
        ("### Sub **x** ###", "*Sub x*"),
        ("#hashtag", "#hashtag"),
        ("- one\n* two\n  + three", "• one\n• two\n  • three"),
        ("1. first", "1. first"),
        ("> quoted *it*", "> quoted _it_"),
        ("---", "──────────"),
        ("`a < b && *c*`", "`a &lt; b &amp;&amp; *c*`"),
        (
            "```rust\nlet x = a < b;\n**not bold**\n```",
            "```\nlet x = a &lt; b;\n**not bold**\n```",
        ),
        ("```\nunclosed", "```\nunclosed\n```"),
        ("\\*literal\\*", "*literal*"),
        ("x > 1 & y", "x &gt; 1 &amp; y"),
        ("line\r\nnext", "line\nnext"),
    ];
    for (md, want) in cases {
        assert_eq!(to_mrkdwn(md), want, "for {md:?}");
    }
}

#[test]
fn hostile_text_cannot_mention_or_link() {
    let hostile = [
        "<!channel> wake up",
        "<!here|here> <!everyone>",
        "<@U012AB3CD> hi",
        "<#C0123|general>",
        "<!subteam^S123|@team>",
        "[<!channel>](https://x.example)",
        "[x](https://a.example|<!channel>)",
        "[x](https://a.example><!channel)",
        "`<!channel>`",
        "```\n<!channel>\n```",
        "**<!channel>**",
        "<https://ok.example|<!channel>>",
        "<<!channel>>",
        "&lt;!channel&gt;",
    ];
    for h in hostile {
        let out = to_mrkdwn(h);
        for bad in ["<!", "<@", "<#"] {
            assert!(!out.contains(bad), "{h:?} gave {out:?}");
        }
        // Every `<` left opens a link this module wrote.
        for (i, _) in out.match_indices('<') {
            let rest = &out[i + 1..];
            assert!(rest.starts_with("https://"), "{h:?} gave {out:?}");
        }
    }
    assert_eq!(to_mrkdwn("<!channel>"), "&lt;!channel&gt;");
    assert_eq!(to_mrkdwn("&lt;!channel&gt;"), "&amp;lt;!channel&amp;gt;");
    assert_eq!(
        to_mrkdwn("[a|b](https://x.example)"),
        "<https://x.example|ab> (x.example)"
    );
    assert_eq!(escape("<@U1> & <!here>"), "&lt;@U1&gt; &amp; &lt;!here&gt;");
}

#[test]
fn a_link_label_cannot_hide_its_host() {
    assert_eq!(
        to_mrkdwn("[https://bank.example](https://evil.example/login)"),
        "<https://evil.example/login|https://bank.example> (evil.example)"
    );
    assert_eq!(to_mrkdwn("[x.org](https://x.org)"), "<https://x.org|x.org>");
    assert_eq!(
        to_mrkdwn("[https://x.org/a](https://x.org/a)"),
        "<https://x.org/a|https://x.org/a>"
    );
    assert_eq!(to_mrkdwn("[](https://x.org/a)"), "<https://x.org/a>");
}

#[test]
fn inbound_text() {
    let (t, m) = from_slack(
        "<@UBOT> what is 1 &lt; 2 &amp;&amp; 3 &gt; 2?",
        Some("UBOT"),
    );
    assert_eq!(t, "what is 1 < 2 && 3 > 2?");
    assert!(m);
    let (t, m) = from_slack(
        "ask <@U2|ann> in <#C1|general>, see <https://x.example|x> and <https://y.example> <!here>",
        Some("UBOT"),
    );
    assert_eq!(
        t,
        "ask @ann in #general, see x (https://x.example) and https://y.example @here"
    );
    assert!(!m);
    assert_eq!(from_slack("broken <tag", None).0, "broken <tag");
    assert_eq!(from_slack("<@UBOT>", Some("UBOT")), (String::new(), true));
}

#[test]
fn never_panics_and_never_leaks_markup_on_noise() {
    let alphabet: Vec<char> = "*_~`[]()<>!@#|&\\\n -xé😀>:/".chars().collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        let len = (seed % 40) as usize;
        let s: String = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                alphabet[(seed % alphabet.len() as u64) as usize]
            })
            .collect();
        let out = to_mrkdwn(&s);
        for bad in ["<!", "<@", "<#"] {
            assert!(!out.contains(bad), "{s:?} gave {out:?}");
        }
        let _ = from_slack(&s, Some("U1"));
    }
}
