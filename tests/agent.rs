//! The agent loop end to end, in process: a scripted model server (OpenAI
//! and Anthropic wire formats) asks for tools, the installed `files` skill
//! really runs in the sandbox, results go back, everything is persisted.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

#[path = "agent/providers.rs"]
mod providers;

use chitin::agent::events::{Stop, TurnEvent};
use chitin::messages::Message;
use chitin::provider::ProviderKind;
use support::TestServer;
use support::agent::{Home, Scripted, turn, turn_in};
use support::model::{ModelServer, Reply};

const KINDS: [ProviderKind; 2] = [ProviderKind::Openai, ProviderKind::Anthropic];

/// The tool results the model was sent in its last request, as text.
fn last_request_text(server: &ModelServer) -> String {
    server.requests().last().unwrap().body.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_runs_in_the_sandbox_and_the_answer_is_persisted() {
    let home = Home::new();
    home.install_files();
    std::fs::write(
        home.workspace.join("note.txt"),
        "the secret word is kumquat",
    )
    .unwrap();
    for kind in KINDS {
        let server = ModelServer::start(vec![
            Reply::tool("files__read", r#"{"path":"note.txt"}"#),
            Reply::text("The word is kumquat."),
        ]);
        let agent = home.agent(kind, &server, "");
        let (summary, events, session) = turn(&agent, "what is the word?", &Scripted(None)).await;
        assert_eq!(summary.stop, Stop::Answer, "{kind:?}: {events:?}");
        assert_eq!(summary.text, "The word is kumquat.");
        // The skill's output reached the model in the second request.
        assert_eq!(server.request_count(), 2);
        assert!(last_request_text(&server).contains("kumquat"), "{kind:?}");
        // Streamed text and the tool call with its capability use.
        let finished = events.iter().find_map(|e| match e {
            TurnEvent::ToolCallFinished {
                ok,
                capabilities,
                output,
                ..
            } => Some((*ok, capabilities.clone(), output.clone())),
            _ => None,
        });
        let (ok, caps, output) = finished.expect("tool call finished");
        assert!(ok && output.contains("kumquat"), "{output}");
        assert!(
            caps.iter()
                .any(|c| c.capability == chitin::Capability::Fs
                    && c.decision == chitin::Decision::Allow),
            "{caps:?}"
        );
        let streamed: String = events
            .iter()
            .filter_map(|e| match e {
                TurnEvent::TextDelta { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(streamed, "The word is kumquat.");
        // Persisted: user, assistant(tool call), tool result, assistant answer.
        let history = agent.store().messages(&session).unwrap();
        assert_eq!(history.len(), 4, "{history:?}");
        assert!(
            matches!(&history[2], Message::Tool { output, is_error: false, .. } if output.contains("kumquat"))
        );
        let kinds: Vec<String> = agent
            .store()
            .events(&session)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        for k in ["message", "tool_call", "usage", "audit", "turn"] {
            assert!(
                kinds.iter().any(|x| x == k),
                "{kind:?}: no {k} event in {kinds:?}"
            );
        }
    }
    // Exportable as JSONL, one event per line, through the CLI.
    let (code, list, _) = home.chitin(&["sessions", "list"]);
    assert_eq!(code, 0);
    let id = list
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    let (code, jsonl, err) = home.chitin(&["sessions", "export", &id]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 8);
    assert!(
        lines.iter().any(|l| l["kind"] == "tool_call"
            && l["data"]["output"].as_str().unwrap().contains("kumquat"))
    );
    let (code, audit, _) = home.chitin(&["audit"]);
    assert_eq!(code, 0);
    assert!(
        audit.contains("files.read") && audit.contains("fs ALLOW"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn approvals_approve_deny_and_time_out() {
    let home = Home::new();
    home.install_files();
    // `write` declares writes-files, so it asks.
    let write = r#"{"path":"out.txt","content":"hello"}"#;
    for (approver, want_written, by) in [
        (Scripted(Some(true)), true, "user"),
        (Scripted(Some(false)), false, "user"),
        (Scripted(None), false, "timeout"),
    ] {
        let _ = std::fs::remove_file(home.workspace.join("out.txt"));
        let server = ModelServer::start(vec![
            Reply::tool("files__write", write),
            Reply::text("done"),
        ]);
        let agent = home.agent(ProviderKind::Openai, &server, "approval_timeout_secs = 1");
        let (summary, events, _) = turn(&agent, "write it", &approver).await;
        assert_eq!(summary.stop, Stop::Answer);
        assert!(events.iter().any(
            |e| matches!(e, TurnEvent::ApprovalRequested { tool, .. } if tool == "files__write")
        ));
        let resolved = events.iter().find_map(|e| match e {
            TurnEvent::ApprovalResolved { approved, by, .. } => Some((*approved, by.clone())),
            _ => None,
        });
        assert_eq!(resolved, Some((want_written, by.to_string())));
        assert_eq!(
            home.workspace.join("out.txt").exists(),
            want_written,
            "{by}"
        );
        if !want_written {
            assert!(
                !events
                    .iter()
                    .any(|e| matches!(e, TurnEvent::ToolCallStarted { .. })),
                "a denied tool never starts"
            );
            assert!(
                last_request_text(&server).contains("not run"),
                "the model is told"
            );
        }
    }
    // A read-only tool runs without asking; a user policy can deny it.
    let server = ModelServer::start(vec![Reply::tool("files__list", "{}"), Reply::text("ok")]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (_, events, _) = turn(&agent, "list", &Scripted(Some(false))).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TurnEvent::ApprovalRequested { .. }))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TurnEvent::ToolCallFinished { ok: true, .. }))
    );
    agent
        .set_policy("files__list", Some(chitin::policy::Policy::Deny))
        .unwrap();
    let server2 = ModelServer::start(vec![Reply::tool("files__list", "{}"), Reply::text("ok")]);
    let agent = home.agent(ProviderKind::Openai, &server2, "");
    let (_, events, _) = turn(&agent, "list", &Scripted(Some(true))).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TurnEvent::ToolCallStarted { .. }))
    );
    assert!(last_request_text(&server2).contains("does not allow"));
}

#[tokio::test(flavor = "multi_thread")]
async fn budgets_and_the_step_limit_stop_a_turn() {
    let home = Home::new();
    home.install_files();
    let looping = || ModelServer::repeat(Reply::tool("files__list", "{}")).with_usage(10, 5);
    // Step limit: the model never stops calling tools.
    let server = looping();
    let agent = home.agent(ProviderKind::Openai, &server, "max_steps = 3");
    let (summary, _, _) = turn(&agent, "loop", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::StepLimit);
    assert_eq!(server.request_count(), 3);
    // Per-turn budget: checked before the call is sent, from the request's
    // estimated input (system prompt, tools, history: well over 40 tokens).
    let server = looping();
    let agent = home.agent(ProviderKind::Openai, &server, "max_tokens_per_turn = 40");
    let (summary, events, _) = turn(&agent, "loop", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Budget);
    assert_eq!(server.request_count(), 0, "the call was sent");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TurnEvent::Error { message }
        if message.contains("max_tokens_per_turn") && message.contains("not sent")))
    );
    // A per-turn budget with room: calls go on until the next would cross it.
    // 400 tokens a call, 5000 allowed: never crossed.
    let server = ModelServer::repeat(Reply::tool("files__list", "{}")).with_usage(300, 100);
    let agent = home.agent(
        ProviderKind::Openai,
        &server,
        "max_steps = 50\nmax_tokens_per_turn = 5000",
    );
    let (summary, _, _) = turn(&agent, "loop", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Budget);
    let sent = server.request_count();
    assert!((3..=12).contains(&sent), "{sent} calls");
    assert!(summary.usage.total() <= 5000, "{:?}", summary.usage);
    // Per-day budget counts every session in the database (the turns
    // above): the next call would cross 100.
    let server = looping();
    let agent = home.agent(ProviderKind::Openai, &server, "max_tokens_per_day = 100");
    let (summary, _, _) = turn(&agent, "loop", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Budget);
    assert_eq!(
        server.request_count(),
        0,
        "a call over the day's cap was sent"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tools_and_bad_arguments_go_back_to_the_model() {
    let home = Home::new();
    home.install_files();
    let server = ModelServer::start(vec![
        Reply::ToolCalls(vec![
            ("nope__run".into(), "{}".into()),
            ("files__read".into(), "{not json".into()),
            ("files__read".into(), "[1,2]".into()),
        ]),
        Reply::text("sorry"),
    ]);
    let agent = home.agent(ProviderKind::Anthropic, &server, "");
    let (summary, events, session) = turn(&agent, "go", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Answer);
    let errors: Vec<String> = agent
        .store()
        .messages(&session)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            Message::Tool {
                output,
                is_error: true,
                ..
            } => Some(output),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("unknown tool `nope__run`") && errors[0].contains("files__read"));
    assert!(errors[1].contains("not valid JSON"));
    assert!(errors[2].contains("expected a JSON object"));
    let sent = last_request_text(&server);
    assert!(
        sent.contains("unknown tool") && sent.contains("not valid JSON"),
        "{sent}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, TurnEvent::ToolCallFinished { ok: true, .. }))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_errors_end_the_turn_with_what_to_do() {
    let home = Home::new();
    home.install_files();
    // 429 then success: retried, the turn answers.
    let server = ModelServer::start(vec![Reply::StatusRetryAfter(429, 0), Reply::text("fine")]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (summary, _, _) = turn(&agent, "hi", &Scripted(None)).await;
    assert_eq!(
        (summary.stop, summary.text.as_str()),
        (Stop::Answer, "fine")
    );
    assert_eq!(server.request_count(), 2);
    // 401: no retry, the error names the fix.
    let server = ModelServer::start(vec![Reply::Status(
        401,
        r#"{"error":{"message":"bad key"}}"#.into(),
    )]);
    let agent = home.agent(ProviderKind::Anthropic, &server, "");
    let (summary, events, session) = turn(&agent, "hi", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Error);
    let msg = summary.error.unwrap();
    assert!(msg.contains("API key") && msg.contains("bad key"), "{msg}");
    assert_eq!(server.request_count(), 1);
    assert!(matches!(
        events.last(),
        Some(TurnEvent::Done {
            stop: Stop::Error,
            ..
        })
    ));
    // The user's message is kept; the next turn in the session works.
    let server2 = ModelServer::start(vec![Reply::text("back")]);
    let agent = home.agent(ProviderKind::Anthropic, &server2, "");
    let (summary, _) = turn_in(&agent, &session, "again", &Scripted(None)).await;
    assert_eq!(summary.text, "back");
    assert_eq!(agent.store().messages(&session).unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn large_outputs_are_truncated_for_the_model_but_kept_on_record() {
    let home = Home::new();
    home.install_files();
    std::fs::write(home.workspace.join("big.txt"), "z".repeat(5000)).unwrap();
    let server = ModelServer::start(vec![
        Reply::tool("files__read", r#"{"path":"big.txt"}"#),
        Reply::text("ok"),
    ]);
    let agent = home.agent(
        ProviderKind::Openai,
        &server,
        "tool_output_max_bytes = 1000",
    );
    let (_, _, session) = turn(&agent, "read", &Scripted(None)).await;
    let sent = last_request_text(&server);
    assert!(
        sent.contains("[truncated: the first 1000 of"),
        "{}",
        &sent[..sent.len().min(400)]
    );
    assert!(!sent.contains(&"z".repeat(1001)));
    // The full output is still on record.
    let full = agent
        .store()
        .events(&session)
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "tool_call")
        .unwrap();
    assert!(full.data["output"].as_str().unwrap().len() >= 5000);
}

#[tokio::test(flavor = "multi_thread")]
async fn independent_tool_calls_run_concurrently() {
    let home = Home::new();
    home.install_files();
    let web = support::TestServer::start();
    home.install_fetch(&web.base());
    let slow = format!(r#"{{"url":"{}/slow?ms=600"}}"#, web.base());
    let server = ModelServer::start(vec![
        Reply::ToolCalls(vec![
            ("fetch__fetch".into(), slow.clone()),
            ("fetch__fetch".into(), slow),
        ]),
        Reply::text("both fetched"),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let started = std::time::Instant::now();
    let (summary, events, _) = turn(&agent, "fetch twice", &Scripted(Some(true))).await;
    let took = started.elapsed();
    assert_eq!(summary.stop, Stop::Answer, "{events:?}");
    let ok: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::ToolCallFinished {
                ok: true,
                elapsed_ms,
                ..
            } => Some(*elapsed_ms),
            _ => None,
        })
        .collect();
    assert_eq!(ok.len(), 2, "{events:?}");
    // A skill granted the network asks, whatever its tools declare.
    let asked = events
        .iter()
        .filter(|e| matches!(e, TurnEvent::ApprovalRequested { .. }))
        .count();
    assert_eq!(asked, 2);
    assert!(ok.iter().all(|ms| *ms >= 600), "{ok:?}");
    // Two 600 ms calls in well under 1200 ms: they overlapped.
    assert!(
        took < std::time::Duration::from_millis(1100),
        "took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skill_granted_chitins_own_files_is_not_loaded() {
    // Granting the directory that holds Chitin's home (token, secrets,
    // records, compiled code) would let the agent rewrite its own grants:
    // install refuses it, and a record that has such a grant anyway (made
    // before the check, or Chitin's home moved under it) is not loaded.
    let home = Home::new();
    home.install_files();
    let (code, _, err) = home.reinstall_files(home.tmp.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("overlaps Chitin's own files"), "{err}");
    let record = home.home.join("data/skills/files/record.json");
    let text = std::fs::read_to_string(&record).unwrap();
    let ws = home.workspace.canonicalize().unwrap();
    let tmp = home.tmp.path().canonicalize().unwrap();
    std::fs::write(
        &record,
        text.replace(ws.to_str().unwrap(), tmp.to_str().unwrap()),
    )
    .unwrap();
    let server = ModelServer::start(vec![Reply::text("no tools")]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    assert_eq!(agent.toolbox().skill_count(), 0);
    drop(server);
    let problems = home.problems.lock().unwrap().clone();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("overlaps Chitin's own files")),
        "{problems:?}"
    );
    // Doctor says the same, and `skill run` refuses to run it.
    let (code, out, _) = home.chitin(&["doctor"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("FAIL  skills: skill files not loaded"),
        "{out}"
    );
    let (code, _, err) = home.chitin(&["skill", "run", "files", "list"]);
    assert_ne!(code, 0);
    assert!(err.contains("overlaps Chitin's own files"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_sixteen_tool_calls_run_per_step() {
    let home = Home::new();
    home.install_files();
    let calls = (0..18)
        .map(|_| ("files__list".to_string(), "{}".to_string()))
        .collect();
    let server = ModelServer::start(vec![Reply::ToolCalls(calls), Reply::text("ok")]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (summary, events, _) = turn(&agent, "list a lot", &Scripted(None)).await;
    assert_eq!(summary.stop, Stop::Answer);
    let ran = events
        .iter()
        .filter(|e| matches!(e, TurnEvent::ToolCallStarted { .. }))
        .count();
    assert_eq!(ran, 16);
    let sent = last_request_text(&server);
    assert_eq!(
        sent.matches("at most 16 tool calls are run per step")
            .count(),
        2,
        "{sent}"
    );
}

/// What the model was given for the call `call_id`'s result, as JSON.
fn tool_result_for_model(agent: &chitin::agent::Agent, session: &str) -> Vec<serde_json::Value> {
    agent
        .store()
        .messages(session)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            Message::Tool {
                output,
                is_error: true,
                ..
            } => Some(serde_json::from_str(&output).unwrap()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_hears_the_skill_as_the_skill_and_the_host_as_the_host() {
    let home = Home::new();
    home.install_files();
    let web = TestServer::start();
    home.install_fetch(&web.base());
    // Both capabilities withdrawn by the user.
    for (skill, id) in [
        ("files", "fs:/workspace".to_string()),
        ("fetch", format!("net:{}", web.base())),
    ] {
        let (code, _, err) = home.chitin(&["skill", "revoke", skill, &id]);
        assert_eq!(code, 0, "{err}");
    }
    let url = format!("{}/text", web.base());
    let server = ModelServer::start(vec![
        Reply::ToolCalls(vec![
            ("files__list".into(), "{}".into()),
            (
                "fetch__fetch".into(),
                serde_json::json!({ "url": url }).to_string(),
            ),
        ]),
        Reply::text("done"),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (summary, _, session) = turn(&agent, "go", &Scripted(Some(true))).await;
    assert_eq!(summary.stop, Stop::Answer);
    let results = tool_result_for_model(&agent, &session);
    assert_eq!(results.len(), 2, "{results:?}");

    // The files skill reports `denied` itself: its words, marked as its own;
    // the host adds only what the user could grant.
    let files = &results[0];
    assert_eq!(files["error"]["from"], "skill", "{files}");
    assert_eq!(files["error"]["kind"], "denied", "{files}");
    assert!(
        files["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/workspace"),
        "{files}"
    );
    assert!(
        files["host"]["remedy"]
            .as_str()
            .unwrap()
            .contains("chitin skill grant files fs:/workspace"),
        "{files}"
    );
    assert!(
        !files["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sandbox"),
        "{files}"
    );

    // The fetch was refused by the host: its own reason and the remedy.
    let fetch = &results[1];
    let host = &fetch["host"];
    assert_eq!(host["kind"], "denied", "{fetch}");
    assert!(
        host["reason"]
            .as_str()
            .unwrap()
            .contains("not in the skill's network grant"),
        "{fetch}"
    );
    assert!(
        host["remedy"]
            .as_str()
            .unwrap()
            .contains(&format!("chitin skill grant fetch net:{}", web.base())),
        "{fetch}"
    );
    assert!(web.requests().is_empty(), "the host let the request out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_secret_is_used_by_the_next_call() {
    // The secret store is read once per prepared skill, and again whenever
    // the store file changes (`chitin secret set` while the agent runs).
    use chitin::capabilities::secrets::SecretStore;
    let home = Home::new();
    home.install_files();
    let web = TestServer::start();
    let store_path = home.home.join("config/secrets.json");
    SecretStore::open(&store_path)
        .unwrap()
        .set("API_TOKEN", "first-token-value")
        .unwrap();
    home.install_fetch_with(
        &web.base(),
        &format!(
            "\n[[capabilities.secrets]]\nname = \"API_TOKEN\"\nhost = \"{}\"\nprefix = \"Bearer \"\n",
            web.base()
        ),
    );
    let fetch = serde_json::json!({"url": format!("{}/echo-auth", web.base())}).to_string();
    let server = ModelServer::start(vec![
        Reply::ToolCalls(vec![("fetch__fetch".into(), fetch.clone())]),
        Reply::text("one"),
        Reply::ToolCalls(vec![("fetch__fetch".into(), fetch)]),
        Reply::text("two"),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let (summary, events, _) = turn(&agent, "fetch", &Scripted(Some(true))).await;
    assert_eq!(summary.stop, Stop::Answer, "{events:?}");
    SecretStore::open(&store_path)
        .unwrap()
        .set("API_TOKEN", "second-token-value")
        .unwrap();
    let (summary, events, _) = turn(&agent, "fetch again", &Scripted(Some(true))).await;
    assert_eq!(summary.stop, Stop::Answer, "{events:?}");
    let sent: Vec<String> = web
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/echo-auth"))
        .map(|r| r.headers.get("authorization").cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        sent,
        ["Bearer first-token-value", "Bearer second-token-value"]
    );
    // Neither value reached the model.
    let to_model: String = server
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    assert!(!to_model.contains("token-value"), "{to_model}");
}

/// Registers each question when asked (as the daemon's approver does) and
/// approves it; remembers which questions it knows.
struct Registering(std::sync::Mutex<std::collections::HashSet<String>>);

impl chitin::agent::approvals::Approver for Registering {
    fn ask(
        &self,
        request: chitin::agent::approvals::ApprovalRequest,
    ) -> chitin::provider::BoxFuture<'_, Option<bool>> {
        self.0.lock().unwrap().insert(request.approval_id);
        Box::pin(async { Some(true) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_can_be_answered_the_moment_its_event_arrives() {
    // The event used to go out before the question was registered, so a
    // client answering at once got "no pending approval" now and then.
    let home = Home::new();
    home.install_files();
    let web = TestServer::start();
    home.install_fetch(&web.base());
    let fetch = serde_json::json!({"url": format!("{}/text", web.base())}).to_string();
    let server = ModelServer::start(vec![
        Reply::ToolCalls(vec![
            ("fetch__fetch".into(), fetch.clone()),
            ("fetch__fetch".into(), fetch),
        ]),
        Reply::text("done"),
    ]);
    let agent = home.agent(ProviderKind::Openai, &server, "");
    let session = agent.store().create_session("").unwrap().id;
    let approver = Registering(Default::default());
    let answerable = std::sync::Mutex::new(Vec::new());
    let sink = |e: TurnEvent| {
        if let TurnEvent::ApprovalRequested { approval_id, .. } = e {
            let known = approver.0.lock().unwrap().contains(&approval_id);
            answerable.lock().unwrap().push(known);
        }
    };
    let io = chitin::agent::turn::TurnIo {
        events: &sink,
        approver: &approver,
        cancel: tokio_util::sync::CancellationToken::new(),
    };
    let summary = agent.run_turn(&session, "fetch twice", &io).await;
    assert_eq!(summary.stop, Stop::Answer);
    assert_eq!(*answerable.lock().unwrap(), [true, true]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_cut_mid_stream_is_kept_marked_incomplete() {
    for kind in KINDS {
        let home = Home::new();
        let server = ModelServer::start(vec![Reply::Cut("The first half of the ans".into())]);
        let agent = home.agent(kind, &server, "");
        let (summary, events, session) = turn(&agent, "hi", &Scripted(None)).await;
        assert_eq!(summary.stop, Stop::Error, "{kind:?}: {events:?}");
        let history = agent.store().messages(&session).unwrap();
        match history.last() {
            Some(Message::Assistant {
                text, tool_calls, ..
            }) => {
                assert!(tool_calls.is_empty());
                assert!(text.starts_with("The first half of the ans"), "{text}");
                assert!(text.contains("[incomplete"), "{text}");
                // Said as what it is: the provider was reached, its answer cut.
                assert!(text.contains("was cut off"), "{text}");
                assert!(!text.contains("cannot reach"), "{text}");
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

/// How an answer ended reaches the user: cut at the output limit, a tool
/// call cut mid-arguments (never run, the model told), a refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_cut_at_the_limit_and_refusals_are_said_as_such() {
    let home = Home::new();
    home.install_files();
    for kind in KINDS {
        // Text cut at the limit: kept byte for byte, the turn says Cut.
        let server = ModelServer::start(vec![Reply::cut_at_limit("The first half of")]);
        let agent = home.agent(kind, &server, "");
        let (summary, events, session) = turn(&agent, "explain", &Scripted(None)).await;
        assert_eq!(summary.stop, Stop::Cut, "{kind:?}: {events:?}");
        assert_eq!(summary.text, "The first half of");
        assert!(matches!(
            agent.store().messages(&session).unwrap().last(),
            Some(Message::Assistant { text, .. }) if text == "The first half of"
        ));

        // A call cut mid-arguments is not run, even with every approval
        // given; the model hears why and answers.
        let partial = r#"{"path":"cut.txt","content":"the sta"#;
        let server = ModelServer::start(vec![
            Reply::tool_cut_at_limit("files__write", partial),
            Reply::text("I will write less at a time."),
        ]);
        let agent = home.agent(kind, &server, "max_output_tokens = 64");
        let (summary, events, session) = turn(&agent, "write it", &Scripted(Some(true))).await;
        assert_eq!(summary.stop, Stop::Answer, "{kind:?}: {events:?}");
        assert!(
            !home.workspace.join("cut.txt").exists(),
            "{kind:?}: the cut call ran"
        );
        let history = agent.store().messages(&session).unwrap();
        assert!(
            history.iter().any(|m| matches!(m,
                Message::Assistant { tool_calls, .. }
                    if tool_calls.len() == 1 && tool_calls[0].arguments == partial)),
            "{kind:?}: the call is kept as the model sent it: {history:?}"
        );
        assert!(
            history.iter().any(|m| matches!(m,
                Message::Tool { is_error: true, output, .. }
                    if output.contains("cut at the output limit (64 tokens)"))),
            "{kind:?}: {history:?}"
        );
        assert!(last_request_text(&server).contains("cut at the output limit"));

        // A refusal is the turn's outcome, with the model's words.
        let server = ModelServer::start(vec![Reply::refusal("I can't help with that.")]);
        let agent = home.agent(kind, &server, "");
        let (summary, events, session) = turn(&agent, "do the bad thing", &Scripted(None)).await;
        assert_eq!(summary.stop, Stop::Refused, "{kind:?}: {events:?}");
        assert_eq!(summary.text, "I can't help with that.");
        assert!(matches!(
            agent.store().messages(&session).unwrap().last(),
            Some(Message::Assistant { text, .. }) if text == "I can't help with that."
        ));
    }
}

/// `chitin ask` does not pass a cut answer or a refusal off as an answer:
/// a note on stderr and exit 1 (`--accept-cut` takes a cut answer).
#[test]
fn ask_exits_1_on_a_cut_answer_or_a_refusal() {
    let home = Home::new();
    let server = ModelServer::start(vec![
        Reply::cut_at_limit("half"),
        Reply::cut_at_limit("half again"),
        Reply::refusal("No."),
    ]);
    home.configure("openai", &server, "");
    let (code, out, err) = home.chitin(&["ask", "explain"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("half"), "{out}");
    assert!(
        err.contains("(cut: the answer reached the model's output limit"),
        "{err}"
    );
    let (code, _, err) = home.chitin(&["ask", "--accept-cut", "explain"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = home.chitin(&["ask", "do it"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out.trim(), "No.");
    assert!(err.contains("(the model refused to answer)"), "{err}");
    // Doctor says what it changes for a model family.
    let server = ModelServer::start(Vec::new()).with_models(&["gpt-5-mini"]);
    home.configure("openai", &server, "");
    let (_, out, _) = home.chitin(&["doctor", "--model", "gpt-5-mini"]);
    assert!(
        out.contains("ok    provider quirks: `gpt-5-mini`: the output limit is sent as `max_completion_tokens`; no temperature is sent"),
        "{out}"
    );
}
