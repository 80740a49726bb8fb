//! The first-party skills do their real work under a grant: `files` lists,
//! reads, writes and searches; `web-fetch` returns readable text; `github`
//! reads an API with an injected token.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::capabilities::fs::Access;
use chitin::capabilities::secrets::SecretRule;
use serde_json::{Value, json};
use std::collections::HashMap;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_skill_works_inside_its_grant() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("notes")).unwrap();
    std::fs::write(
        dir.path().join("notes/todo.md"),
        "- buy milk\n- ship chitin\n",
    )
    .unwrap();
    let files = load("files");
    let rw = dir_grant(dir.path(), "/workspace", Access::ReadWrite);

    let out = call(
        &files,
        &rw,
        "write",
        json!({"path": "notes/idea.md", "content": "sandbox everything\n"}),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(ok(&out)).unwrap()["bytes"],
        19
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes/idea.md")).unwrap(),
        "sandbox everything\n"
    );

    let out = call(&files, &rw, "list", json!({"path": "notes"})).await;
    let names: Vec<String> = serde_json::from_str::<Vec<Value>>(ok(&out))
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["idea.md", "todo.md"]);

    let out = call(&files, &rw, "read", json!({"path": "notes/todo.md"})).await;
    assert_eq!(ok(&out), "- buy milk\n- ship chitin\n");

    let out = call(&files, &rw, "search", json!({"query": "chitin"})).await;
    let hits: Vec<Value> = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["path"], "notes/todo.md");
    assert_eq!(hits[0]["line"], 2);

    // Read-only grant: reading works, writing is denied.
    let ro = dir_grant(dir.path(), "/workspace", Access::ReadOnly);
    assert!(
        ok(&call(&files, &ro, "read", json!({"path": "notes/todo.md"})).await).contains("milk")
    );
    let out = call(
        &files,
        &ro,
        "write",
        json!({"path": "x.md", "content": "no"}),
    )
    .await;
    assert!(
        matches!(out.result, Err(chitin::CallError::Denied(_))),
        "{:?}",
        out.result
    );
    assert!(!dir.path().join("x.md").exists());

    // A `..` escape is denied in words that say where the path led (not
    // the OS's "Operation not permitted"), audited, and reads nothing.
    std::fs::write(dir.path().join("secret.txt"), "s3cret-outside").unwrap();
    let inner = dir_grant(&dir.path().join("notes"), "/workspace", Access::ReadWrite);
    let out = call(&files, &inner, "read", json!({"path": "../secret.txt"})).await;
    match &out.result {
        Err(chitin::CallError::Denied(m)) => {
            assert!(
                m.contains("outside the directories this skill was granted"),
                "{m}"
            );
            assert!(!m.contains("s3cret"), "{m}");
        }
        other => panic!("a `..` escape must be denied: {other:?}"),
    }
    assert!(
        out.audit.iter().any(|e| e.target.contains("secret.txt")
            && e.reason.contains("outside the granted directories")),
        "{:?}",
        out.audit
    );
    assert!(ok(&call(&files, &inner, "read", json!({"path": "todo.md"})).await).contains("milk"));

    let out = call(&files, &rw, "search", json!({"query": ""})).await;
    assert!(
        matches!(out.result, Err(chitin::CallError::InvalidInput(_))),
        "{:?}",
        out.result
    );
    let out = call(&files, &rw, "nope", json!({})).await;
    assert!(
        matches!(out.result, Err(chitin::CallError::UnknownTool(_))),
        "{:?}",
        out.result
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_fetch_returns_readable_text_capped() {
    let server = TestServer::start();
    let web = load("web-fetch");
    let grants = net_grant(&[&server.base()]);
    let out = call(
        &web,
        &grants,
        "fetch",
        json!({"url": format!("{}/html", server.base())}),
    )
    .await;
    let page: Value = serde_json::from_str(ok(&out)).unwrap();
    // The title is its own field now, and the heading keeps its level.
    assert_eq!(page["title"], "T");
    assert_eq!(page["text"], "# Chitin & friends\nReadable text.");
    assert_eq!(page["truncated"], false);

    let out = call(
        &web,
        &grants,
        "fetch",
        json!({"url": format!("{}/bytes?n=5000", server.base()), "max_chars": 100}),
    )
    .await;
    let page: Value = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(page["text"].as_str().unwrap().len(), 100);
    assert_eq!(page["truncated"], true);

    let out = call(
        &web,
        &net_grant(&[]),
        "fetch",
        json!({"url": format!("{}/html", server.base())}),
    )
    .await;
    assert!(
        matches!(out.result, Err(chitin::CallError::Denied(_))),
        "{:?}",
        out.result
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_skill_lists_issues_with_the_injected_token() {
    let server = TestServer::start();
    let github = load("github");
    let mut grants = net_grant(&[&server.base()]);
    grants.secrets.push(SecretRule {
        name: "GITHUB_TOKEN".into(),
        host: server.base(),
        header: "authorization".into(),
        prefix: "Bearer ".into(),
    });
    let secrets = HashMap::from([(
        "GITHUB_TOKEN".to_string(),
        "ghp_test_token_abcdef".to_string(),
    )]);
    let out = call_with(
        &github,
        &grants,
        &secrets,
        "issues",
        json!({"owner": "chitin", "repo": "chitin", "api": server.base(), "limit": 5}),
    )
    .await;
    let issues: Vec<Value> = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(issues[0]["number"], 7);
    let req = &server.requests()[0];
    assert_eq!(
        req.path,
        "/repos/chitin/chitin/issues?state=open&per_page=5"
    );
    assert_eq!(req.headers["authorization"], "Bearer ghp_test_token_abcdef");

    let out = call_with(
        &github,
        &grants,
        &secrets,
        "repo",
        json!({"owner": "../etc", "repo": "x", "api": server.base()}),
    )
    .await;
    assert!(
        matches!(out.result, Err(chitin::CallError::InvalidInput(_))),
        "{:?}",
        out.result
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_described_with_schemas_and_effects() {
    let github = load("github");
    let tools = host().tools(&github).await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["repo", "issues"]);
    assert_eq!(tools[0].effects, ["network", "uses-secret:GITHUB_TOKEN"]);
    assert_eq!(tools[0].input_schema["required"], json!(["owner", "repo"]));
    let files = host().tools(&load("files")).await.unwrap();
    assert_eq!(
        files.iter().find(|t| t.name == "write").unwrap().effects,
        ["writes-files"]
    );
}
