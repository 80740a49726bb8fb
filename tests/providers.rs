//! The model-provider clients against a real scripted model server, for both
//! protocols: streamed text, tool calls, usage, retries, status mapping,
//! timeouts; [`wire`]: non-streamed answers, `check()` and the exact
//! request shapes.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "providers/behaviour.rs"]
mod behaviour;
#[path = "support/model.rs"]
mod model;
#[path = "providers/responses.rs"]
mod responses;
#[path = "providers/wire.rs"]
mod wire;

use chitin::messages::{Completion, Message, StopReason, ToolSpec, Usage};
use chitin::provider::{
    self, ChatRequest, Delta, Provider, ProviderError, ProviderKind, ProviderSettings,
};
use model::{ModelServer, Reply};
use serde_json::json;
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
        options: Default::default(),
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
    let sink = |d: Delta<'_>| {
        if let Delta::Text(s) = d {
            pieces.lock().unwrap().push(s.to_string())
        }
    };
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
                output_tokens: 7,
                ..Usage::default()
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
    use ProviderError::{Auth, NotFound, Rejected};
    let body = |m: &str| json!({"error": {"message": m}}).to_string();
    type Check = fn(&ProviderError) -> bool;
    let table: [(u16, String, Check); 5] = [
        (
            401,
            body("invalid x-api-key"),
            |e| matches!(e, Auth { status: 401, message } if message == "invalid x-api-key"),
        ),
        (403, body("no access"), |e| {
            matches!(e, Auth { status: 403, .. })
        }),
        (
            404,
            body("no such endpoint"),
            |e| matches!(e, NotFound { model, .. } if model == "test-model"),
        ),
        (400, body("The model `test-model` does not exist"), |e| {
            matches!(e, NotFound { .. })
        }),
        (
            400,
            "tools[0] is bad <html>".into(),
            |e| matches!(e, Rejected { status: 400, message } if message == "tools[0] is bad <html>"),
        ),
    ];
    for kind in KINDS {
        for (status, body, check) in &table {
            let (r, _, server) = one(kind, vec![Reply::Status(*status, body.clone())]).await;
            let err = r.unwrap_err();
            assert!(check(&err), "{kind:?} {status}: {err:?}");
            assert_eq!(server.request_count(), 1, "{kind:?} {status}: no retry");
        }
    }
}

#[tokio::test]
async fn a_stalled_stream_times_out_between_chunks() {
    for kind in KINDS {
        let script = vec![Reply::text("slow"), Reply::text("slow")];
        let server = ModelServer::start(script).with_chunk_delay(Duration::from_millis(500));
        let mut s = settings(kind, &server.base_url());
        s.timeout = Duration::from_millis(200);
        s.max_retries = 1;
        let (r, pieces) = call(provider::build(s).unwrap().as_ref(), "", &user("hi"), &[]).await;
        match r {
            Err(ProviderError::Cut {
                attempts: 2,
                ref detail,
                ..
            }) => assert!(detail.contains("stalled"), "{detail}"),
            other => panic!("{kind:?}: {other:?}"),
        }
        assert!(pieces.is_empty(), "{pieces:?}");
        assert_eq!(server.request_count(), 2);
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

/// OpenAI's reasoning models are sent `max_completion_tokens` (they refuse
/// `max_tokens`); other models keep `max_tokens`.
#[tokio::test]
async fn the_output_limit_is_named_as_the_model_family_wants() {
    for (model, field, other) in [
        ("gpt-5-mini", "max_completion_tokens", "max_tokens"),
        ("deepseek-chat", "max_tokens", "max_completion_tokens"),
    ] {
        let server = ModelServer::start(vec![Reply::text("ok")]);
        let mut s = settings(ProviderKind::Openai, &server.base_url());
        s.model = model.into();
        let (r, _) = call(provider::build(s).unwrap().as_ref(), "", &user("hi"), &[]).await;
        assert!(r.is_ok(), "{model}: {r:?}");
        let body = &server.requests()[0].body;
        assert_eq!(body[field], 256, "{model}: {body}");
        assert!(body.get(other).is_none(), "{model}: {body}");
    }
}
