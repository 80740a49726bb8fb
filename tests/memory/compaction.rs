//! Compaction of a long session (scripted model): the model is first given
//! the chance to save what it must remember (also when the provider says
//! the history is over its window), then a summary replaces the old
//! exchanges; a fact planted in the first message survives, the early
//! messages are no longer sent. A failed summary falls back to elision.

use super::{agent_with_memory, request_text};
use crate::support::agent::{Home, Scripted, turn_in};
use crate::support::model::{ModelServer, Reply};
use chitin::agent::events::{Stop, TurnEvent};

const PLANTED: &str = "My locker code is 4471, keep it in mind.";

/// About 900 estimated tokens of filler, numbered so each is unique.
fn filler(n: usize) -> String {
    format!("filler {n}: {}", "word ".repeat(720))
}

const AGENT: &str = "context_tokens = 3000\n";

/// The requests that carry the host's compaction prompt `marker`.
fn with_marker(server: &ModelServer, marker: &str) -> Vec<serde_json::Value> {
    server
        .requests()
        .into_iter()
        .map(|r| r.body)
        .filter(|b| b["messages"].to_string().contains(marker))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_session_is_summarised_and_keeps_an_early_fact() {
    let home = Home::new();
    let summary = "The user's locker code is 4471. Fillers 1-3 were sent and acknowledged.";
    let server = ModelServer::start(vec![
        Reply::text("Noted."),
        Reply::text("ok 1"),
        Reply::text("ok 2"),
        // Turn 4 nears the window: the memory flush first...
        Reply::tool("memory_save", r#"{"text":"Locker code: 4471"}"#),
        Reply::text("DONE"),
        // ...then the summary, then the answer.
        Reply::text(summary),
        Reply::text("ok 3"),
        // Turn 5 starts from the summary.
        Reply::text("Your locker code is 4471."),
    ]);
    let agent = agent_with_memory(&home, &server, AGENT);
    let session = agent.store().create_session("").unwrap().id;
    let mut notices = Vec::new();
    for text in [PLANTED.to_string(), filler(1), filler(2), filler(3)] {
        let (s, events) = turn_in(&agent, &session, &text, &Scripted(None)).await;
        assert_eq!(s.stop, Stop::Answer, "{:?}", s.error);
        notices.extend(events.into_iter().filter_map(|e| match e {
            TurnEvent::Notice { message } => Some(message),
            _ => None,
        }));
    }
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("compacted") && notices[0].contains("1 memory entry saved"),
        "{notices:?}"
    );

    // The flush offered memory_save alone and saw the early fact.
    let flush = with_marker(&server, "about to be compacted");
    assert_eq!(flush.len(), 2, "two flush rounds (a save, then DONE)");
    let tools: Vec<&str> = flush[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["memory_save"]);
    assert!(request_text(&flush[0]).contains("4471"));
    let notes = std::fs::read_to_string(home.home.join("data/memory/notes.md")).unwrap();
    assert!(notes.contains("- Locker code: 4471"), "{notes}");
    // The summary call was given the old exchanges, planted fact included.
    let asked = with_marker(&server, "write a summary");
    assert_eq!(asked.len(), 1);
    assert!(request_text(&asked[0]).contains(PLANTED));

    // The next turn sends the summary, not the early messages.
    let (s, _) = turn_in(&agent, &session, "What is my locker code?", &Scripted(None)).await;
    assert_eq!(s.text, "Your locker code is 4471.");
    let last = request_text(&server.requests().last().unwrap().body);
    assert!(last.contains(summary), "{last}");
    assert!(
        !last.contains(PLANTED) && !last.contains("filler 1:"),
        "{last}"
    );
    // Everything is still on record, and the summary is shown with it.
    let stored = agent.store().messages(&session).unwrap();
    assert!(serde_json::to_string(&stored).unwrap().contains(PLANTED));
    let note = agent
        .store()
        .latest_note(&session, "summary")
        .unwrap()
        .unwrap();
    assert_eq!(note["text"], summary);
    assert!(note["tokens_after"].as_u64().unwrap() < note["tokens_before"].as_u64().unwrap());
    let (code, out, err) = home.chitin(&["sessions", "show", &session]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("compacted") && out.contains(summary), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_overflow_path_flushes_memory_too() {
    let home = Home::new();
    let too_long = r#"{"error":{"message":"This model's maximum context length is 2000 tokens. However, your messages resulted in 4000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    let server = ModelServer::start(vec![
        Reply::text("Noted."),
        Reply::text("ok 1"),
        // The provider's window is smaller than the configured one.
        Reply::Status(400, too_long.into()),
        Reply::tool("memory_save", r#"{"text":"Locker code: 4471"}"#),
        Reply::text("DONE"),
        Reply::text("Summary: the locker code is 4471."),
        Reply::text("ok 2"),
    ]);
    let agent = agent_with_memory(&home, &server, "context_tokens = 100000\n");
    let session = agent.store().create_session("").unwrap().id;
    for text in [PLANTED.to_string(), filler(1), filler(2)] {
        let (s, _) = turn_in(&agent, &session, &text, &Scripted(None)).await;
        assert_eq!(s.stop, Stop::Answer, "{:?}", s.error);
    }
    assert_eq!(with_marker(&server, "about to be compacted").len(), 2);
    let notes = std::fs::read_to_string(home.home.join("data/memory/notes.md")).unwrap();
    assert!(notes.contains("Locker code: 4471"), "{notes}");
    let note = agent
        .store()
        .latest_note(&session, "summary")
        .unwrap()
        .unwrap();
    assert!(note["text"].as_str().unwrap().contains("4471"));
    let answer = request_text(&server.requests().last().unwrap().body);
    assert!(
        answer.contains("Summary: the locker code is 4471.") && !answer.contains(PLANTED),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_summary_falls_back_to_elision() {
    let home = Home::new();
    let server = ModelServer::start(vec![
        Reply::text("Noted."),
        Reply::text("ok 1"),
        Reply::text("ok 2"),
        Reply::text("DONE"),
        Reply::Status(500, r#"{"error":{"message":"overloaded"}}"#.into()),
        Reply::Status(500, r#"{"error":{"message":"overloaded"}}"#.into()),
        Reply::Status(500, r#"{"error":{"message":"overloaded"}}"#.into()),
        Reply::text("ok 3"),
    ]);
    let agent = agent_with_memory(&home, &server, AGENT);
    let session = agent.store().create_session("").unwrap().id;
    let mut last = None;
    for text in [PLANTED.to_string(), filler(1), filler(2), filler(3)] {
        let (s, events) = turn_in(&agent, &session, &text, &Scripted(None)).await;
        assert_eq!(s.stop, Stop::Answer, "{:?}", s.error);
        last = Some(events);
    }
    assert_eq!(
        agent.store().latest_note(&session, "summary").unwrap(),
        None
    );
    assert!(
        agent
            .store()
            .latest_note(&session, "compaction_failed")
            .unwrap()
            .is_some()
    );
    let said: Vec<String> = last
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            TurnEvent::Notice { message } => Some(message),
            _ => None,
        })
        .collect();
    assert!(
        said.iter().any(|m| m.contains("could not be written")),
        "{said:?}"
    );
}
