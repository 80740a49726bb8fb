//! The daemon's OpenAI-compatible endpoint (`/v1/chat/completions`,
//! `/v1/models`) with the official `openai` Python package as the client
//! (tests/openai_api/client.py, one plan-driven script), against a real
//! `chitin daemon` and a scripted model.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::agent::{DaemonProc, Home};
use support::model::{ModelRequest, ModelServer, Reply};

fn python() -> PathBuf {
    let p = support::root().join("target/toolchains/openai/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run scripts/install-openai-sdk (scripts/test does)",
        p.display()
    );
    p
}

/// Run tests/openai_api/client.py with `steps` against `daemon`, with
/// `token` as the API key; its results, one per step.
fn client(daemon: &DaemonProc, token: &str, steps: Value) -> Vec<Value> {
    let plan = json!({
        "base_url": format!("http://{}/v1", daemon.addr),
        "api_key": token,
        "timeout": 60,
        "steps": steps,
    });
    let out = Command::new(python())
        .arg(support::root().join("tests/openai_api/client.py"))
        .arg(plan.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "client.py printed no report ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["results"].as_array().unwrap().clone()
}

/// The model calls the daemon made.
fn model_calls(server: &ModelServer) -> Vec<ModelRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect()
}

/// The text of the last user message of a model call.
fn last_user(call: &ModelRequest) -> String {
    let messages = call.body["messages"].as_array().unwrap();
    let m = messages.iter().rev().find(|m| m["role"] == "user").unwrap();
    m["content"]
        .as_str()
        .map_or_else(|| m["content"].to_string(), str::to_string)
}

fn ok(r: &Value) -> &Value {
    assert!(r.get("error").is_none(), "the request failed: {r}");
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_whole_and_streamed_and_follow_ups_continue_the_session() {
    let home = Home::new();
    let server = ModelServer::start(vec![
        Reply::text("Hello there."),
        Reply::text("Second answer, streamed."),
        Reply::text("Bien, merci."),
    ]);
    home.configure("openai", &server, "");
    let daemon = DaemonProc::start(&home);
    let r = client(
        &daemon,
        &daemon.token,
        json!([
            {"op": "models"},
            {"op": "chat", "messages": [{"role": "user", "content": "Say hello"}]},
            {"op": "chat", "after": 1, "stream": true, "include_usage": true,
             "messages": [{"role": "user", "content": "And again, streamed"}]},
            {"op": "chat", "messages": [
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "bonjour"},
                {"role": "user", "content": [{"type": "text", "text": "how are you?"}]}
            ]},
        ]),
    );
    assert_eq!(r[0]["ids"], json!(["chitin"]), "{}", r[0]);
    // Whole.
    let whole = ok(&r[1]);
    assert_eq!(whole["content"], "Hello there.");
    assert_eq!(whole["finish_reason"], "stop");
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["model"], "chitin");
    assert!(whole["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(whole["usage"]["total_tokens"], 15, "{whole}");
    // Streamed: deltas join to the answer, one usage chunk at the end.
    let streamed = ok(&r[2]);
    assert_eq!(streamed["content"], "Second answer, streamed.");
    assert_eq!(streamed["first_role"], "assistant");
    assert_eq!(streamed["finish_reason"], "stop");
    assert_eq!(streamed["objects"], json!(["chat.completion.chunk"]));
    assert_eq!(streamed["usage_chunks"], 1, "{streamed}");
    assert_eq!(streamed["usage"]["prompt_tokens"], 10);
    assert_eq!(streamed["usage"]["completion_tokens"], 5);
    assert!(
        streamed["reasoning"].as_str().unwrap().is_empty(),
        "{streamed}"
    );
    // The follow-up continued the first session; the model got only the
    // new message, with the first exchange in the session's history.
    let session = whole["session"].as_str().unwrap();
    assert_eq!(streamed["session"], session);
    let calls = model_calls(&server);
    assert_eq!(calls.len(), 3);
    assert_eq!(last_user(&calls[0]), "Say hello");
    assert_eq!(last_user(&calls[1]), "And again, streamed");
    let history = calls[1].body["messages"].to_string();
    assert!(history.contains("Hello there."), "{history}");
    // A conversation this endpoint never answered: a new session, its
    // context quoted as the client's, never as Chitin's system prompt.
    let french = ok(&r[3]);
    assert_eq!(french["content"], "Bien, merci.");
    assert_ne!(french["session"], session);
    let text = last_user(&calls[2]);
    assert!(text.contains("The client's system instructions"), "{text}");
    assert!(text.contains("\"Answer in French.\""), "{text}");
    assert!(
        text.contains(r#"{"content":"bonjour","role":"assistant"}"#),
        "{text}"
    );
    assert!(
        text.ends_with("The user's new message:\n\nhow are you?"),
        "{text}"
    );
    for m in calls[2].body["messages"].as_array().unwrap() {
        if m["role"] == "system" {
            assert!(!m.to_string().contains("Answer in French"), "{m}");
        }
    }
    // The API sees one session holding both turns of the first conversation.
    let api = daemon.client(&daemon.token);
    let (status, list) = api.call("GET", "/api/sessions", None).await;
    assert_eq!(status, 200);
    let listed = list["sessions"].as_array().unwrap();
    let first = listed.iter().find(|s| s["id"] == session).unwrap();
    assert_eq!(first["title"], "API: Say hello");
    assert_eq!(listed.len(), 2, "{list}");
    let (_, s) = api
        .call("GET", &format!("/api/sessions/{session}"), None)
        .await;
    let texts: Vec<&str> = s["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "Say hello",
            "Hello there.",
            "And again, streamed",
            "Second answer, streamed."
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_allowed_by_policy_run_and_tools_that_ask_are_denied() {
    let home = Home::new();
    home.install_files();
    std::fs::write(home.workspace.join("notes.txt"), "the word is kumquat").unwrap();
    let server = ModelServer::start(vec![
        Reply::tool("files__read", r#"{"path":"notes.txt"}"#),
        Reply::tool("files__write", r#"{"path":"out.txt","content":"x"}"#),
        Reply::text("The word is kumquat."),
    ]);
    home.configure("openai", &server, "");
    let daemon = DaemonProc::start(&home);
    let r = client(
        &daemon,
        &daemon.token,
        json!([{"op": "chat", "stream": true,
                "messages": [{"role": "user", "content": "What is the word?"}]}]),
    );
    let streamed = ok(&r[0]);
    // The answer alone in content; the progress apart, as reasoning.
    assert_eq!(streamed["content"], "The word is kumquat.");
    let progress = streamed["reasoning"].as_str().unwrap();
    assert!(progress.contains("Running files__read"), "{progress}");
    assert!(progress.contains("files__read finished"), "{progress}");
    assert!(
        progress.contains("files__write asks for approval"),
        "{progress}"
    );
    assert!(progress.contains("denied"), "{progress}");
    assert!(
        !home.workspace.join("out.txt").exists(),
        "a tool that asks never runs over this API"
    );
    let calls = model_calls(&server);
    assert_eq!(calls.len(), 3);
    let after_read = calls[1].body["messages"].to_string();
    assert!(after_read.contains("kumquat"), "{after_read}");
    let after_write = calls[2].body["messages"].to_string();
    assert!(after_write.contains("denied"), "{after_write}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_openai_errors_and_nothing_runs() {
    let home = Home::new();
    let server = ModelServer::start(vec![Reply::text("unused")]);
    home.configure("openai", &server, "");
    let daemon = DaemonProc::start(&home);
    let user = json!([{"role": "user", "content": "hi"}]);
    let r = client(
        &daemon,
        &daemon.token,
        json!([
            {"op": "chat", "api_key": "wrong", "messages": user},
            {"op": "models", "api_key": "wrong"},
            {"op": "chat", "model": "gpt-4o", "messages": user},
            {"op": "chat", "messages": user, "extra": {"n": 2}},
            {"op": "chat", "messages": user, "extra": {"tools": [{"type": "function",
                "function": {"name": "f", "parameters": {"type": "object"}}}]}},
            {"op": "chat", "messages": [{"role": "user", "content": "a"},
                                        {"role": "assistant", "content": "b"}]},
            {"op": "chat", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]},
            {"op": "chat", "messages": [{"role": "wizard", "content": "a"}]},
            {"op": "chat", "messages": []},
            {"op": "chat", "stream": true, "model": "gpt-4o", "messages": user},
        ]),
    );
    let err = |i: usize| {
        let e = &r[i]["error"];
        assert!(e.is_object(), "step {i} was not refused: {}", r[i]);
        e.clone()
    };
    for i in [0, 1] {
        assert_eq!(err(i)["class"], "AuthenticationError", "{}", r[i]);
        assert_eq!(err(i)["status"], 401);
    }
    for i in [2, 9] {
        assert_eq!(err(i)["class"], "NotFoundError", "{}", r[i]);
        assert_eq!(err(i)["code"], "model_not_found");
        assert_eq!(err(i)["param"], "model");
    }
    let bad = [
        (3, "n", "one choice"),
        (4, "tools", "Chitin's own sandboxed tools"),
        (5, "messages[1].role", "the last message must be the user's"),
        (6, "messages[0].content[0]", "images are not supported"),
        (7, "messages[0].role", "unknown role"),
        (8, "messages", "empty"),
    ];
    for (i, param, says) in bad {
        let e = err(i);
        assert_eq!(e["class"], "BadRequestError", "{e}");
        assert_eq!(e["status"], 400, "{e}");
        assert_eq!(e["param"], param, "{e}");
        assert_eq!(e["type"], "invalid_request_error", "{e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{e}");
    }
    assert!(
        model_calls(&server).is_empty(),
        "a refused request reached the model"
    );
    let (_, list) = daemon
        .client(&daemon.token)
        .call("GET", "/api/sessions", None)
        .await;
    assert_eq!(
        list["sessions"],
        json!([]),
        "a refused request made a session"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_conversation_twice_at_once_is_a_conflict() {
    let home = Home::new();
    let server = ModelServer::repeat(Reply::text("one two three four five"))
        .with_chunk_delay(Duration::from_millis(200));
    home.configure("openai", &server, "");
    let daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);
    let first = json!({"model": "chitin", "messages": [{"role": "user", "content": "count"}]});
    let (status, answer) = api.call("POST", "/v1/chat/completions", Some(first)).await;
    assert_eq!(status, 200, "{answer}");
    let said = answer["choices"][0]["message"]["content"].as_str().unwrap();
    let follow_up = json!({"model": "chitin", "messages": [
        {"role": "user", "content": "count"},
        {"role": "assistant", "content": said},
        {"role": "user", "content": "again"},
    ]});
    let api2 = daemon.client(&daemon.token);
    let a = api.call("POST", "/v1/chat/completions", Some(follow_up.clone()));
    let b = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        api2.call("POST", "/v1/chat/completions", Some(follow_up))
            .await
    };
    let ((sa, _), (sb, eb)) = tokio::join!(a, b);
    assert_eq!(sa, 200);
    assert_eq!(sb, 409, "{eb}");
    assert_eq!(eb["error"]["code"], "conversation_busy", "{eb}");
}
