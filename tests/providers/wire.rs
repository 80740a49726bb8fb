//! What goes over the wire: the exact request bodies and headers of both
//! protocols, `check()`'s model listing, and non-streamed JSON answers.

use super::model::{self, ModelServer, Reply};
use super::{KINDS, call, one, provider, settings, user};
use chitin::messages::{Message, StopReason, ToolCall, ToolSpec};
use chitin::provider::{ProviderError, ProviderKind, build};
use serde_json::{Value, json};

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
    for kind in [
        ProviderKind::Openai,
        ProviderKind::Anthropic,
        ProviderKind::Responses,
    ] {
        let server = ModelServer::start(vec![]).with_models(&["other", "test-model"]);
        let summary = provider(kind, &server).check().await.unwrap();
        assert!(summary.contains("test-model"), "{summary}");
        let req = &server.requests()[0];
        assert_eq!(
            (req.method.as_str(), req.path.split('?').next().unwrap()),
            ("GET", "/v1/models")
        );
        match kind {
            ProviderKind::Openai | ProviderKind::Responses => {
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
    assert!(build(s).unwrap().check().await.is_ok());
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
            reasoning: Vec::new(),
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
    // Cache breakpoints: the system prompt, the last tool, the history's
    // last block (what the next step resends unchanged).
    let cache = json!({"type": "ephemeral"});
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "You are terse.", "cache_control": cache}])
    );
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
                {"type": "text", "text": "thanks; now summarize", "cache_control": cache},
            ]},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{"name": "files__read", "description": "Read a file",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
            "cache_control": cache}])
    );
    assert!(body.get("thinking").is_none() && body.get("temperature").is_none());

    // Caching off: no breakpoints anywhere.
    let server = ModelServer::start(vec![Reply::text("ok")]);
    let mut s = settings(ProviderKind::Anthropic, &server.base_url());
    s.options.no_prompt_cache = true;
    let (messages, tools) = history();
    call(
        build(s).unwrap().as_ref(),
        "You are terse.",
        &messages,
        &tools,
    )
    .await
    .0
    .unwrap();
    let body = server.requests().remove(0).body;
    assert_eq!(body["system"], "You are terse.");
    assert!(!body.to_string().contains("cache_control"), "{body}");
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
