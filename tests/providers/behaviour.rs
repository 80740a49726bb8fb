//! Providers as they really behave, from recorded-style streams built on
//! the providers' documented shapes (`tests/fixtures/providers`):
//! reasoning streamed apart and sent back where required, Anthropic
//! thinking with its signature echoed, cached-token usage, in-band errors
//! classified like out-of-band ones, content filters, per-family quirks.

use super::model::{ModelServer, Reply};
use super::settings;
use chitin::messages::{Completion, Message, Reasoning, StopReason, ToolSpec};
use chitin::provider::{
    ChatRequest, Delta, Provider, ProviderError, ProviderKind, ProviderSettings, build,
};
use serde_json::{Value, json};
use std::sync::Mutex;

/// One call on `history`; the result, the text and the reasoning streamed.
pub(super) async fn call_on(
    p: &dyn Provider,
    history: &[Message],
) -> (Result<Completion, ProviderError>, String, String) {
    let (text, reasoning) = (Mutex::new(String::new()), Mutex::new(String::new()));
    let sink = |d: Delta<'_>| match d {
        Delta::Text(t) => text.lock().unwrap().push_str(t),
        Delta::Reasoning(t) => reasoning.lock().unwrap().push_str(t),
    };
    let tools = [ToolSpec {
        name: "files__read".into(),
        description: "Read a file".into(),
        input_schema: json!({"type": "object"}),
    }];
    let req = ChatRequest {
        system: "sys",
        messages: history,
        tools: &tools,
        max_tokens: 256,
    };
    let r = p.complete(req, &sink).await;
    (
        r,
        text.into_inner().unwrap(),
        reasoning.into_inner().unwrap(),
    )
}

fn user(t: &str) -> Message {
    Message::User { text: t.into() }
}

/// The history after the model's tool call: the call with its reasoning,
/// and its result.
fn after_call(c: &Completion) -> Vec<Message> {
    vec![
        user("what is the word in note.txt?"),
        Message::Assistant {
            text: c.text.clone(),
            tool_calls: c.tool_calls.clone(),
            reasoning: c.reasoning.clone(),
        },
        Message::Tool {
            call_id: c.tool_calls[0].id.clone(),
            name: "files__read".into(),
            output: "kumquat".into(),
            is_error: false,
        },
    ]
}

fn with(
    server: &ModelServer,
    kind: ProviderKind,
    f: impl FnOnce(&mut ProviderSettings),
) -> Box<dyn Provider> {
    let mut s = settings(kind, &server.base_url());
    f(&mut s);
    build(s).unwrap()
}

/// The assistant messages of a request body.
fn assistant_messages(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .cloned()
        .collect()
}

#[tokio::test]
async fn deepseek_reasoning_is_streamed_apart_and_sent_back_with_the_tool_result() {
    let server = ModelServer::start(vec![
        Reply::fixture("deepseek_reasoning_tool_call.sse"),
        Reply::fixture("deepseek_reasoning_answer.sse"),
        Reply::text("ok"),
        Reply::text("ok"),
    ]);
    let p = with(&server, ProviderKind::Openai, |_| {});
    let (r, text, reasoning) = call_on(p.as_ref(), &[user("what is the word in note.txt?")]).await;
    let c = r.unwrap();
    let said = "The user wants the word in note.txt. I should read the file first.";
    assert_eq!(reasoning, said, "streamed as reasoning");
    assert_eq!(text, "", "reasoning is not the answer");
    assert_eq!(c.stop, StopReason::ToolUse);
    assert_eq!(c.tool_calls[0].arguments, r#"{"path": "note.txt"}"#);
    assert_eq!(c.reasoning.len(), 1);
    assert_eq!(
        (c.reasoning[0].kind.as_str(), c.reasoning[0].text.as_str()),
        ("reasoning_content", said)
    );
    assert_eq!(
        (c.usage.input_tokens, c.usage.cache_read_tokens),
        (1208, 1152)
    );

    // The next request (the tool result) carries it back on the call.
    let history = after_call(&c);
    let (r, text, _) = call_on(p.as_ref(), &history).await;
    assert_eq!(text, "The word is kumquat.");
    assert_eq!(r.unwrap().usage.cache_read_tokens, 1280);
    let body = &server.requests()[1].body;
    let sent = assistant_messages(body);
    assert_eq!(sent[0]["reasoning_content"], said, "{body}");
    assert!(sent[0]["tool_calls"].is_array());

    // A later turn does not resend the earlier turn's reasoning.
    let mut later = history.clone();
    later.push(Message::assistant("The word is kumquat.", Vec::new()));
    later.push(user("thanks"));
    call_on(p.as_ref(), &later).await.0.unwrap();
    let body = &server.requests()[2].body;
    assert!(!body.to_string().contains("reasoning_content"), "{body}");

    // Reasoning another provider produced is never sent here.
    let mut foreign = history;
    if let Message::Assistant { reasoning, .. } = &mut foreign[1] {
        reasoning[0].origin = "openai https://elsewhere.example/v1 other".into();
    }
    call_on(p.as_ref(), &foreign).await.0.unwrap();
    let body = &server.requests()[3].body;
    assert!(!body.to_string().contains("reasoning_content"), "{body}");
}

#[tokio::test]
async fn reasoning_fields_of_both_names_and_cached_usage_are_read() {
    let server = ModelServer::start(vec![Reply::fixture("openrouter_reasoning.sse")]);
    let p = with(&server, ProviderKind::Openai, |_| {});
    let (r, text, reasoning) = call_on(p.as_ref(), &[user("hi")]).await;
    let c = r.unwrap();
    assert_eq!(
        (text.as_str(), reasoning.as_str()),
        ("Hello!", "Short question; a short answer.")
    );
    assert_eq!(c.reasoning[0].kind, "reasoning");
    assert_eq!(c.stop, StopReason::EndTurn);
    assert_eq!(
        (
            c.usage.input_tokens,
            c.usage.cache_read_tokens,
            c.usage.uncached_input()
        ),
        (2048, 1536, 512)
    );
}

#[tokio::test]
async fn an_endpoint_that_refuses_reasoning_is_asked_again_without_it_and_never_sent_it_again() {
    let first = ModelServer::start(vec![Reply::fixture("deepseek_reasoning_tool_call.sse")]);
    let c = call_on(
        with(&first, ProviderKind::Openai, |_| {}).as_ref(),
        &[user("q")],
    )
    .await
    .0
    .unwrap();
    let history = after_call(&c);
    // Groq's wording of the refusal.
    let groq = r#"{"error":{"message":"'messages.1' : for 'role:assistant' the following must be satisfied[('messages.1' : property 'reasoning_content' is unsupported)]","type":"invalid_request_error"}}"#;
    let server = ModelServer::start(vec![
        Reply::Status(400, groq.into()),
        Reply::text("ok"),
        Reply::text("ok again"),
    ]);
    let p = with(&server, ProviderKind::Openai, |s| {
        s.model = "test-model".into()
    });
    // Same origin as the recorded reasoning (another server would not get it).
    let mut history = history;
    if let Message::Assistant { reasoning, .. } = &mut history[1] {
        reasoning[0].origin = format!("openai {} test-model", server.base_url());
    }
    let (r, text, _) = call_on(p.as_ref(), &history).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(text, "ok");
    let reqs = server.requests();
    assert!(reqs[0].body.to_string().contains("reasoning_content"));
    assert!(!reqs[1].body.to_string().contains("reasoning_content"));
    call_on(p.as_ref(), &history).await.0.unwrap();
    assert!(
        !server.requests()[2]
            .body
            .to_string()
            .contains("reasoning_content")
    );

    // And the quirk says so up front.
    let server = ModelServer::start(vec![Reply::text("ok")]);
    let p = with(&server, ProviderKind::Openai, |s| {
        s.options.quirks.echo_reasoning = Some(false)
    });
    let mut h = history.clone();
    if let Message::Assistant { reasoning, .. } = &mut h[1] {
        reasoning[0].origin = format!("openai {} test-model", server.base_url());
    }
    call_on(p.as_ref(), &h).await.0.unwrap();
    assert!(
        !server.requests()[0]
            .body
            .to_string()
            .contains("reasoning_content")
    );
}

#[tokio::test]
async fn anthropic_thinking_is_requested_and_its_signed_blocks_are_echoed_unchanged() {
    let server = ModelServer::start(vec![
        Reply::fixture("anthropic_thinking_tool_use.sse"),
        Reply::fixture("anthropic_redacted_thinking_answer.sse"),
    ]);
    let p = with(&server, ProviderKind::Anthropic, |s| {
        s.options.thinking_budget = Some(2048);
        s.options.temperature = Some(0.3);
    });
    let (r, text, reasoning) = call_on(p.as_ref(), &[user("what is the word in note.txt?")]).await;
    let c = r.unwrap();
    assert_eq!(text, "");
    assert_eq!(
        reasoning,
        "The user asks for the word in note.txt.\nI will read it with files__read."
    );
    let body = &server.requests()[0].body;
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(
        body["max_tokens"],
        256 + 2048,
        "the budget comes on top of the output limit"
    );
    assert!(
        body.get("temperature").is_none(),
        "thinking needs the default temperature: {body}"
    );
    let signature = c.reasoning[0].signature.clone().expect("signed");
    assert!(signature.starts_with("EuYBCkQYAiJA"));
    // Usage: uncached input, cache writes and reads, kept apart.
    assert_eq!(
        (
            c.usage.input_tokens,
            c.usage.cache_write_tokens,
            c.usage.cache_read_tokens,
            c.usage.output_tokens
        ),
        (472 + 1800, 1800, 0, 89)
    );

    let (r, text, _) = call_on(p.as_ref(), &after_call(&c)).await;
    assert_eq!(text, "The word is kumquat.");
    let answer = r.unwrap();
    assert_eq!(answer.reasoning[0].kind, "redacted_thinking");
    assert!(
        answer.reasoning[0]
            .data
            .as_deref()
            .unwrap()
            .starts_with("EmwKAhgB")
    );
    assert_eq!(
        (answer.usage.cache_read_tokens, answer.usage.input_tokens),
        (2272, 2307)
    );
    let body = &server.requests()[1].body;
    let sent = assistant_messages(body);
    assert_eq!(
        sent[0]["content"][0],
        json!({"type": "thinking", "thinking": c.reasoning[0].text, "signature": signature}),
        "the thinking block comes first, byte for byte: {body}"
    );
    assert_eq!(sent[0]["content"][1]["type"], "tool_use");

    // A redacted block goes back as it came.
    let server = ModelServer::start(vec![Reply::text("ok")]);
    let p2 = with(&server, ProviderKind::Anthropic, |s| {
        s.options.thinking_budget = Some(2048)
    });
    let mut h = after_call(&c);
    if let Message::Assistant { reasoning, .. } = &mut h[1] {
        *reasoning = vec![Reasoning {
            origin: format!("anthropic {} test-model", server.base_url()),
            ..answer.reasoning[0].clone()
        }];
    }
    call_on(p2.as_ref(), &h).await.0.unwrap();
    let sent = assistant_messages(&server.requests()[0].body);
    assert_eq!(sent[0]["content"][0]["type"], "redacted_thinking");
    assert_eq!(
        sent[0]["content"][0]["data"],
        json!(answer.reasoning[0].data)
    );
}

/// The error of one call to `server`.
async fn error_of(server: &ModelServer, kind: ProviderKind) -> ProviderError {
    call_on(with(server, kind, |_| {}).as_ref(), &[user("q")])
        .await
        .0
        .unwrap_err()
}

#[tokio::test]
async fn in_band_errors_are_classified_like_http_errors() {
    type Is = fn(&ProviderError) -> bool;
    // (fixture, kind, class, words kept, requests: retried or not)
    let in_band: [(&str, ProviderKind, Is, &str, usize); 4] = [
        // OpenAI: an invalid request reported inside the stream.
        (
            "openai_inband_invalid_request.sse",
            ProviderKind::Openai,
            |e| matches!(e, ProviderError::Rejected { status: 400, .. }),
            "string too long",
            1,
        ),
        // OpenRouter: the upstream failed mid-stream: retried, then unavailable.
        (
            "openrouter_midstream_server_error.sse",
            ProviderKind::Openai,
            |e| {
                matches!(
                    e,
                    ProviderError::Unavailable {
                        status: 500,
                        attempts: 3,
                        ..
                    }
                )
            },
            "Provider disconnected",
            3,
        ),
        // Anthropic: overloaded (retried), and an invalid request (not).
        (
            "anthropic_overloaded_event.sse",
            ProviderKind::Anthropic,
            |e| {
                matches!(
                    e,
                    ProviderError::Unavailable {
                        status: 529,
                        attempts: 3,
                        ..
                    }
                )
            },
            "is overloaded",
            3,
        ),
        (
            "anthropic_invalid_request_event.sse",
            ProviderKind::Anthropic,
            |e| matches!(e, ProviderError::Rejected { status: 400, .. }),
            "signature: Field required",
            1,
        ),
    ];
    for (fixture, kind, is, words, requests) in in_band {
        let server = ModelServer::repeat(Reply::fixture(fixture));
        let e = error_of(&server, kind).await;
        assert!(is(&e), "{fixture}: {e}");
        assert!(e.to_string().contains(words), "{fixture}: {e}");
        assert!(!e.to_string().contains("malformed"), "{fixture}: {e}");
        assert_eq!(server.request_count(), requests, "{fixture}");
    }

    // Out of band, each class by its documented body.
    let cases: [(u16, &str, Is); 5] = [
        (
            401,
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
            |e| matches!(e, ProviderError::Auth { .. }),
        ),
        (
            400,
            r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130532 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            |e| matches!(e, ProviderError::ContextLength { .. }),
        ),
        (
            400,
            r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400}}"#,
            |e| matches!(e, ProviderError::Filtered { .. }),
        ),
        (
            429,
            r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
            |e| matches!(e, ProviderError::Rejected { status: 429, .. }),
        ),
        (
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            |e| matches!(e, ProviderError::Unavailable { status: 529, .. }),
        ),
    ];
    for (status, body, is) in cases {
        let server = ModelServer::repeat(Reply::Status(status, body.into()));
        let e = error_of(&server, ProviderKind::Openai).await;
        assert!(is(&e), "{status} {body}: {e}");
    }
}

#[tokio::test]
async fn a_content_filter_stop_is_its_own_stop_reason() {
    let server = ModelServer::start(vec![Reply::fixture("openai_content_filter.sse")]);
    let (r, text, _) = call_on(
        with(&server, ProviderKind::Openai, |_| {}).as_ref(),
        &[user("q")],
    )
    .await;
    assert_eq!(r.unwrap().stop, StopReason::ContentFilter);
    assert_eq!(text, "Here is");
}

#[tokio::test]
async fn temperature_is_sent_except_where_the_family_or_the_user_says_not() {
    for (model, temperature_off, sent) in [
        ("test-model", None, true),
        ("gpt-5-mini", None, false),
        ("o3", None, false),
        ("test-model", Some(false), false),
        ("gpt-5", Some(true), true),
    ] {
        let server = ModelServer::start(vec![Reply::text("ok")]);
        let p = with(&server, ProviderKind::Openai, |s| {
            s.model = model.into();
            s.options.temperature = Some(0.25);
            s.options.quirks.temperature = temperature_off;
        });
        call_on(p.as_ref(), &[user("q")]).await.0.unwrap();
        let body = &server.requests()[0].body;
        assert_eq!(
            body.get("temperature").is_some(),
            sent,
            "{model} {temperature_off:?}: {body}"
        );
    }
    // Anthropic without thinking takes it.
    let server = ModelServer::start(vec![Reply::text("ok")]);
    let p = with(&server, ProviderKind::Anthropic, |s| {
        s.options.temperature = Some(0.25)
    });
    call_on(p.as_ref(), &[user("q")]).await.0.unwrap();
    assert_eq!(server.requests()[0].body["temperature"], 0.25);
}

#[tokio::test]
async fn hostile_and_doubled_stream_fields_are_taken_once_and_bounded() {
    let chunk = |v: Value| format!("data: {v}\n\n");
    let stream = [
        // Both names with the same text (some gateways): shown once.
        chunk(json!({"choices": [{"index": 0, "delta": {"reasoning_content": "think", "reasoning": "think"}}]})),
        chunk(json!({"choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 80}}})),
        // A later chunk that says less than the cache read: no overflow.
        chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 50, "completion_tokens": 2, "prompt_tokens_details": {"cache_write_tokens": 10}}})),
        chunk(json!({"choices": [], "usage": {"prompt_tokens": 18446744073709551615u64, "completion_tokens": 1}})),
        "data: [DONE]\n\n".to_string(),
    ]
    .concat();
    let server = ModelServer::start(vec![Reply::Raw(stream)]);
    let (r, text, reasoning) = call_on(
        with(&server, ProviderKind::Openai, |_| {}).as_ref(),
        &[user("q")],
    )
    .await;
    let c = r.unwrap();
    assert_eq!((text.as_str(), reasoning.as_str()), ("hi", "think"));
    assert_eq!(c.reasoning.len(), 1);
    assert_eq!(c.usage.input_tokens, chitin::messages::MAX_REPORTED_TOKENS);
    assert!(c.usage.cache_read_tokens + c.usage.cache_write_tokens <= c.usage.input_tokens);
}

#[tokio::test]
async fn anthropic_thinking_is_left_out_of_a_call_whose_tool_step_has_none_to_send() {
    // The tool step came from another provider (a failover): its thinking
    // cannot go here, so this call asks for none (the API would refuse it).
    let first = ModelServer::start(vec![Reply::fixture("anthropic_thinking_tool_use.sse")]);
    let c = call_on(
        with(&first, ProviderKind::Anthropic, |_| {}).as_ref(),
        &[user("q")],
    )
    .await
    .0
    .unwrap();
    let server = ModelServer::start(vec![Reply::text("ok"), Reply::text("ok")]);
    let p = with(&server, ProviderKind::Anthropic, |s| {
        s.options.thinking_budget = Some(2048);
        s.options.temperature = Some(0.5);
    });
    call_on(p.as_ref(), &after_call(&c)).await.0.unwrap();
    let body = &server.requests()[0].body;
    assert!(body.get("thinking").is_none(), "{body}");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(
        body["temperature"], 0.5,
        "no thinking, so the temperature goes"
    );
    assert!(
        !body.to_string().contains("\"type\":\"thinking\""),
        "{body}"
    );
    // A fresh question may think.
    call_on(p.as_ref(), &[user("q")]).await.0.unwrap();
    let body = &server.requests()[1].body;
    assert_eq!(body["thinking"]["budget_tokens"], 2048);
    assert!(body.get("temperature").is_none());
}
