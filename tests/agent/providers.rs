//! The turn loop with providers as they really behave: reasoning shown,
//! stored and sent back within the turn; Anthropic thinking echoed with
//! the tool result; a context-length error compacts and retries once;
//! failover to the next provider (and none on a refused key); cached
//! tokens recorded apart and shown by `chitin usage`.

use super::support::agent::{Home, Scripted, provider_settings, turn, turn_in};
use super::support::model::{ModelServer, Reply};
use chitin::agent::events::{Stop, TurnEvent};
use chitin::messages::Message;
use chitin::provider::ProviderKind;

fn note(home: &Home) {
    home.install_files();
    std::fs::write(home.workspace.join("note.txt"), "the word is kumquat").unwrap();
}

fn reasoning_events(events: &[TurnEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::ReasoningDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deepseek_reasoner_tool_turn_sends_its_reasoning_back_and_keeps_it() {
    let home = Home::new();
    note(&home);
    let server = ModelServer::start(vec![
        Reply::fixture("deepseek_reasoning_tool_call.sse"),
        Reply::fixture("deepseek_reasoning_answer.sse"),
        Reply::text("You're welcome."),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (summary, events, session) = turn(&agent, "what is the word?", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Answer, "{events:?}");
    assert_eq!(summary.text, "The word is kumquat.");
    let thought = "The user wants the word in note.txt. I should read the file first.";
    assert_eq!(
        reasoning_events(&events),
        format!("{thought}The file says kumquat. Answer briefly.")
    );
    // The request with the tool result carried the reasoning on the call
    // (DeepSeek answers 400 without it).
    let second = &server.requests()[1].body;
    let call = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    assert_eq!(call["reasoning_content"], thought, "{second}");
    assert!(
        second.to_string().contains("kumquat"),
        "the tool ran: {second}"
    );
    // Stored with the answer it led to.
    let history = agent.store().messages(&session).unwrap();
    let kept: Vec<&str> = history
        .iter()
        .filter_map(|m| match m {
            Message::Assistant { reasoning, .. } => reasoning.first().map(|r| r.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(kept, [thought, "The file says kumquat. Answer briefly."]);
    // The next turn does not resend it.
    let (summary, _) = turn_in(&agent, &session, "thanks", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Answer);
    let third = server.requests()[2].body.to_string();
    assert!(!third.contains("reasoning_content"), "{third}");
    // Cached input recorded apart, per model.
    let rows = agent.store().usage_by_day(0).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].model, "test-model");
    assert_eq!(rows[0].usage.cache_read_tokens, 1152 + 1280);
    assert_eq!(rows[0].usage.input_tokens, 1208 + 1300 + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_thinking_goes_back_signed_with_the_tool_result() {
    let home = Home::new();
    note(&home);
    let server = ModelServer::start(vec![
        Reply::fixture("anthropic_thinking_tool_use.sse"),
        Reply::fixture("anthropic_redacted_thinking_answer.sse"),
    ]);
    let mut s = provider_settings(ProviderKind::Anthropic, &server);
    s.options.thinking_budget = Some(1024);
    let agent = home.agent_on(vec![s], "");
    let (summary, events, _) = turn(&agent, "what is the word?", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Answer, "{events:?}");
    assert_eq!(summary.text, "The word is kumquat.");
    assert!(reasoning_events(&events).starts_with("The user asks for the word"));
    let second = &server.requests()[1].body;
    let turns = second["messages"].as_array().unwrap();
    let assistant = turns.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(assistant["content"][0]["type"], "thinking", "{second}");
    assert!(
        assistant["content"][0]["signature"]
            .as_str()
            .unwrap()
            .starts_with("EuYBCkQYAiJA")
    );
    assert_eq!(assistant["content"][1]["type"], "tool_use");
    assert_eq!(second["thinking"]["budget_tokens"], 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_length_error_compacts_the_history_and_retries_once() {
    let home = Home::new();
    home.install_files();
    std::fs::write(home.workspace.join("big.txt"), "b".repeat(60_000)).unwrap();
    let too_long = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 250000 tokens > 200000 maximum"}}"#;
    for (script, want) in [
        // Once: the old exchanges are summarised (a call of its own) and
        // the tighter history is accepted.
        (
            vec![
                Reply::Status(400, too_long.into()),
                Reply::text("SUMMARY: big.txt was read"),
                Reply::text("ok"),
            ],
            Stop::Answer,
        ),
        // Twice: said as what it is, no third try.
        (
            vec![
                Reply::Status(400, too_long.into()),
                Reply::text("SUMMARY: big.txt was read"),
                Reply::Status(400, too_long.into()),
            ],
            Stop::Error,
        ),
    ] {
        let mut first = vec![
            Reply::tool("files__read", r#"{"path":"big.txt"}"#),
            Reply::text("read it"),
        ];
        first.extend(script);
        let server = ModelServer::start(first);
        let agent = home.agent(
            ProviderKind::Anthropic,
            &server,
            "tool_output_max_bytes = 100000",
        );
        let (summary, _, session) = turn(&agent, "read big.txt", &Scripted(None)).await;
        assert_eq!(summary.stop, Stop::Answer);
        let (summary, events) = turn_in(&agent, &session, "and now?", &Scripted(None)).await;
        assert_eq!(summary.stop, want, "{events:?}");
        let reqs = server.requests();
        assert_eq!(reqs.len(), 5, "a summary and one retry, never more");
        let (before, asked, after) = (
            reqs[2].body.to_string(),
            reqs[3].body.to_string(),
            reqs[4].body.to_string(),
        );
        assert!(before.contains(&"b".repeat(60_000)));
        // The summary call sees the old exchanges, within the tighter budget.
        assert!(
            asked.contains("write a summary") && asked.contains("[output elided"),
            "{asked}"
        );
        assert!(
            after.len() < before.len() / 2,
            "{} vs {}",
            after.len(),
            before.len()
        );
        assert!(
            after.contains("SUMMARY: big.txt was read") && !after.contains("bbbbbbbbbb"),
            "{after}"
        );
        assert!(
            events.iter().any(
                |e| matches!(e, TurnEvent::Notice { message } if message.contains("context window"))
            ),
            "{events:?}"
        );
        if want == Stop::Error {
            let error = summary.error.unwrap();
            assert!(
                error.contains("too long for the model's context window"),
                "{error}"
            );
            assert!(error.contains("[agent] context_tokens"), "{error}");
        }
    }
}

/// An agent on Anthropic at `a`, falling over to OpenAI-compatible `b`.
fn a_then_b(home: &Home, a: &ModelServer, b: &ModelServer) -> chitin::agent::Agent {
    home.agent_on(
        vec![
            provider_settings(ProviderKind::Anthropic, a),
            provider_settings(ProviderKind::Openai, b),
        ],
        "",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_provider_fails_over_to_the_next_and_a_refused_key_does_not() {
    let home = Home::new();
    let overloaded =
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let a = ModelServer::repeat(Reply::Status(529, overloaded.into()));
    let b = ModelServer::start(vec![Reply::text("from B")]);
    let agent = a_then_b(&home, &a, &b);
    let (summary, events, session) = turn(&agent, "hi", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Answer, "{events:?}");
    assert_eq!(summary.text, "from B");
    assert_eq!(a.request_count(), 3, "A's retries were spent first");
    let failover = events.iter().find_map(|e| match e {
        TurnEvent::Failover { from, to, reason } => Some((from, to, reason)),
        _ => None,
    });
    let (from, to, reason) = failover.expect("the user is told");
    assert!(
        from.contains(&a.base_url()) && to.contains(&b.base_url()),
        "{from} → {to}"
    );
    assert!(
        reason.contains("overloaded") && reason.contains("3 attempts"),
        "{reason}"
    );
    let recorded = agent
        .store()
        .events(&session)
        .unwrap()
        .into_iter()
        .any(|e| e.kind == "turn" && e.data["event"] == "failover");
    assert!(recorded, "the failover is in the record");

    // A refused key stops the turn: no silent failover to B.
    let a = ModelServer::repeat(Reply::Status(
        401,
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#
            .into(),
    ));
    let b = ModelServer::start(vec![Reply::text("from B")]);
    let agent = a_then_b(&home, &a, &b);
    let (summary, events, _) = turn(&agent, "hi", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Error, "{events:?}");
    let error = summary.error.unwrap();
    assert!(
        error.contains("rejected the API key") && error.contains("invalid x-api-key"),
        "{error}"
    );
    assert!(error.contains(&a.base_url()), "names the provider: {error}");
    assert_eq!(b.request_count(), 0);
    assert_eq!(a.request_count(), 1, "a refused key is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_answer_runs_nothing_and_says_so() {
    let home = Home::new();
    let server = ModelServer::start(vec![Reply::fixture("openai_content_filter.sse")]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (summary, events, _) = turn(&agent, "q", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Filtered, "{events:?}");
    assert_eq!(summary.text, "Here is");
}

/// On the command line: reasoning behind `--show-reasoning`, cached input
/// in `chitin usage`, a `[[provider.fallback]]` from config.toml.
#[test]
fn the_cli_shows_reasoning_on_request_usage_with_the_cache_and_fails_over_by_config() {
    let home = Home::new();
    let server = ModelServer::start(vec![
        Reply::fixture("openrouter_reasoning.sse"),
        Reply::fixture("openrouter_reasoning.sse"),
    ]);
    home.configure("openai", &server, "");
    let (code, out, err) = home.chitin(&["ask", "--local", "hi"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "Hello!");
    assert!(!err.contains("a short answer"), "hidden by default: {err}");
    let (code, out, err) = home.chitin(&["ask", "--local", "--show-reasoning", "hi"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "Hello!", "reasoning never on stdout");
    assert!(
        err.contains("thinking: Short question; a short answer."),
        "{err}"
    );

    let (code, out, err) = home.chitin(&["usage", "--json"]);
    assert_eq!(code, 0, "{err}");
    let row: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(row["model"], "test-model");
    assert_eq!(row["usage"]["cache_read_tokens"], 2 * 1536);
    assert_eq!(row["usage"]["input_tokens"], 2 * 2048);
    let config = home.home.join("config/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[prices.test-model]\ninput = 1.0\ncached_input = 0.1\noutput = 2.0\n"),
    )
    .unwrap();
    let (code, out, err) = home.chitin(&["usage"]);
    assert_eq!(code, 0, "{err}");
    // 2 × (512 × 1.0 + 1536 × 0.1 + 12 × 2.0) / 1e6 = $0.0013792
    assert!(out.contains("75%") && out.contains("$0.0014"), "{out}");

    // A fallback from config.toml: the main server is down, B answers.
    let down = ModelServer::repeat(Reply::Status(503, "busy".into()));
    let b = ModelServer::start(vec![Reply::text("from B")]);
    std::fs::write(
        &config,
        format!(
            "[provider]\nkind = \"openai\"\nbase_url = \"{}\"\nmodel = \"m1\"\ntimeout_secs = 5\nretry_base_ms = 10\nmax_retries = 1\n\n[[provider.fallback]]\nbase_url = \"{}\"\nmodel = \"m2\"\n",
            down.base_url(),
            b.base_url()
        ),
    )
    .unwrap();
    let (code, out, err) = home.chitin(&["ask", "--local", "hi"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "from B");
    assert!(
        err.contains("failed:") && err.contains("continuing with"),
        "{err}"
    );
    assert_eq!(b.requests()[0].body["model"], "m2");
    assert_eq!(
        b.requests()[0].header("authorization"),
        None,
        "no key to another server"
    );
}
