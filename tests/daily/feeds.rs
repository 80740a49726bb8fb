//! `feeds`: RSS 2.0, Atom 1.0 and RSS 1.0 documents served from 127.0.0.1,
//! and the hostile ones (entity bombs, oversized, HTML, malformed).

use crate::support::*;
use chitin::CallError;
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/daily/feeds").join(name)).unwrap()
}

const RSS: &[(&str, &str)] = &[("Content-Type", "application/rss+xml; charset=utf-8")];

async fn read(server: &TestServer, path: &str, extra: Value) -> chitin::CallOutcome {
    let mut input = json!({"url": format!("{}{path}", server.base())});
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    call(&load("feeds"), &net_grant(&[&server.base()]), "read", input).await
}

fn parse(out: &chitin::CallOutcome) -> Value {
    serde_json::from_str(ok(out)).unwrap()
}

fn failed(out: &chitin::CallOutcome) -> String {
    match &out.result {
        Err(CallError::Failed(m)) => m.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss2_items_are_plain_text_with_rfc3339_dates() {
    let server = TestServer::start();
    server.route("/feed.xml", 200, RSS, fixture("rss2.xml"));
    let v = parse(&read(&server, "/feed.xml?format=rss", json!({})).await);
    assert_eq!(v["feed"]["title"], "Chitin Engineering Blog");
    assert_eq!(v["feed"]["link"], "https://blog.chitin.example/");
    assert_eq!(v["feed"]["format"], "rss");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(
        items[0]["title"],
        "Sandboxing skills with WebAssembly components"
    );
    assert_eq!(
        items[0]["link"],
        "https://blog.chitin.example/posts/wasm-components"
    );
    assert_eq!(items[0]["published"], "2024-05-14T09:30:00Z");
    // CDATA HTML: tags gone, the script's body too.
    assert_eq!(
        items[0]["summary"],
        "Every skill runs in its own component, with WASI imports only."
    );
    assert_eq!(items[1]["title"], "Secrets the skill never sees & why");
    assert_eq!(items[1]["published"], "2024-05-06T22:05:00Z");
    assert_eq!(
        items[1]["summary"],
        "The host injects tokens after the request leaves the sandbox — the component only names them."
    );
    // No link: the permalink guid; no description: content:encoded.
    assert_eq!(items[2]["link"], "https://blog.chitin.example/posts/0.1");
    assert_eq!(items[2]["published"], "2024-05-01T13:00:00Z");
    assert_eq!(items[2]["summary"], "First release Signed packages");
    assert_eq!(items[3]["published"], Value::Null);
    assert_eq!(v["truncated"], false);
    assert!(v.get("note").is_none(), "{v}");
    let req = &server.requests()[0];
    assert_eq!(req.path, "/feed.xml?format=rss");
    assert!(req.headers["accept"].contains("application/rss+xml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atom_text_constructs_links_and_dates() {
    let server = TestServer::start();
    server.route(
        "/atom",
        200,
        &[("Content-Type", "application/atom+xml")],
        fixture("atom.xml"),
    );
    let v = parse(&read(&server, "/atom", json!({})).await);
    assert_eq!(v["feed"]["format"], "atom");
    assert_eq!(v["feed"]["title"], "Example Atom Feed");
    assert_eq!(v["feed"]["link"], "https://atom.example/");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["title"], "Atom <3 HTML titles");
    assert_eq!(items[0]["link"], "https://atom.example/2024/05/14/one");
    assert_eq!(items[0]["published"], "2024-05-14T18:30:02Z");
    assert_eq!(items[0]["summary"], "Some escaped HTML & an entity.");
    // type="text": angle brackets are text, not tags.
    assert_eq!(items[1]["title"], "Plain text: 1 < 2 & <tags> stay");
    assert_eq!(
        items[1]["link"],
        format!("{}/2024/05/10/two", server.base())
    );
    assert_eq!(items[1]["published"], "2024-05-10T19:00:00Z");
    assert_eq!(items[1]["summary"], "XHTML content in two paragraphs");
    assert_eq!(
        items[2]["link"],
        Value::Null,
        "a javascript: link is dropped"
    );
    assert_eq!(items[2]["published"], "2024-04-01T00:00:00Z");
    assert_eq!(items[2]["summary"], "Plain summary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss1_rdf_is_read_too() {
    let server = TestServer::start();
    server.route(
        "/rdf",
        200,
        &[("Content-Type", "application/rdf+xml")],
        fixture("rdf.xml"),
    );
    let v = parse(&read(&server, "/rdf", json!({})).await);
    assert_eq!(v["feed"]["format"], "rss 1.0 (rdf)");
    assert_eq!(v["feed"]["title"], "RDF Site Summary");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["title"], "First RDF item");
    assert_eq!(items[0]["summary"], "About A");
    assert_eq!(items[0]["published"], "2024-03-02T09:00:00Z");
    assert_eq!(items[1]["published"], "2024-03-01T00:00:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_and_limit_filter_and_say_what_was_left_out() {
    let server = TestServer::start();
    server.route("/feed.xml", 200, RSS, fixture("rss2.xml"));
    let v = parse(
        &read(
            &server,
            "/feed.xml",
            json!({"since": "2024-05-05T00:00:00Z", "limit": 1}),
        )
        .await,
    );
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["published"], "2024-05-14T09:30:00Z");
    assert_eq!(v["truncated"], true);
    let note = v["note"].as_str().unwrap();
    assert!(note.contains("1 more items left out (limit 1)"), "{note}");
    assert!(
        note.contains("1 items published before `since` skipped"),
        "{note}"
    );
    assert!(
        note.contains("1 items without a readable date skipped"),
        "{note}"
    );

    // A big feed: 80 items, long text, limit capped at 50.
    let mut doc = String::from("<rss version=\"2.0\"><channel><title>big</title>");
    for i in 0..80 {
        doc.push_str(&format!(
            "<item><title>{}</title><link>https://big.example/{i}</link><description>{}</description></item>",
            "T".repeat(400),
            "word ".repeat(300)
        ));
    }
    doc.push_str("</channel></rss>");
    server.route("/big", 200, RSS, doc);
    let v = parse(&read(&server, "/big", json!({"limit": 500})).await);
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert_eq!(items[0]["title"].as_str().unwrap().chars().count(), 301);
    assert!(items[0]["summary"].as_str().unwrap().chars().count() <= 501);
    let note = v["note"].as_str().unwrap();
    assert!(note.contains("30 more items left out (limit 50)"), "{note}");
    assert!(note.contains("summaries at 500 characters"), "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_host_must_be_granted() {
    let server = TestServer::start();
    server.route("/feed.xml", 200, RSS, fixture("rss2.xml"));
    let out = call(
        &load("feeds"),
        &net_grant(&[]),
        "read",
        json!({"url": format!("{}/feed.xml", server.base())}),
    )
    .await;
    match &out.result {
        Err(CallError::Denied(m)) => assert!(
            m.contains(&format!("chitin skill grant feeds net:{}", server.base())),
            "{m}"
        ),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entity_bombs_and_external_entities_are_refused() {
    let server = TestServer::start();
    server.route("/lol", 200, RSS, fixture("billion-laughs.xml"));
    server.route("/xxe", 200, RSS, fixture("external-entity.xml"));
    for path in ["/lol", "/xxe"] {
        let m = failed(&read(&server, path, json!({})).await);
        assert!(m.contains("DOCTYPE") && m.contains("entity"), "{path}: {m}");
    }
    // An entity used without being declared is not expanded from anywhere.
    server.route(
        "/undeclared",
        200,
        RSS,
        "<rss><channel><title>t</title><item><title>a &xxe; b</title></item></channel></rss>",
    );
    let v = parse(&read(&server, "/undeclared", json!({})).await);
    assert_eq!(v["items"][0]["title"], "a &xxe; b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_documents_fail_clearly_or_are_neutralized() {
    let s = TestServer::start();
    let huge = format!(
        "<rss><channel><title>{}</title></channel></rss>",
        "x".repeat(5 << 20)
    );
    s.route("/huge", 200, RSS, huge);
    let m = failed(&read(&s, "/huge", json!({})).await);
    assert!(m.contains("larger than 4 MiB"), "{m}");

    s.route(
        "/page",
        200,
        &[("Content-Type", "text/html")],
        "<!DOCTYPE html><html><head><title>Blog</title></head><body></body></html>",
    );
    let m = failed(&read(&s, "/page", json!({})).await);
    assert!(m.contains("HTML page, not a feed"), "{m}");

    s.route(
        "/svg",
        200,
        &[],
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    );
    let m = failed(&read(&s, "/svg", json!({})).await);
    assert!(m.contains("root element is `svg`"), "{m}");

    s.route(
        "/broken",
        200,
        RSS,
        "<rss><channel><title>t</channel></rss>",
    );
    let m = failed(&read(&s, "/broken", json!({})).await);
    assert!(m.contains("not well-formed XML"), "{m}");

    s.route("/deep", 200, RSS, format!("<rss>{}", "<x>".repeat(10_000)));
    let m = failed(&read(&s, "/deep", json!({})).await);
    assert!(m.contains("more than 64 deep"), "{m}");

    s.route("/empty", 200, RSS, "");
    let m = failed(&read(&s, "/empty", json!({})).await);
    assert!(m.contains("no root element"), "{m}");

    s.route("/gone", 404, &[], "not here");
    let m = failed(&read(&s, "/gone", json!({})).await);
    assert!(m.contains("HTTP 404"), "{m}");

    // Escape sequences (raw and as character references), bidi overrides
    // and script links never reach the output.
    s.route(
        "/esc",
        200,
        RSS,
        "<rss><channel><title>t\u{1b}[2J</title><item><title>red&#x1b;[31m \u{202e}gpj.exe</title>\
         <link>javascript:alert(1)</link><description>&lt;a href=\"javascript:x\"&gt;click&lt;/a&gt; \u{1b}]0;title\u{7}</description>\
         <pubDate>not a date</pubDate></item></channel></rss>",
    );
    let out = read(&s, "/esc", json!({})).await;
    let text = ok(&out);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'),
        "{text}"
    );
    let v: Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["feed"]["title"], "t[2J");
    assert_eq!(v["items"][0]["title"], "red\u{FFFD}[31m gpj.exe");
    assert_eq!(v["items"][0]["link"], Value::Null);
    assert_eq!(v["items"][0]["summary"], "click ]0;title");
    assert_eq!(v["items"][0]["published"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_before_any_request() {
    let server = TestServer::start();
    let skill = load("feeds");
    let grants = net_grant(&[&server.base()]);
    for bad in [
        json!({"url": "file:///etc/passwd"}),
        json!({"url": format!("http://user@{}/feed", server.addr)}),
        json!({"url": format!("{}/a feed", server.base())}),
        json!({"url": format!("{}/feed\r\nX: y", server.base())}),
        json!({"url": format!("{}/feed", server.base()), "since": "yesterday"}),
        json!({"url": format!("{}/feed", server.base()), "max": 3}),
        json!({"limit": 3}),
    ] {
        let out = call(&skill, &grants, "read", bad.clone()).await;
        assert!(
            matches!(out.result, Err(CallError::InvalidInput(_))),
            "{bad}: {:?}",
            out.result
        );
    }
    assert!(server.requests().is_empty());
}
