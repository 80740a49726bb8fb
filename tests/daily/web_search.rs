//! `web-search`: SearXNG's JSON API and the Brave Search API (key injected
//! by the host), against fake servers on 127.0.0.1 answering with
//! recorded-style responses.

use crate::support::*;
use chitin::CallError;
use chitin::capabilities::secrets::SecretRule;
use serde_json::{Value, json};
use std::collections::HashMap;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/daily/web-search").join(name)).unwrap()
}

fn parse(out: &chitin::CallOutcome) -> Value {
    serde_json::from_str(ok(out)).unwrap()
}

fn failed(out: &chitin::CallOutcome) -> &str {
    match &out.result {
        Err(CallError::Failed(m)) => m,
        other => panic!("expected a failure, got {other:?}"),
    }
}

async fn searx(server: &TestServer, input: Value) -> chitin::CallOutcome {
    let mut input = input;
    input["instance"] = json!(server.base());
    call(
        &load("web-search"),
        &net_grant(&[&server.base()]),
        "search",
        input,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searxng_results_are_plain_text_and_capped() {
    let server = TestServer::start();
    server.route(
        "/search",
        200,
        &[("Content-Type", "application/json")],
        fixture("searxng.json"),
    );
    let out = searx(
        &server,
        json!({"query": "rust & wasm #components", "count": 2, "language": "en"}),
    )
    .await;
    let v = parse(&out);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0]["title"],
        "Rust - The WebAssembly Component Model"
    );
    assert_eq!(
        results[0]["url"],
        "https://component-model.bytecodealliance.org/language-support/rust.html"
    );
    assert_eq!(
        results[0]["snippet"],
        "Rust has first-class support for the component model via the cargo component tool & the wasm32-wasip2 target…"
    );
    assert_eq!(results[0]["engine"], "duckduckgo");
    assert_eq!(
        results[1]["snippet"],
        "The wasm32-wasip2 target is a new and still (as of January 2024) an experimental target. This target is an extension to \"wasm32-wasip1\"."
    );
    // Three results had web URLs; the `javascript:` one is skipped, one is left out.
    assert_eq!(v["truncated"], true);
    let note = v["note"].as_str().unwrap();
    assert!(note.contains("1 more results"), "{note}");
    assert!(note.contains("1 results without an http(s) URL"), "{note}");
    assert!(note.contains("qwant (Suspended: access denied)"), "{note}");
    assert!(!ok(&out).contains("javascript:"));

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].path,
        "/search?q=rust+%26+wasm+%23components&format=json&pageno=1&language=en"
    );
    assert_eq!(reqs[0].headers["accept"], "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searxng_instance_must_be_granted() {
    let server = TestServer::start();
    server.route("/search", 200, &[], fixture("searxng.json"));
    let out = call(
        &load("web-search"),
        &net_grant(&[]),
        "search",
        json!({"query": "x", "instance": server.base()}),
    )
    .await;
    match &out.result {
        Err(CallError::Denied(m)) => assert!(
            m.contains(&format!(
                "chitin skill grant web-search net:{}",
                server.base()
            )),
            "{m}"
        ),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brave_gets_the_injected_key_and_never_shows_it() {
    let server = TestServer::start();
    server.route(
        "/res/v1/web/search",
        200,
        &[("Content-Type", "application/json")],
        fixture("brave.json"),
    );
    let mut grants = net_grant(&[&server.base()]);
    grants.secrets.push(SecretRule {
        name: "BRAVE_SEARCH_KEY".into(),
        host: server.base(),
        header: "x-subscription-token".into(),
        prefix: String::new(),
    });
    let key = "BSAtestkey0123456789abcdef";
    let secrets = HashMap::from([("BRAVE_SEARCH_KEY".to_string(), key.to_string())]);
    let out = call_with(
        &load("web-search"),
        &grants,
        &secrets,
        "search",
        json!({"query": "open source weather api", "backend": "brave", "api": server.base(),
               "count": 30, "page": 2, "language": "EN"}),
    )
    .await;
    let text = ok(&out);
    assert!(!text.contains(key));
    let v = parse(&out);
    assert_eq!(v["backend"], "brave");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0]["title"],
        "Free Open-Source Weather API | Open-Meteo.com"
    );
    assert_eq!(
        results[0]["snippet"],
        "Open-Meteo is an open-source weather API and offers free access for non-commercial use. No API key is required."
    );
    assert!(
        results[1]["snippet"]
            .as_str()
            .unwrap()
            .contains("location & provide")
    );
    assert!(results[0].get("engine").is_none());
    assert_eq!(v["truncated"], false);

    let req = &server.requests()[0];
    // count is capped at Brave's maximum of 20; page 2 is offset 1.
    assert_eq!(
        req.path,
        "/res/v1/web/search?q=open+source+weather+api&count=20&offset=1&search_lang=en"
    );
    assert_eq!(req.headers["x-subscription-token"], key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brave_refusing_the_key_says_which_secret_to_set() {
    let server = TestServer::start();
    server.route(
        "/res/v1/web/search",
        422,
        &[("Content-Type", "application/json")],
        fixture("brave-invalid-token.json"),
    );
    let out = call(
        &load("web-search"),
        &net_grant(&[&server.base()]),
        "search",
        json!({"query": "x", "backend": "brave", "api": server.base()}),
    )
    .await;
    let m = failed(&out);
    assert!(m.contains("SUBSCRIPTION_TOKEN_INVALID"), "{m}");
    assert!(m.contains("chitin secret set BRAVE_SEARCH_KEY"), "{m}");
    // No secret was granted, so nothing was injected.
    assert!(
        !server.requests()[0]
            .headers
            .contains_key("x-subscription-token")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_searxng_answers_fail_clearly() {
    let server = TestServer::start();
    let s = &server;
    // An HTML page where JSON was expected (a proxy login, a wrong URL).
    s.route(
        "/search",
        200,
        &[("Content-Type", "text/html")],
        "<!doctype html><html><body>Login</body></html>",
    );
    let m = failed(&searx(s, json!({"query": "x"})).await).to_string();
    assert!(m.contains("HTML, not JSON"), "{m}");

    // The JSON format switched off in settings.yml.
    s.route("/search", 403, &[], "Forbidden");
    let m = failed(&searx(s, json!({"query": "x"})).await).to_string();
    assert!(m.contains("search.formats"), "{m}");

    // `results` of the wrong type.
    s.route(
        "/search",
        200,
        &[],
        r#"{"results": {"url": "https://a.example"}}"#,
    );
    let m = failed(&searx(s, json!({"query": "x"})).await).to_string();
    assert!(m.contains("no `results` list"), "{m}");

    // Nesting deeper than any real answer.
    s.route(
        "/search",
        200,
        &[],
        format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
    );
    let m = failed(&searx(s, json!({"query": "x"})).await).to_string();
    assert!(m.contains("malformed JSON"), "{m}");

    // Over the 2 MiB cap.
    let huge = format!(r#"{{"results": [], "pad": "{}"}}"#, "x".repeat(3 << 20));
    s.route("/search", 200, &[], huge);
    let m = failed(&searx(s, json!({"query": "x"})).await).to_string();
    assert!(m.contains("more than 2048 KiB"), "{m}");

    // Wrong field types are skipped; escape sequences and bidi overrides
    // never reach the output.
    let body = json!({"results": [
        {"url": 42, "title": "number url", "content": ""},
        {"url": "https://ok.example/", "title": ["not", "text"], "content": {"x": 1}},
        {"url": "https://esc.example/", "title": "red\u{1b}[31mALERT\u{1b}[0m \u{202e}txt.exe",
         "content": "NUL\u{0}here &#27;[2J cleared"},
        {"url": "https://space.example/a b", "title": "url with a space"}
    ]});
    s.route("/search", 200, &[], body.to_string());
    let out = searx(s, json!({"query": "x", "count": 10})).await;
    let v = parse(&out);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{v}");
    assert_eq!(results[0]["title"], "");
    assert_eq!(results[0]["snippet"], "");
    assert_eq!(results[1]["title"], "red[31mALERT[0m txt.exe");
    assert_eq!(results[1]["snippet"], "NULhere \u{FFFD}[2J cleared");
    assert!(!ok(&out).contains('\u{1b}'));
    assert!(
        v["note"]
            .as_str()
            .unwrap()
            .contains("2 results without an http(s) URL")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_titles_and_snippets_are_cut_and_counts_capped() {
    let server = TestServer::start();
    let results: Vec<Value> = (0..30)
        .map(|i| {
            json!({"url": format!("https://r{i}.example/"), "title": "t".repeat(500),
                   "content": format!("<p>{}</p>", "word ".repeat(200)), "engine": "bing"})
        })
        .collect();
    server.route("/search", 200, &[], json!({"results": results}).to_string());
    let v = parse(&searx(&server, json!({"query": "x", "count": 99})).await);
    let list = v["results"].as_array().unwrap();
    assert_eq!(list.len(), 20);
    let title = list[0]["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), 201);
    assert!(title.ends_with('…'));
    assert!(list[0]["snippet"].as_str().unwrap().chars().count() <= 401);
    assert_eq!(v["truncated"], true);
    let note = v["note"].as_str().unwrap();
    assert!(note.contains("10 more results"), "{note}");
    assert!(note.contains("snippets at 400 characters"), "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_cannot_inject_into_the_request() {
    let server = TestServer::start();
    server.route("/search", 200, &[], r#"{"results": []}"#);
    let v = parse(
        &searx(
            &server,
            json!({"query": "a&format=csv&engines=x#frag / ü", "page": 3}),
        )
        .await,
    );
    assert_eq!(v["note"], "no results");
    assert_eq!(
        server.requests()[0].path,
        "/search?q=a%26format%3Dcsv%26engines%3Dx%23frag+%2F+%C3%BC&format=json&pageno=3"
    );

    let skill = load("web-search");
    let grants = net_grant(&[&server.base()]);
    for bad in [
        json!({"query": "x", "instance": format!("{}/?format=csv", server.base())}),
        json!({"query": "x", "instance": format!("http://user@{}", server.addr)}),
        json!({"query": "x", "instance": "file:///etc/passwd"}),
        json!({"query": "x", "instance": server.base(), "language": "en&x=1"}),
        json!({"query": "x", "instance": server.base(), "page": 11}),
        json!({"query": "   ", "instance": server.base()}),
        json!({"query": "x\r\nHost: evil", "instance": server.base()}),
        json!({"query": "x", "backend": "google"}),
        json!({"query": "x", "instanse": "typo"}),
    ] {
        let out = call(&skill, &grants, "search", bad.clone()).await;
        assert!(
            matches!(out.result, Err(CallError::InvalidInput(_))),
            "{bad}: {:?}",
            out.result
        );
    }
    assert_eq!(server.requests().len(), 1);
}
