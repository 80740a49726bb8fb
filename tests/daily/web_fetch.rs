//! `web-fetch` on realistic pages served from 127.0.0.1: the main content
//! without navigation, ads, sidebars, comments, cookie banners or footers;
//! headings and list items as lines; links absolute and deduplicated;
//! the size caps; hostile markup. Fixtures: tests/fixtures/daily/web-fetch/.

use crate::support::*;
use chitin::CallError;
use serde_json::{Value, json};

const HTML: &[(&str, &str)] = &[("Content-Type", "text/html; charset=utf-8")];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/daily/web-fetch").join(name)).unwrap()
}

async fn fetch(server: &TestServer, path: &str, extra: Value) -> Value {
    let mut input = json!({"url": format!("{}{path}", server.base())});
    if let Some(m) = extra.get("max_chars") {
        input["max_chars"] = m.clone();
    }
    let out = call(
        &load("web-fetch"),
        &net_grant(&[&server.base()]),
        "fetch",
        input,
    )
    .await;
    serde_json::from_str(ok(&out)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_article_page_comes_back_as_its_readable_content_and_links() {
    let server = TestServer::start();
    server.route("/blog/tide-pools", 200, HTML, fixture("article.html"));
    let page = fetch(&server, "/blog/tide-pools", json!({})).await;
    assert_eq!(
        page["title"],
        "How tide pools survive the winter | Coastal Notes"
    );
    let want = "\
# How tide pools survive the winter
By Marina Okafor · December 1, 2026
When storms arrive, the rock pools along the shore change faster than almost any other habitat. Temperatures drop, salinity swings with every rain, and waves stir up the sand.
## Anemones close up
Beadlet anemones pull in their tentacles and hold water inside their bodies, which keeps them from drying out at low tide & shields them from the cold.
- Limpets clamp down and seal the edge of their shells.
- Periwinkles crowd into cracks where the water stays warmer.
## What you can do
Turn rocks back the way you found them, and read our winter field guide or the regional tide tables.
Low tide  06:42  0.4 m
High tide 12:58  4.1 m";
    assert_eq!(page["text"], want);
    assert_eq!(page["truncated"], false);
    let text = page["text"].as_str().unwrap();
    for chrome in [
        "Advertisement",
        "SeaSnax",
        "cookies",
        "Popular posts",
        "rights reserved",
        "comments",
        "Share on",
        "dataLayer",
        "Skip to",
    ] {
        assert!(!text.contains(chrome), "boilerplate `{chrome}` kept");
    }
    let b = server.base();
    let links: Vec<(String, String)> = page["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["text"].as_str().unwrap().into(),
                l["url"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("Marina Okafor", format!("{b}/authors/marina")),
        (
            "water stays warmer",
            "https://en.wikipedia.org/wiki/Littorina".into(),
        ),
        // Relative to <base href="/blog/">, the fragment dropped.
        ("winter field guide", format!("{b}/blog/field-guide.html")),
        (
            "regional tide tables",
            "https://example.org/tidepools?ref=notes&lang=en".into(),
        ),
    ]
    .into_iter()
    .map(|(t, u)| (t.to_string(), u))
    .collect();
    assert_eq!(links, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_article_or_main_the_densest_block_wins() {
    let server = TestServer::start();
    server.route("/thread/42", 200, HTML, fixture("forum.html"));
    let page = fetch(&server, "/thread/42", json!({})).await;
    let text = page["text"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("I have been using a plough anchor"));
    assert!(lines[2].starts_with("Thanks in advance"));
    assert!(
        !text.contains("Members online")
            && !text.contains("Powered by")
            && !text.contains("New posts")
    );
    assert_eq!(
        page["title"],
        "Thread: best anchor for rocky bottoms? - Sailing Forum"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_and_links_are_capped_and_say_so() {
    let server = TestServer::start();
    server.route("/blog/tide-pools", 200, HTML, fixture("article.html"));
    let page = fetch(&server, "/blog/tide-pools", json!({"max_chars": 60})).await;
    let text = page["text"].as_str().unwrap();
    assert!(text.chars().count() <= 60, "{text}");
    assert!(
        text.starts_with("# How tide pools survive the winter\nBy Marina"),
        "{text}"
    );
    assert_eq!(page["truncated"], true);

    // 300 distinct links (and each twice): 100 kept, deduplicated, flagged.
    let mut body = String::from("<html><body><article><h1>Links</h1>");
    for i in 0..300 {
        body.push_str(&format!(
            "<p><a href=\"/p/{i}\">page {i}</a> <a href=\"/p/{i}#top\">again</a></p>"
        ));
    }
    body.push_str("</article></body></html>");
    server.route("/many", 200, HTML, body);
    let page = fetch(&server, "/many", json!({})).await;
    let links = page["links"].as_array().unwrap();
    assert_eq!(links.len(), 100);
    assert_eq!(links[1]["url"], format!("{}/p/1", server.base()));
    assert_eq!(page["links_truncated"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_markup_is_parsed_safely() {
    let server = TestServer::start();
    // Nested 3,000 deep (a recursive walker would overflow), escape
    // sequences in text, script-ish links, an unclosed comment.
    let mut body = String::from("<html><head><title>\u{1b}[2JDeep</title></head><body><main>");
    body.push_str(&"<div>".repeat(3_000));
    body.push_str("<p>bottom \u{1b}]0;pwned\u{7}text</p><a href=\"javascript:alert(1)\">js</a><a href=\"data:text/html,x\">data</a>");
    body.push_str("<p>after <!-- never closed");
    server.route("/deep", 200, HTML, body);
    let page = fetch(&server, "/deep", json!({})).await;
    assert_eq!(page["title"], "[2JDeep");
    assert_eq!(page["text"], "bottom ]0;pwnedtext\njsdata\nafter");
    assert_eq!(page["links"], json!([]));

    // Larger than the 4 MiB read cap: cut, read, and flagged.
    let mut big = String::from("<html><body><article>");
    while big.len() < 5 * 1024 * 1024 {
        big.push_str("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>");
    }
    server.route("/big", 200, HTML, big);
    let page = fetch(&server, "/big", json!({"max_chars": 200_000})).await;
    assert_eq!(page["truncated"], true);
    assert!(page["text"].as_str().unwrap().chars().count() <= 200_000);

    // Plain text passes through (control characters dropped).
    server.route(
        "/notes.txt",
        200,
        &[("Content-Type", "text/plain")],
        b"line 1\n\x1b[31mline 2\n".to_vec(),
    );
    let page = fetch(&server, "/notes.txt", json!({})).await;
    assert_eq!(page["text"], "line 1\n[31mline 2\n");
    assert_eq!(page["links"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_site_is_denied() {
    let server = TestServer::start();
    server.route("/blog/tide-pools", 200, HTML, fixture("article.html"));
    let url = format!("{}/blog/tide-pools", server.base());
    let out = call(
        &load("web-fetch"),
        &net_grant(&[]),
        "fetch",
        json!({"url": url}),
    )
    .await;
    match &out.result {
        Err(CallError::Denied(m)) => assert!(m.contains("chitin skill grant web-fetch"), "{m}"),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(server.requests().is_empty());
}
