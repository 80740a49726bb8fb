//! OpenAI's Responses API from streams in its documented event shapes:
//! reasoning summaries streamed apart, the encrypted reasoning item sent
//! back before the call it led to, function calls and their outputs as
//! input items, cached input, an incomplete answer, a failed response.

use super::behaviour::call_on;
use super::model::{ModelServer, Reply};
use super::settings;
use chitin::messages::{Message, StopReason};
use chitin::provider::{ProviderError, ProviderKind, build};
use serde_json::json;

#[tokio::test]
async fn a_reasoning_tool_step_goes_back_with_its_encrypted_reasoning() {
    let server = ModelServer::start(vec![
        Reply::fixture("responses_reasoning_tool_call.sse"),
        Reply::fixture("responses_answer.sse"),
    ]);
    let mut s = settings(ProviderKind::Responses, &server.base_url());
    s.model = "gpt-5-mini".into();
    let p = build(s).unwrap();
    let question = vec![Message::User {
        text: "what is the word in note.txt?".into(),
    }];
    let (r, text, reasoning) = call_on(p.as_ref(), &question).await;
    let c = r.unwrap();
    assert_eq!(text, "");
    assert_eq!(
        reasoning,
        "**Reading the note**\n\nI need the file's contents first."
    );
    assert_eq!(c.stop, StopReason::ToolUse);
    assert_eq!(c.tool_calls[0].id, "call_Xq2J9bV3kLmN4pRs");
    assert_eq!(c.tool_calls[0].arguments, r#"{"path":"note.txt"}"#);
    assert_eq!(
        (
            c.usage.input_tokens,
            c.usage.cache_read_tokens,
            c.usage.output_tokens
        ),
        (1800, 1536, 96)
    );
    let first = &server.requests()[0];
    assert_eq!(first.path, "/v1/responses");
    let body = &first.body;
    assert_eq!(body["store"], false);
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_output_tokens"], 256);
    assert_eq!(body["instructions"], "sys");
    assert_eq!(body["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["name"], "files__read");

    let mut history = question.clone();
    history.push(Message::Assistant {
        text: String::new(),
        tool_calls: c.tool_calls.clone(),
        reasoning: c.reasoning.clone(),
    });
    history.push(Message::Tool {
        call_id: "call_Xq2J9bV3kLmN4pRs".into(),
        name: "files__read".into(),
        output: "the word is kumquat".into(),
        is_error: false,
    });
    let (r, text, _) = call_on(p.as_ref(), &history).await;
    assert_eq!(text, "The word is kumquat.");
    assert_eq!(r.unwrap().stop, StopReason::EndTurn);
    let input = &server.requests()[1].body["input"];
    assert_eq!(
        input[0],
        json!({"role": "user", "content": "what is the word in note.txt?"})
    );
    assert_eq!(input[1]["type"], "reasoning", "{input}");
    assert!(
        input[1]["encrypted_content"]
            .as_str()
            .unwrap()
            .starts_with("gAAAAAB")
    );
    assert_eq!(
        input[2],
        json!({"type": "function_call", "call_id": "call_Xq2J9bV3kLmN4pRs", "name": "files__read", "arguments": "{\"path\":\"note.txt\"}"})
    );
    assert_eq!(
        input[3],
        json!({"type": "function_call_output", "call_id": "call_Xq2J9bV3kLmN4pRs", "output": "the word is kumquat"})
    );
}

#[tokio::test]
async fn incomplete_and_failed_responses_are_said_as_such() {
    let server = ModelServer::start(vec![Reply::fixture("responses_incomplete.sse")]);
    let p = build(settings(ProviderKind::Responses, &server.base_url())).unwrap();
    let q = [Message::User { text: "q".into() }];
    let (r, text, _) = call_on(p.as_ref(), &q).await;
    assert_eq!(r.unwrap().stop, StopReason::MaxTokens);
    assert_eq!(text, "The first half");
    // A non-reasoning model asks for no encrypted reasoning.
    assert!(server.requests()[0].body.get("include").is_none());

    let server = ModelServer::repeat(Reply::fixture("responses_failed.sse"));
    let p = build(settings(ProviderKind::Responses, &server.base_url())).unwrap();
    let e = call_on(p.as_ref(), &q).await.0.unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::Unavailable {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("failed to generate"), "{e}");
}
