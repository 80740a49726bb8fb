//! The content root as readable lines: headings (`#`), paragraphs, list
//! items (`- `), preformatted text kept as is, and the links found on
//! the way. Walked with an explicit stack: hostile pages nest deeply.

use crate::extract::skipped;
use ego_tree::NodeRef;
use scraper::{ElementRef, Node};
use url::Url;

/// Links returned at most.
pub const MAX_LINKS: usize = 100;
/// Longest link text kept.
const MAX_LINK_TEXT: usize = 200;

const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "figure",
    "figcaption",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "br",
    "address",
    "details",
    "summary",
    "body",
];

/// A link: its text and absolute URL.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Link {
    /// The anchor text (or its title / aria-label).
    pub text: String,
    /// Absolute http(s) URL, fragment removed.
    pub url: String,
}

/// What rendering produced.
pub struct Rendered {
    /// The readable lines, joined with `\n`.
    pub text: String,
    /// Whether `text` stopped at the character cap.
    pub truncated: bool,
    /// Links in document order, deduplicated, capped.
    pub links: Vec<Link>,
    /// Whether more links were found than kept.
    pub links_truncated: bool,
}

struct Out {
    lines: Vec<String>,
    cur: String,
    /// `#`, `##`… or `-`, put before the next non-empty line.
    prefix: Option<String>,
    chars: usize,
    max: usize,
    pre: usize,
}

impl Out {
    fn flush(&mut self) {
        let cur = std::mem::take(&mut self.cur);
        let body = if self.pre > 0 {
            cur.trim_end()
        } else {
            cur.trim()
        };
        if body.trim().is_empty() || self.chars >= self.max {
            return;
        }
        let line = match self.prefix.take() {
            Some(p) => format!("{p} {}", body.trim_start()),
            None => body.to_string(),
        };
        self.chars += line.chars().count() + 1;
        self.lines.push(line);
    }

    fn push(&mut self, text: &str) {
        if self.pre > 0 {
            for (i, part) in text.split('\n').enumerate() {
                if i > 0 {
                    self.flush();
                }
                self.cur
                    .extend(part.chars().filter(|c| !c.is_control() || *c == '\t'));
            }
            return;
        }
        // Whitespace between inline runs matters: "a<b>b</b>" is "ab",
        // "a <b>b</b>" is "a b".
        let space = |cur: &mut String| {
            if !cur.is_empty() && !cur.ends_with(' ') {
                cur.push(' ');
            }
        };
        if text.starts_with(char::is_whitespace) {
            space(&mut self.cur);
        }
        for (i, word) in text.split_whitespace().enumerate() {
            if i > 0 {
                self.cur.push(' ');
            }
            self.cur.extend(word.chars().filter(|c| !c.is_control()));
        }
        if text.ends_with(char::is_whitespace) {
            space(&mut self.cur);
        }
    }
}

enum Step<'a> {
    Enter(NodeRef<'a, Node>),
    Exit(&'a str),
}

fn link_of(el: &ElementRef<'_>, base: Option<&Url>) -> Option<Link> {
    let href = el.value().attr("href")?.trim();
    let mut url = match base {
        Some(b) => b.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    let mut text: String = el
        .text()
        .flat_map(|t| t.split_whitespace().map(|w| format!("{w} ")))
        .collect();
    if text.trim().is_empty() {
        text = el
            .value()
            .attr("title")
            .or(el.value().attr("aria-label"))
            .unwrap_or("")
            .to_string();
    }
    let text: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LINK_TEXT)
        .collect();
    Some(Link {
        text,
        url: url.to_string(),
    })
}

/// Render `root` with at most `max_chars` characters of text; links are
/// resolved against `base`.
pub fn render(root: ElementRef<'_>, base: Option<&Url>, max_chars: usize) -> Rendered {
    let mut out = Out {
        lines: Vec::new(),
        cur: String::new(),
        prefix: None,
        chars: 0,
        max: max_chars.saturating_add(1),
        pre: 0,
    };
    let mut stopped = false;
    let mut links: Vec<Link> = Vec::new();
    let mut links_truncated = false;
    let page = base.map(|b| {
        let mut b = b.clone();
        b.set_fragment(None);
        b.to_string()
    });
    let mut stack = vec![Step::Enter(*root)];
    // Bounded by the tree: every node is entered once.
    while let Some(step) = stack.pop() {
        if out.chars >= out.max {
            stopped = true;
            break;
        }
        let node = match step {
            Step::Exit(tag) => {
                if BLOCKS.contains(&tag) {
                    out.flush();
                }
                match tag {
                    "pre" => out.pre = out.pre.saturating_sub(1),
                    "li" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => out.prefix = None,
                    _ => {}
                }
                continue;
            }
            Step::Enter(n) => n,
        };
        match node.value() {
            Node::Text(t) => out.push(t),
            Node::Element(_) => {
                let Some(el) = ElementRef::wrap(node) else {
                    continue;
                };
                if skipped(&el) {
                    continue;
                }
                let tag = el.value().name();
                if BLOCKS.contains(&tag) {
                    out.flush();
                }
                match tag {
                    "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                        let level = usize::from(tag.as_bytes()[1] - b'0');
                        out.prefix = Some("#".repeat(level));
                    }
                    "li" => out.prefix = Some("-".into()),
                    "pre" => out.pre += 1,
                    "img" => {
                        if let Some(alt) = el.value().attr("alt").filter(|a| !a.trim().is_empty()) {
                            out.push(&format!(" [image: {}] ", alt.trim()));
                        }
                    }
                    "a" => {
                        if let Some(l) = link_of(&el, base) {
                            let dup = links.iter().any(|k| k.url == l.url)
                                || page.as_deref() == Some(l.url.as_str());
                            if !dup {
                                if links.len() < MAX_LINKS {
                                    links.push(l);
                                } else {
                                    links_truncated = true;
                                }
                            }
                        }
                    }
                    _ => {}
                }
                stack.push(Step::Exit(tag));
                let children: Vec<_> = node.children().collect();
                stack.extend(children.into_iter().rev().map(Step::Enter));
            }
            _ => {}
        }
    }
    out.flush();
    let text = out.lines.join("\n");
    let truncated = stopped || text.chars().count() > max_chars;
    let text = if truncated {
        text.chars().take(max_chars).collect()
    } else {
        text
    };
    Rendered {
        text,
        truncated,
        links,
        links_truncated,
    }
}
