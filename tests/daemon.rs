//! The daemon as a user runs it: a real `chitin daemon` process on
//! 127.0.0.1, its token, its API and SSE turns, the CLI talking to it,
//! restarts and graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::agent::events::{Stop, TurnEvent};
use chitin::store::{EventKind, StoreError};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::agent::{DaemonProc, Home, Waiting, done, waiting_for_approval};
use support::model::{ModelServer, Reply};

#[tokio::test(flavor = "multi_thread")]
async fn without_the_token_nothing_runs() {
    let home = Home::new();
    home.install_files();
    let server = ModelServer::start(vec![Reply::tool(
        "files__write",
        r#"{"path":"x","content":"y"}"#,
    )]);
    home.configure("openai", &server, "");
    let daemon = DaemonProc::start(&home);
    let good = daemon.client(&daemon.token);
    let (status, s) = good
        .call("POST", "/api/sessions", Some(serde_json::json!({})))
        .await;
    assert_eq!(status, 201);
    let id = s["id"].as_str().unwrap().to_string();
    let wrong = "0".repeat(64);
    for token in ["", "nope", wrong.as_str()] {
        let api = daemon.client(token);
        for (method, path, body) in [
            ("GET", "/api/health".to_string(), None),
            ("GET", "/api/sessions".to_string(), None),
            (
                "POST",
                "/api/sessions".to_string(),
                Some(serde_json::json!({})),
            ),
            ("GET", format!("/api/sessions/{id}"), None),
            (
                "POST",
                format!("/api/sessions/{id}/messages"),
                Some(serde_json::json!({"text":"write x"})),
            ),
            ("POST", format!("/api/sessions/{id}/cancel"), None),
            (
                "PUT",
                "/api/tools/files__write/policy".to_string(),
                Some(serde_json::json!({"policy":"allow"})),
            ),
        ] {
            let (status, body) = api.call(method, &path, body).await;
            assert_eq!(status, 401, "{method} {path} with token {token:?}: {body}");
        }
    }
    // Nothing reached the model, nothing was written or created.
    assert_eq!(server.request_count(), 0);
    assert!(!home.workspace.join("x").exists());
    assert_eq!(home.store().sessions().unwrap().len(), 1);
    let (_, tools) = good.call("GET", "/api/tools", None).await;
    assert_eq!(
        tools
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "files__write")
            .unwrap()["policy"],
        "ask"
    );
    // DNS rebinding: the right token with a foreign Host header is refused.
    let mut s = std::net::TcpStream::connect(&daemon.addr).unwrap();
    write!(s, "GET /api/health HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n", daemon.token).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    // The page itself carries no data and a strict CSP.
    let mut s = std::net::TcpStream::connect(&daemon.addr).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        daemon.addr
    )
    .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    assert!(
        page.starts_with("HTTP/1.1 200")
            && page
                .to_lowercase()
                .contains("content-security-policy: default-src 'none'"),
        "{}",
        &page[..300.min(page.len())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_streams_over_sse_with_an_approval_and_survives_a_restart() {
    let home = Home::new();
    home.install_files();
    let server = ModelServer::start(vec![
        Reply::tool(
            "files__write",
            r#"{"path":"hello.txt","content":"hi from the agent"}"#,
        ),
        Reply::text("Wrote hello.txt."),
    ]);
    home.configure("anthropic", &server, "");
    let mut daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);
    let (_, s) = api
        .call("POST", "/api/sessions", Some(serde_json::json!({})))
        .await;
    let id = s["id"].as_str().unwrap().to_string();
    let events = api.turn(&id, "write hello", Some(true)).await;
    assert_eq!(
        done(&events),
        (Stop::Answer, "Wrote hello.txt.".to_string())
    );
    assert_eq!(
        std::fs::read_to_string(home.workspace.join("hello.txt")).unwrap(),
        "hi from the agent"
    );
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            TurnEvent::TurnStarted { .. } => "started",
            TurnEvent::ApprovalRequested { .. } => "ask",
            TurnEvent::ApprovalResolved { approved: true, .. } => "approved",
            TurnEvent::ToolCallStarted { .. } => "tool",
            TurnEvent::ToolCallFinished { ok: true, .. } => "tool ok",
            TurnEvent::Usage { .. } => "usage",
            TurnEvent::TextDelta { .. } => "text",
            TurnEvent::Done { .. } => "done",
            _ => "other",
        })
        .collect();
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(
        pos("started") < pos("ask")
            && pos("ask") < pos("approved")
            && pos("approved") < pos("tool")
            && pos("tool") < pos("tool ok")
            && pos("tool ok") < pos("text"),
        "{kinds:?}"
    );
    assert_eq!(daemon.stop(), 0);
    // A restarted daemon has the session and its history.
    let daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);
    let (status, list) = api.call("GET", "/api/sessions", None).await;
    assert_eq!(status, 200);
    assert!(
        list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str() && s["title"] == "write hello")
    );
    let (_, session) = api.call("GET", &format!("/api/sessions/{id}"), None).await;
    let messages = session["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[3]["text"], "Wrote hello.txt.");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_stream_at_once() {
    let home = Home::new();
    home.install_files();
    let server = ModelServer::repeat(Reply::text("one two three four five six"))
        .with_chunk_delay(Duration::from_millis(150));
    home.configure("openai", &server, "");
    let daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (_, s) = api
            .call("POST", "/api/sessions", Some(serde_json::json!({})))
            .await;
        ids.push(s["id"].as_str().unwrap().to_string());
    }
    let start = Instant::now();
    let a = api.turn(&ids[0], "a", None);
    let api2 = daemon.client(&daemon.token);
    let b = api2.turn(&ids[1], "b", None);
    let t_a = async {
        let e = a.await;
        (e, start.elapsed())
    };
    let t_b = async {
        let e = b.await;
        (e, start.elapsed())
    };
    let ((ea, da), (eb, db)) = tokio::join!(t_a, t_b);
    assert_eq!(done(&ea).0, Stop::Answer);
    assert_eq!(done(&eb).0, Stop::Answer);
    // Each stream alone takes several chunk delays; together they overlap
    // instead of queueing one after the other.
    let one = da.min(db);
    assert!(
        da.max(db) < one * 2,
        "streams were serialized: {da:?} and {db:?}"
    );
}

#[test]
fn the_cli_asks_through_the_daemon_and_doctor_says_what_to_configure() {
    let home = Home::new();
    home.install_files();
    // No provider: the daemon still starts; doctor names what to set.
    let mut daemon = DaemonProc::start(&home);
    let (code, out, _) = home.chitin(&["doctor"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  provider: no model provider is configured: set [provider] kind"),
        "{out}"
    );
    assert!(out.contains("ok    skills: 1 loaded, 4 tools"), "{out}");
    assert!(
        out.contains(&format!("ok    daemon: running at http://{}/", daemon.addr)),
        "{out}"
    );
    let (code, _, err) = home.chitin(&["ask", "hello"]);
    assert_eq!(code, 1);
    assert!(err.contains("no model provider is configured"), "{err}");
    // With a provider, `chitin ask` uses the installed skill end to end.
    std::fs::write(home.workspace.join("todo.txt"), "buy kumquats").unwrap();
    let server = ModelServer::start(vec![
        Reply::tool("files__read", r#"{"path":"todo.txt"}"#),
        Reply::text("You need to buy kumquats."),
    ])
    .with_models(&["test-model"]);
    home.configure("openai", &server, "");
    // The daemon still runs without it: doctor says to restart it.
    let (code, out, _) = home.chitin(&["doctor"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  daemon provider: the running daemon has no provider")
            && out.contains("restart the daemon"),
        "{out}"
    );
    daemon.stop();
    let (code, out, _) = home.chitin(&["doctor"]);
    assert!(out.contains("ok    provider:"), "{out}");
    assert_eq!(code, 0, "{out}");
    let daemon = DaemonProc::start(&home);
    let (code, out, err) = home.chitin(&["ask", "what is on my list?"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "You need to buy kumquats.");
    assert!(err.contains("✓ files__read"), "{err}");
    assert!(
        server
            .requests()
            .last()
            .unwrap()
            .body
            .to_string()
            .contains("buy kumquats")
    );
    let (_, sessions, _) = home.chitin(&["sessions", "list"]);
    assert_eq!(sessions.lines().count(), 2, "{sessions}");
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_can_be_cancelled_through_the_api() {
    let Waiting {
        home,
        daemon,
        id,
        turn,
        ..
    } = waiting_for_approval("no.txt").await;
    let api = daemon.client(&daemon.token);
    let (status, _) = api
        .call("POST", &format!("/api/sessions/{id}/cancel"), None)
        .await;
    assert_eq!(status, 204);
    let events = turn.await.unwrap();
    assert_eq!(done(&events).0, Stop::Cancelled);
    assert!(events.iter().any(|e| matches!(e, TurnEvent::ApprovalResolved { approved: false, by, .. } if by == "cancelled")));
    assert!(!home.workspace.join("no.txt").exists());
    // Nothing is running any more; a new turn in the session is accepted.
    let (status, _) = api
        .call("POST", &format!("/api/sessions/{id}/cancel"), None)
        .await;
    assert_eq!(status, 404);
}

/// The output of the one tool call in a turn.
fn tool_result(events: &[TurnEvent]) -> (bool, String) {
    events
        .iter()
        .find_map(|e| match e {
            TurnEvent::ToolCallFinished { ok, output, .. } => Some((*ok, output.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no tool call finished: {events:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_daemon_follows_every_revoke_remove_and_install() {
    let home = Home::new();
    home.install_files();
    std::fs::write(home.workspace.join("note.txt"), "hello").unwrap();
    let list = || Reply::tool("files__list", "{}");
    let server = ModelServer::start(vec![
        list(),
        Reply::text("listed"),
        list(),
        Reply::text("refused"),
        list(),
        Reply::text("gone"),
    ]);
    home.configure("openai", &server, "");
    let daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);
    let id = api.session().await;

    let (ok, output) = tool_result(&api.turn(&id, "list", Some(true)).await);
    assert!(ok && output.contains("note.txt"), "{output}");

    // Revoked while the daemon runs: the very next call has no directory.
    let (code, _, err) = home.chitin(&["skill", "revoke", "files", "fs:/workspace"]);
    assert_eq!(code, 0, "{err}");
    let (ok, output) = tool_result(&api.turn(&id, "list", Some(true)).await);
    assert!(!ok && !output.contains("note.txt"), "{output}");
    assert!(output.contains("/workspace"), "{output}");

    // Removed: its tools are gone.
    let (code, _, err) = home.chitin(&["skill", "remove", "files"]);
    assert_eq!(code, 0, "{err}");
    let (ok, output) = tool_result(&api.turn(&id, "list", Some(true)).await);
    assert!(!ok && output.contains("unknown tool"), "{output}");
    let (_, tools) = api.call("GET", "/api/tools", None).await;
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // Only the host's own tools are left.
    assert_eq!(
        names,
        ["propose_job", "memory_search", "memory_save"],
        "{tools}"
    );

    // Installed after start: served, and doctor agrees with what is installed.
    let (code, _, err) = home.reinstall_files(&home.workspace);
    assert_eq!(code, 0, "{err}");
    let (_, health) = api.call("GET", "/api/health", None).await;
    assert_eq!(health["skills"], 1, "{health}");
    assert_eq!(
        health["served"][0]["grants"],
        serde_json::json!(["fs:/workspace"])
    );
    let (code, out, _) = home.chitin(&["doctor"]);
    assert!(
        out.contains("ok    daemon skills: serves exactly the 1 installed skill(s)"),
        "{code}: {out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grant_revoked_while_a_call_awaits_approval_is_not_used() {
    // The user revokes the directory while the approval prompt is open, then
    // approves: the call runs with what is granted now, i.e. nothing.
    let home = Home::new();
    home.install_files();
    let write = serde_json::json!({ "path": "x.txt", "content": "from the agent" }).to_string();
    let server = ModelServer::start(vec![
        Reply::tool("files__write", &write),
        Reply::text("done"),
    ]);
    home.configure("openai", &server, "approval_timeout_secs = 60");
    let daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);
    let id = api.session().await;
    let events = api
        .turn_with(&id, "write", |_| {
            let (code, _, err) = home.chitin(&["skill", "revoke", "files", "fs:/workspace"]);
            assert_eq!(code, 0, "{err}");
            Some(true)
        })
        .await;
    let (ok, output) = tool_result(&events);
    assert!(!ok, "the revoked directory was written: {output}");
    assert!(!home.workspace.join("x.txt").exists());
}

/// An API error: the status, and that the body is `{"error": "..."}`.
fn refused(status: u16, body: &serde_json::Value, want: u16, says: &str) {
    assert_eq!(status, want, "{body}");
    let error = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("not a JSON error: {body}"));
    assert!(error.contains(says), "{error:?} does not say {says:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_paged_searched_renamed_and_deleted_through_the_api() {
    let home = Home::new();
    let store = home.store();
    for i in 0..118 {
        store.create_session(&format!("chat {i:03}")).unwrap();
    }
    let odd = store.create_session("100% sure").unwrap().id;
    let fruit = store.create_session("groceries").unwrap().id;
    let said = serde_json::json!({"role": "user", "text": "Buy KUMQUATS today"});
    store
        .append(&fruit, Some("t"), EventKind::Message, &said)
        .unwrap();
    let everything: Vec<String> = store
        .sessions()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(everything.len(), 120);
    drop(store);
    let daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);

    // Pages of 50 by default, then 50 and 20; each session once, in order.
    let mut seen = Vec::new();
    let mut path = "/api/sessions".to_string();
    let mut sizes = Vec::new();
    for _ in 0..5 {
        let (status, page) = api.call("GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        let list = page["sessions"].as_array().unwrap();
        sizes.push(list.len());
        assert!(list.iter().all(|s| s["running"] == false), "{page}");
        seen.extend(list.iter().map(|s| s["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/sessions?limit=50&before={next}"),
            None => break,
        }
    }
    assert_eq!(sizes, [50, 50, 20]);
    assert_eq!(
        seen, everything,
        "no duplicates, none missing, newest first"
    );
    let (_, small) = api.call("GET", "/api/sessions?limit=200", None).await;
    assert_eq!(small["sessions"].as_array().unwrap().len(), 120);
    assert!(small["next"].is_null());
    for (bad, says) in [
        ("limit=0", "1 to 200"),
        ("limit=201", "1 to 200"),
        ("limit=ten", "limit"),
        ("before=nonsense", "nonsense"),
    ] {
        let (status, body) = api.call("GET", &format!("/api/sessions?{bad}"), None).await;
        refused(status, &body, 400, says);
    }

    // Search: title or message text, either case, % taken literally.
    let found = |page: &serde_json::Value| -> Vec<String> {
        page["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, page) = api.call("GET", "/api/sessions?q=kumquat", None).await;
    assert_eq!(found(&page), vec![fruit.clone()]);
    let (_, page) = api.call("GET", "/api/sessions?q=100%25", None).await;
    assert_eq!(found(&page), vec![odd.clone()]);
    let (_, page) = api
        .call("GET", "/api/sessions?q=CHAT%200&limit=7", None)
        .await;
    assert_eq!(found(&page).len(), 7);
    assert!(page["next"].is_string());

    // Rename: validated, errors in JSON.
    let rename = |title: &str| serde_json::json!({ "title": title });
    let at = format!("/api/sessions/{fruit}");
    let (status, body) = api.call("PATCH", &at, Some(rename("   "))).await;
    refused(status, &body, 400, "empty");
    let (status, body) = api.call("PATCH", &at, Some(rename("two\nlines"))).await;
    refused(status, &body, 400, "control or invisible character");
    let (status, body) = api.call("PATCH", &at, Some(rename(&"x".repeat(201)))).await;
    refused(status, &body, 400, "at most 200");
    let (status, body) = api
        .call("PATCH", &at, Some(serde_json::json!({ "name": "x" })))
        .await;
    refused(status, &body, 422, "refused");
    let (status, body) = api
        .call(
            "PATCH",
            "/api/sessions/s-0000000000000000",
            Some(rename("x")),
        )
        .await;
    refused(status, &body, 404, "no session");
    let (status, body) = api.call("PATCH", &at, Some(rename("  Fruit  "))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["title"], "Fruit");
    assert_eq!(home.store().session(&fruit).unwrap().title, "Fruit");

    // Delete: gone with its rows; unknown is 404.
    let (status, body) = api.call("DELETE", &at, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = api.call("GET", &at, None).await;
    refused(status, &body, 404, "no session");
    let (status, body) = api.call("DELETE", &at, None).await;
    refused(status, &body, 404, "no session");
    assert!(matches!(
        home.store().events(&fruit),
        Err(StoreError::NoSession(_))
    ));
    let (_, page) = api.call("GET", "/api/sessions?limit=200", None).await;
    assert_eq!(page["sessions"].as_array().unwrap().len(), 119);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_whose_turn_runs_shows_its_approval_and_cannot_be_deleted() {
    let Waiting {
        home,
        daemon,
        id,
        turn,
        ..
    } = waiting_for_approval("no.txt").await;
    let api = daemon.client(&daemon.token);
    let at = format!("/api/sessions/{id}");

    // Someone opening the session sees the turn and the question it waits for.
    let (_, session) = api.call("GET", &at, None).await;
    assert_eq!(session["running"], true, "{session}");
    let pending = session["pending_approvals"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{session}");
    assert_eq!(pending[0]["tool"], "files__write");
    assert!(pending[0]["input"].as_str().unwrap().contains("no.txt"));
    let left = pending[0]["timeout_secs"].as_u64().unwrap();
    assert!(left > 0 && left <= 60, "{left}");
    let (_, list) = api.call("GET", "/api/sessions", None).await;
    assert_eq!(list["sessions"][0]["running"], true, "{list}");

    // Neither the API nor the CLI deletes it meanwhile.
    let (status, body) = api.call("DELETE", &at, None).await;
    refused(status, &body, 409, "a turn is running");
    let (code, _, err) = home.chitin(&["sessions", "rm", &id, "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("a turn is running"), "{err}");
    assert!(home.store().session(&id).is_ok());

    // Answered from this second client: the turn goes on and ends.
    let approval = pending[0]["approval_id"].as_str().unwrap();
    let (status, _) = api
        .call(
            "POST",
            &format!("{at}/approvals/{approval}"),
            Some(serde_json::json!({ "approve": false })),
        )
        .await;
    assert_eq!(status, 204);
    let events = turn.await.unwrap();
    assert!(
        matches!(events.last(), Some(TurnEvent::Done { .. })),
        "{events:?}"
    );
    let (_, session) = api.call("GET", &at, None).await;
    assert_eq!(session["running"], false, "{session}");
    assert_eq!(session["pending_approvals"], serde_json::json!([]));
    assert_eq!(session["approvals"][0]["approved"], false, "{session}");
    assert_eq!(session["approvals"][0]["by"], "user", "{session}");
    let (status, body) = api.call("DELETE", &at, None).await;
    assert_eq!(status, 204, "{body}");
    assert!(!home.workspace.join("no.txt").exists());
}

#[test]
fn sessions_are_renamed_searched_and_removed_from_the_cli() {
    let home = Home::new();
    let store = home.store();
    let a = store.create_session("first").unwrap().id;
    let b = store.create_session("second").unwrap().id;
    store.create_session("third").unwrap();
    drop(store);

    let (code, _, err) = home.chitin(&["sessions", "rename", &a, "Trip to Lisbon"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = home.chitin(&["sessions", "rename", &a, "  "]);
    assert_ne!(code, 0);
    assert!(err.contains("the title is empty"), "{err}");
    let (code, out, err) = home.chitin(&["sessions", "list", "--search", "LISBON"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&a) && out.contains("Trip to Lisbon"),
        "{out}"
    );
    let (_, out, err) = home.chitin(&["sessions", "list", "--search", "nowhere"]);
    assert_eq!(out, "");
    assert!(err.contains("no session matches"), "{err}");
    let (_, out, _) = home.chitin(&["sessions", "list", "--limit", "2"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (_, out, _) = home.chitin(&["sessions", "list"]);
    assert_eq!(out.lines().count(), 3, "{out}");

    // No terminal to ask on: refused without --yes, nothing deleted.
    let (code, _, err) = home.chitin(&["sessions", "rm", &b]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert!(home.store().session(&b).is_ok());
    let (code, _, err) = home.chitin(&["sessions", "rm", &b, "--yes"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("deleted session"), "{err}");
    assert!(matches!(
        home.store().session(&b),
        Err(StoreError::NoSession(_))
    ));
    let (code, _, err) = home.chitin(&["sessions", "rm", &b, "--yes"]);
    assert_ne!(code, 0);
    assert!(err.contains("no session"), "{err}");
    let (_, out, _) = home.chitin(&["sessions", "list"]);
    assert_eq!(out.lines().count(), 2, "{out}");
}
