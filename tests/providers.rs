//! The model-provider clients against a real scripted model server, for both
//! protocols: streamed text, tool calls, usage, retries, status mapping,
//! timeouts, non-streamed answers, `check()` and the exact request shapes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/model.rs"]
mod model;

use chitin::agent::messages::{Completion, Message, StopReason, ToolCall, ToolSpec, Usage};
use chitin::provider::{
    self, ChatRequest, Provider, ProviderError, ProviderKind, ProviderSettings,
};
use model::{ModelServer, Reply};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const KINDS: [ProviderKind; 2] = [ProviderKind::Openai, ProviderKind::Anthropic];

fn settings(kind: ProviderKind, base_url: &str) -> ProviderSettings {
    ProviderSettings {
        kind,
        base_url: base_url.to_string(),
        model: "test-model".into(),
        api_key: Some("sk-test-123".into()),
        timeout: Duration::from_secs(5),
        max_retries: 2,
        retry_base: Duration::from_millis(10),
    }
}

fn provider(kind: ProviderKind, server: &ModelServer) -> Box<dyn Provider> {
    provider::build(settings(kind, &server.base_url())).unwrap()
}

fn user(text: &str) -> Vec<Message> {
    vec![Message::User { text: text.into() }]
}

/// One call; returns the result and the pieces the sink received.
async fn call(
    p: &dyn Provider,
    system: &str,
    messages: &[Message],
    tools: &[ToolSpec],
) -> (Result<Completion, ProviderError>, Vec<String>) {
    let pieces = Mutex::new(Vec::new());
    let sink = |s: &str| pieces.lock().unwrap().push(s.to_string());
    let req = ChatRequest {
        system,
        messages,
        tools,
        max_tokens: 256,
    };
    let result = p.complete(req, &sink).await;
    (result, pieces.into_inner().unwrap())
}

async fn one(
    kind: ProviderKind,
    script: Vec<Reply>,
) -> (Result<Completion, ProviderError>, Vec<String>, ModelServer) {
    let server = ModelServer::start(script);
    let p = provider(kind, &server);
    let (r, pieces) = call(p.as_ref(), "sys", &user("hi"), &[]).await;
    (r, pieces, server)
}

#[tokio::test]
async fn streamed_text_reaches_the_sink_and_the_completion() {
    for kind in KINDS {
        let server =
            ModelServer::start(vec![Reply::text("Hello, streamed wörld!")]).with_usage(12, 7);
        let p = provider(kind, &server);
        let (r, pieces) = call(p.as_ref(), "sys", &user("hi"), &[]).await;
        let c = r.unwrap();
        assert_eq!(c.text, "Hello, streamed wörld!", "{kind:?}");
        assert_eq!(pieces.concat(), c.text, "{kind:?}");
        assert!(
            pieces.len() >= 3,
            "{kind:?}: text came in {} pieces",
            pieces.len()
        );
        assert_eq!(
            c.usage,
            Usage {
                input_tokens: 12,
                output_tokens: 7
            },
            "{kind:?}"
        );
        assert_eq!(c.stop, StopReason::EndTurn, "{kind:?}");
        assert!(c.tool_calls.is_empty());
        assert_eq!((server.request_count(), server.remaining()), (1, 0));
    }
}

#[tokio::test]
async fn tool_calls_come_back_intact() {
    let calls = vec![
        (
            "files__read".to_string(),
            r#"{"path":"notes/a b.txt","max":3}"#.to_string(),
        ),
        (
            "web__fetch".to_string(),
            r#"{"url":"https://example.invalid/?q=ü&x=1"}"#.to_string(),
        ),
    ];
    for kind in KINDS {
        let script = vec![
            Reply::ToolCalls(calls.clone()),
            Reply::TextAndTools("Let me look.".into(), calls[..1].to_vec()),
        ];
        let server = ModelServer::start(script);
        let p = provider(kind, &server);
        let (r, pieces) = call(p.as_ref(), "", &user("go"), &[]).await;
        let c = r.unwrap();
        assert_eq!(c.stop, StopReason::ToolUse, "{kind:?}");
        assert_eq!(c.text, "");
        assert!(
            pieces.is_empty(),
            "{kind:?}: no text was streamed: {pieces:?}"
        );
        let got: Vec<(String, String)> = c
            .tool_calls
            .iter()
            .map(|t| (t.name.clone(), t.arguments.clone()))
            .collect();
        assert_eq!(got, calls, "{kind:?}");
        assert!(!c.tool_calls[0].id.is_empty());
        assert_ne!(c.tool_calls[0].id, c.tool_calls[1].id);
        assert_eq!(c.usage.total(), 15);

        let (r, pieces) = call(p.as_ref(), "", &user("go"), &[]).await;
        let c = r.unwrap();
        assert_eq!(
            (c.text.as_str(), pieces.concat().as_str()),
            ("Let me look.", "Let me look.")
        );
        assert_eq!(c.tool_calls.len(), 1);
        assert_eq!(c.tool_calls[0].arguments, calls[0].1);
        assert_eq!(c.stop, StopReason::ToolUse);
    }
}

#[tokio::test]
async fn retries_429_and_5xx_then_succeeds() {
    for kind in KINDS {
        let (r, _, server) = one(
            kind,
            vec![Reply::StatusRetryAfter(429, 0), Reply::text("ok")],
        )
        .await;
        assert_eq!(r.unwrap().text, "ok", "{kind:?}");
        assert_eq!(server.request_count(), 2, "{kind:?}");

        let err = r#"{"error":{"message":"upstream hiccup"}}"#;
        let script = vec![
            Reply::Status(500, err.into()),
            Reply::Status(503, err.into()),
            Reply::text("third time"),
        ];
        let (r, _, server) = one(kind, script).await;
        assert_eq!(r.unwrap().text, "third time", "{kind:?}");
        assert_eq!(server.request_count(), 3, "{kind:?}");
    }
}

#[tokio::test]
async fn persistent_5xx_is_unavailable_after_the_retries() {
    for kind in KINDS {
        let err = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let script = vec![Reply::Status(529, err.into()); 4];
        let (r, _, server) = one(kind, script).await;
        match r {
            Err(ProviderError::Unavailable {
                status: 529,
                attempts: 3,
                message,
            }) => assert_eq!(message, "Overloaded"),
            other => panic!("{kind:?}: {other:?}"),
        }
        assert_eq!((server.request_count(), server.remaining()), (3, 1));
    }
}

#[tokio::test]
async fn client_errors_map_without_retrying() {
    let body = |m: &str| json!({"error": {"message": m}}).to_string();
    for kind in KINDS {
        let (r, _, server) = one(kind, vec![Reply::Status(401, body("invalid x-api-key"))]).await;
        match r {
            Err(ProviderError::Auth {
                status: 401,
                message,
            }) => assert_eq!(message, "invalid x-api-key"),
            other => panic!("{kind:?}: {other:?}"),
        }
        assert_eq!(server.request_count(), 1, "{kind:?}: no retry on 401");

        let (r, _, server) = one(kind, vec![Reply::Status(404, body("no such endpoint"))]).await;
        assert!(
            matches!(r, Err(ProviderError::NotFound { ref model, .. }) if model == "test-model"),
            "{kind:?}: {r:?}"
        );
        assert_eq!(server.request_count(), 1);

        let (r, _, _) = one(
            kind,
            vec![Reply::Status(
                400,
                body("The model `test-model` does not exist"),
            )],
        )
        .await;
        assert!(
            matches!(r, Err(ProviderError::NotFound { .. })),
            "{kind:?}: {r:?}"
        );

        let (r, _, server) = one(
            kind,
            vec![Reply::Status(400, "tools[0] is bad <html>".into())],
        )
        .await;
        match r {
            Err(ProviderError::Rejected {
                status: 400,
                message,
            }) => assert_eq!(message, "tools[0] is bad <html>"),
            other => panic!("{kind:?}: {other:?}"),
        }
        assert_eq!(server.request_count(), 1);
    }
}

#[tokio::test]
async fn a_hanging_server_is_unreachable_after_the_retries() {
    for kind in KINDS {
        let server = ModelServer::start(vec![Reply::Hang, Reply::Hang, Reply::Hang]);
        let mut s = settings(kind, &server.base_url());
        s.timeout = Duration::from_millis(300);
        s.max_retries = 1;
        let p = provider::build(s).unwrap();
        let started = Instant::now();
        let (r, _) = call(p.as_ref(), "", &user("hi"), &[]).await;
        let took = started.elapsed();
        match r {
            Err(ProviderError::Unreachable {
                attempts: 2,
                ref detail,
                ..
            }) => assert!(detail.contains("no response"), "{detail}"),
            other => panic!("{kind:?}: {other:?}"),
        }
        assert!(
            took >= Duration::from_millis(600) && took < Duration::from_secs(3),
            "{kind:?}: {took:?}"
        );
        assert_eq!((server.request_count(), server.remaining()), (2, 1));
    }
}

#[tokio::test]
async fn a_closed_port_is_unreachable_and_a_bad_url_is_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for kind in KINDS {
        let p = provider::build(settings(kind, &format!("http://127.0.0.1:{port}/v1"))).unwrap();
        let (r, _) = call(p.as_ref(), "", &user("hi"), &[]).await;
        assert!(
            matches!(r, Err(ProviderError::Unreachable { attempts: 3, .. })),
            "{kind:?}: {r:?}"
        );
        assert!(matches!(
            provider::build(settings(kind, "ftp://x")),
            Err(ProviderError::BadUrl { .. })
        ));
    }
}

#[tokio::test]
async fn non_streamed_json_answers_are_accepted() {
    let openai = json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "plain", "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "files__list", "arguments": "{\"dir\":\".\"}"}}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4}});
    let anthropic = json!({"id": "m", "type": "message", "role": "assistant", "stop_reason": "tool_use",
        "content": [{"type": "text", "text": "plain"}, {"type": "tool_use", "id": "c1", "name": "files__list", "input": {"dir": "."}}],
        "usage": {"input_tokens": 3, "output_tokens": 4}});
    for (kind, body) in KINDS.into_iter().zip([openai, anthropic]) {
        let (r, pieces, _) = one(kind, vec![Reply::Status(200, body.to_string())]).await;
        let c = r.unwrap();
        assert_eq!(
            (c.text.as_str(), pieces.concat().as_str()),
            ("plain", "plain"),
            "{kind:?}"
        );
        let call = ToolCall {
            id: "c1".into(),
            name: "files__list".into(),
            arguments: r#"{"dir":"."}"#.into(),
        };
        assert_eq!(c.tool_calls, vec![call], "{kind:?}");
        assert_eq!(
            (c.usage.input_tokens, c.usage.output_tokens, c.stop),
            (3, 4, StopReason::ToolUse)
        );
    }
}

#[tokio::test]
async fn check_lists_models_with_the_key() {
    for kind in KINDS {
        let server = ModelServer::start(vec![]).with_models(&["other", "test-model"]);
        let summary = provider(kind, &server).check().await.unwrap();
        assert!(summary.contains("test-model"), "{summary}");
        let req = &server.requests()[0];
        assert_eq!(
            (req.method.as_str(), req.path.split('?').next().unwrap()),
            ("GET", "/v1/models")
        );
        match kind {
            ProviderKind::Openai => {
                assert_eq!(req.header("authorization"), Some("Bearer sk-test-123"))
            }
            ProviderKind::Anthropic => {
                assert_eq!(req.header("x-api-key"), Some("sk-test-123"));
                assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
            }
        }

        let server = ModelServer::start(vec![]).with_models(&["other"]);
        let err = provider(kind, &server).check().await.unwrap_err();
        assert!(
            matches!(err, ProviderError::NotFound { .. }),
            "{kind:?}: {err}"
        );
    }
    // Anthropic aliases name dated model ids.
    let server = ModelServer::start(vec![]).with_models(&["claude-x-4-5-20250929"]);
    let mut s = settings(ProviderKind::Anthropic, &server.base_url());
    s.model = "claude-x-4-5".into();
    assert!(provider::build(s).unwrap().check().await.is_ok());
}

fn history() -> (Vec<Message>, Vec<ToolSpec>) {
    let messages = vec![
        Message::User {
            text: "read a.txt".into(),
        },
        Message::Assistant {
            text: String::new(),
            tool_calls: vec![
                ToolCall {
                    id: "c1".into(),
                    name: "files__read".into(),
                    arguments: r#"{"path":"a.txt"}"#.into(),
                },
                ToolCall {
                    id: "c2".into(),
                    name: "files__stat".into(),
                    arguments: "{not json".into(),
                },
            ],
        },
        Message::Tool {
            call_id: "c1".into(),
            name: "files__read".into(),
            output: "hello".into(),
            is_error: false,
        },
        Message::Tool {
            call_id: "c2".into(),
            name: "files__stat".into(),
            output: "invalid input".into(),
            is_error: true,
        },
        Message::User {
            text: "thanks; now summarize".into(),
        },
    ];
    let tools = vec![ToolSpec {
        name: "files__read".into(),
        description: "Read a file".into(),
        input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    }];
    (messages, tools)
}

async fn sent_body(kind: ProviderKind) -> (Value, model::ModelRequest) {
    let server = ModelServer::start(vec![Reply::text("ok")]);
    let p = provider(kind, &server);
    let (messages, tools) = history();
    call(p.as_ref(), "You are terse.", &messages, &tools)
        .await
        .0
        .unwrap();
    let req = server.requests().remove(0);
    (req.body.clone(), req)
}

#[tokio::test]
async fn openai_request_shape() {
    let (body, req) = sent_body(ProviderKind::Openai).await;
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(req.header("authorization"), Some("Bearer sk-test-123"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "read a.txt"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "files__read", "arguments": "{\"path\":\"a.txt\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "files__stat", "arguments": "{not json"}},
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "hello"},
            {"role": "tool", "tool_call_id": "c2", "content": "invalid input"},
            {"role": "user", "content": "thanks; now summarize"},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {"name": "files__read", "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}])
    );
}

#[tokio::test]
async fn anthropic_request_shape() {
    let (body, req) = sent_body(ProviderKind::Anthropic).await;
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(req.header("x-api-key"), Some("sk-test-123"));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(req.header("authorization"), None);
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["stream"], true);
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "read a.txt"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "c1", "name": "files__read", "input": {"path": "a.txt"}},
                {"type": "tool_use", "id": "c2", "name": "files__stat", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "hello", "is_error": false},
                {"type": "tool_result", "tool_use_id": "c2", "content": "invalid input", "is_error": true},
                {"type": "text", "text": "thanks; now summarize"},
            ]},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"name": "files__read", "description": "Read a file",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}])
    );
}

#[tokio::test]
async fn no_tools_and_no_system_are_omitted() {
    for kind in KINDS {
        let server = ModelServer::start(vec![Reply::text("ok")]);
        call(provider(kind, &server).as_ref(), "", &user("hi"), &[])
            .await
            .0
            .unwrap();
        let body = server.requests().remove(0).body;
        assert!(body.get("tools").is_none(), "{kind:?}: {body}");
        assert!(body.get("system").is_none(), "{kind:?}: {body}");
        assert_eq!(
            body["messages"].as_array().unwrap().len(),
            1,
            "{kind:?}: {body}"
        );
    }
}

#[tokio::test]
async fn an_exhausted_script_answers_500_with_a_clear_message() {
    let (r, _, server) = one(ProviderKind::Openai, vec![]).await;
    match r {
        Err(ProviderError::Unavailable {
            status: 500,
            message,
            ..
        }) => assert!(message.contains("no reply left"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn repeat_mode_answers_every_call() {
    let server = ModelServer::repeat(Reply::text("same"));
    for kind in KINDS {
        let p = provider(kind, &server);
        for _ in 0..3 {
            assert_eq!(
                call(p.as_ref(), "", &user("hi"), &[]).await.0.unwrap().text,
                "same"
            );
        }
    }
    assert_eq!(server.request_count(), 6);
}
