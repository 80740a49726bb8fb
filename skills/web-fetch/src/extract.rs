//! Which part of a page is its content: boilerplate elements are skipped
//! (scripts, navigation, headers, footers, asides, forms, ads), and the
//! content root is the page's `<article>`/`<main>`, else the block with
//! the densest paragraph text.

use ego_tree::NodeId;
use scraper::{ElementRef, Html};
use std::collections::HashMap;

/// Elements never rendered, with everything inside them.
const SKIP_TAGS: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed", "nav",
    "header", "footer", "aside", "form", "button", "select", "input", "textarea", "dialog", "menu",
    "head",
];
/// ARIA roles of boilerplate.
const SKIP_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "dialog",
    "alert",
    "menu",
];
/// `class`/`id` words that mark ads and page chrome.
const SKIP_WORDS: &[&str] = &[
    "ad",
    "ads",
    "advert",
    "advertisement",
    "adsbygoogle",
    "sponsor",
    "sponsored",
    "promo",
    "cookie",
    "cookies",
    "consent",
    "newsletter",
    "subscribe",
    "share",
    "social",
    "popup",
    "modal",
    "breadcrumb",
    "breadcrumbs",
    "sidebar",
    "related",
    "comments",
    "skip-link",
];
/// Paragraphs scored when looking for the densest block.
const MAX_SCORED: usize = 5_000;
/// Ancestors looked at per paragraph.
const MAX_ANCESTORS: usize = 64;

/// Whether `el` (and its subtree) is boilerplate.
pub fn skipped(el: &ElementRef<'_>) -> bool {
    let v = el.value();
    if SKIP_TAGS.contains(&v.name()) || v.attr("hidden").is_some() {
        return true;
    }
    if v.attr("aria-hidden")
        .is_some_and(|a| a.eq_ignore_ascii_case("true"))
    {
        return true;
    }
    if v.attr("role")
        .is_some_and(|r| SKIP_ROLES.contains(&r.trim().to_ascii_lowercase().as_str()))
    {
        return true;
    }
    let words = v.attr("class").into_iter().chain(v.attr("id"));
    words
        .flat_map(|s| s.split(|c: char| c.is_whitespace() || c == '-' || c == '_'))
        .any(|w| SKIP_WORDS.contains(&w.to_ascii_lowercase().as_str()))
}

fn inside_skipped(el: &ElementRef<'_>) -> bool {
    el.ancestors()
        .take(MAX_ANCESTORS)
        .filter_map(ElementRef::wrap)
        .any(|a| skipped(&a))
        || skipped(el)
}

fn text_len(el: &ElementRef<'_>) -> usize {
    el.text().map(|t| t.trim().chars().count()).sum()
}

/// The content root of `doc`.
pub fn content_root<'a>(doc: &'a Html) -> ElementRef<'a> {
    let all = || doc.root_element().descendent_elements();
    // Largest non-boilerplate <article>, then <main> / role=main.
    let article = all()
        .filter(|e| e.value().name() == "article" && !inside_skipped(e))
        .max_by_key(text_len);
    if let Some(a) = article.filter(|a| text_len(a) > 0) {
        return a;
    }
    let main = all().find(|e| {
        (e.value().name() == "main" || e.value().attr("role") == Some("main")) && !inside_skipped(e)
    });
    if let Some(m) = main.filter(|m| text_len(m) > 0) {
        return m;
    }
    // Densest block: each paragraph's text counts for its parent and half
    // for its grandparent (the usual readability heuristic).
    let mut scores: HashMap<NodeId, (ElementRef<'a>, usize)> = HashMap::new();
    let mut add = |el: ElementRef<'a>, n: usize| scores.entry(el.id()).or_insert((el, 0)).1 += n;
    for p in all()
        .filter(|e| matches!(e.value().name(), "p" | "pre" | "blockquote"))
        .take(MAX_SCORED)
    {
        if inside_skipped(&p) {
            continue;
        }
        let n = text_len(&p);
        let mut up = p.ancestors().filter_map(ElementRef::wrap);
        if let Some(parent) = up.next() {
            add(parent, n);
            if let Some(grand) = up.next() {
                add(grand, n / 2);
            }
        }
    }
    // Ties broken by document order, so the choice is stable.
    let best = scores
        .into_values()
        .max_by_key(|(e, s)| (*s, std::cmp::Reverse(e.id())))
        .map(|(e, _)| e);
    best.or_else(|| all().find(|e| e.value().name() == "body"))
        .unwrap_or_else(|| doc.root_element())
}
