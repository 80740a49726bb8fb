//! The daemon under faults and limits: killed mid-turn, shut down during an
//! approval, flooded with idle and slow connections, sent malformed requests,
//! given a damaged session database.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::agent::events::Stop;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::agent::{DaemonProc, Home, Waiting, done, waiting_for_approval};
use support::model::{ModelServer, Reply};

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_killed_mid_call_is_closed_as_interrupted_at_the_next_start() {
    let Waiting {
        home,
        mut daemon,
        id,
        turn,
        ..
    } = waiting_for_approval("never.txt").await;
    // kill -9: nothing of the daemon gets to record the end of the turn.
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    turn.abort();
    let before = home.store().events(&id).unwrap();
    assert!(
        !before
            .iter()
            .any(|e| e.kind == "turn" && e.data["event"] == "done"),
        "{before:?}"
    );
    // The next start closes it: an end record, a result for the call.
    let mut again = DaemonProc::start(&home);
    let store = home.store();
    let events = store.events(&id).unwrap();
    let ended: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "turn" && e.data["event"] == "done")
        .collect();
    assert_eq!(ended.len(), 1, "{events:?}");
    assert_eq!(ended[0].data["stop"], "interrupted");
    assert!(
        events
            .iter()
            .any(|e| e.kind == "tool_call" && e.data["interrupted"] == true),
        "{events:?}"
    );
    let history = store.messages(&id).unwrap();
    assert!(
        matches!(
            history.last(),
            Some(chitin::messages::Message::Tool { is_error: true, output, .. })
                if output.contains("interrupted")
        ),
        "{history:?}"
    );
    assert!(!home.workspace.join("never.txt").exists());
    // A second start finds nothing more to close.
    assert_eq!(again.stop(), 0);
    let mut third = DaemonProc::start(&home);
    assert_eq!(third.stop(), 0);
    let count = |events: &[chitin::store::StoredEvent]| {
        events
            .iter()
            .filter(|e| e.kind == "turn" && e.data["event"] == "done")
            .count()
    };
    assert_eq!(count(&home.store().events(&id).unwrap()), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_cancels_a_waiting_turn_and_records_it() {
    let Waiting {
        home,
        mut daemon,
        id,
        turn,
        ..
    } = waiting_for_approval("never.txt").await;
    let api = daemon.client(&daemon.token);
    let (status, _) = api
        .call(
            "POST",
            &format!("/api/sessions/{id}/messages"),
            Some(serde_json::json!({"text":"again"})),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(daemon.stop(), 0);
    let events = turn.await.unwrap();
    assert_eq!(done(&events).0, Stop::Cancelled);
    assert!(!home.workspace.join("never.txt").exists());
    let store = home.store();
    let recorded = store.events(&id).unwrap();
    assert!(
        recorded
            .iter()
            .any(|e| e.kind == "turn" && e.data["stop"] == "cancelled"),
        "{recorded:?}"
    );
    // The history stays valid: the unanswered call got a result.
    let history = store.messages(&id).unwrap();
    assert!(
        matches!(
            history.last(),
            Some(chitin::messages::Message::Tool { is_error: true, .. })
        ),
        "{history:?}"
    );
}

/// Clients that connect and send nothing, or half a request header, are cut
/// off at the header deadline; connections past the limit are closed at
/// once; and the daemon answers real clients throughout and afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn idle_and_excess_connections_cannot_pin_the_daemon() {
    use chitin::daemon::listener::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS};
    use std::net::TcpStream;

    let home = Home::new();
    let daemon = DaemonProc::start(&home);
    // An authenticated client that trickles its body holds a slot only
    // until the body deadline.
    let mut trickle = TcpStream::connect(&daemon.addr).unwrap();
    trickle
        .write_all(
            format!(
                "POST /api/sessions HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{{",
                daemon.addr, daemon.token
            )
            .as_bytes(),
        )
        .unwrap();
    let mut idle: Vec<TcpStream> = (1..MAX_CONNECTIONS)
        .map(|i| {
            let mut s = TcpStream::connect(&daemon.addr).unwrap();
            if i % 2 == 0 {
                s.write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                    .unwrap();
            }
            s
        })
        .collect();
    let started = Instant::now();

    // Every slot is taken: one more connection is told so, and when to retry.
    let mut extra = TcpStream::connect(&daemon.addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = extra.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut refused = Vec::new();
    let _ = extra.read_to_end(&mut refused);
    let refused = String::from_utf8_lossy(&refused);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("Retry-After: 1"), "{refused}");
    let body = refused.split("\r\n\r\n").nth(1).unwrap_or("");
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert!(
        json["error"].as_str().unwrap().contains("too many"),
        "{json}"
    );

    // The trickling body is cut at its deadline with an answer that says so.
    trickle
        .set_read_timeout(Some(chitin::daemon::body::BODY_READ_TIMEOUT * 3))
        .unwrap();
    let mut answer = Vec::new();
    let _ = trickle.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert!(
        started.elapsed() < chitin::daemon::body::BODY_READ_TIMEOUT * 2 + Duration::from_secs(5),
        "the slow body held its slot for {:?}",
        started.elapsed()
    );

    // The slow ones are closed at the deadline, with or without bytes sent.
    for i in [0, 1] {
        let s = &mut idle[i];
        s.set_read_timeout(Some(HEADER_READ_TIMEOUT * 3)).unwrap();
        let mut reply = Vec::new();
        let closed = s.read_to_end(&mut reply);
        assert!(
            closed.is_ok()
                || closed
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "connection {i} still open after {:?}: {closed:?}",
            started.elapsed()
        );
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
            "{reply}"
        );
    }
    assert!(
        started.elapsed() >= HEADER_READ_TIMEOUT / 2,
        "closed too early"
    );

    // Slots are free again: a real client is served.
    drop(idle);
    let (status, _) = daemon
        .client(&daemon.token)
        .call("GET", "/api/health", None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_the_api_gives_is_json() {
    let home = Home::new();
    let daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);
    let (_, s) = api
        .call("POST", "/api/sessions", Some(serde_json::json!({})))
        .await;
    let id = s["id"].as_str().unwrap().to_string();
    let messages = format!("/api/sessions/{id}/messages");
    let auth = format!("Bearer {}", daemon.token);
    // (method, path, body, content type, expected status)
    let table: [(&str, &str, &str, &str, u16); 8] = [
        ("POST", &messages, "{not json", "application/json", 400),
        (
            "POST",
            "/api/sessions",
            "{not json",
            "application/json",
            400,
        ),
        (
            "POST",
            "/api/sessions",
            r#"{"title": 1}"#,
            "text/plain",
            415,
        ),
        (
            "POST",
            &messages,
            r#"{"text": 42}"#,
            "application/json",
            422,
        ),
        ("POST", &messages, r#"{"text": "hi"}"#, "text/plain", 415),
        ("GET", "/api/nowhere", "", "", 404),
        ("DELETE", "/api/tools", "", "", 405),
        ("PUT", "/api/tools/x/policy", "[]", "application/json", 422),
    ];
    for (method, path, body, content_type, status) in table {
        let mut headers = vec![("authorization", auth.as_str())];
        if !content_type.is_empty() {
            headers.push(("content-type", content_type));
        }
        let resp = api
            .http
            .send(
                method.parse().unwrap(),
                path,
                &headers,
                (!body.is_empty()).then(|| body.to_string().into()),
            )
            .await
            .unwrap();
        assert_eq!(resp.status, status, "{method} {path} {body}");
        assert_eq!(resp.content_type(), "application/json", "{method} {path}");
        let bytes = resp.bytes(1 << 20).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: {json}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_session_database_is_refused_and_never_replaced() {
    let home = Home::new();
    let server = ModelServer::start(vec![Reply::text("hello")]);
    home.configure("openai", &server, "");
    let db = home.home.join("data/sessions.db");
    // A database with some history, then pages overwritten in the middle.
    {
        let store = home.store();
        for i in 0..300 {
            let s = store.create_session(&format!("session {i}")).unwrap();
            store
                .append(
                    &s.id,
                    None,
                    chitin::store::EventKind::Message,
                    &serde_json::json!({"role": "user", "text": "x".repeat(200)}),
                )
                .unwrap();
        }
    }
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 8 * 4096, "{}", bytes.len());
    for b in &mut bytes[2 * 4096..6 * 4096] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let (code, out, err) = home.chitin(&["doctor"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("is damaged"),
        "doctor: {out}{err}"
    );
    let (code, _, err) = home.chitin(&["ask", "hi"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("is damaged") && err.contains(".recover"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "the file was changed");

    // An empty file is not a fresh start either.
    std::fs::write(&db, b"").unwrap();
    let (code, _, err) = home.chitin(&["ask", "hi"]);
    assert_ne!(code, 0);
    assert!(err.contains("the file is empty"), "{err}");
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
    // (doctor's provider check lists models; nothing asked for an answer)
    assert!(
        !server.requests().iter().any(|r| r.method == "POST"),
        "the model was asked anyway"
    );
}

/// A full disk fails the turn with a clear message to the client and says
/// so in the daemon's log too. The data directory is a 640 KiB tmpfs in a
/// mount namespace of the daemon's own (`unshare -rm`, as root or with user
/// namespaces), so nothing of the host fills up.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_the_turn_and_is_said_in_the_daemon_log() {
    let home = Home::new();
    let replies = (0..8).map(|_| Reply::text("noted")).collect();
    let server = ModelServer::start(replies);
    home.configure("openai", &server, "");
    let data = home.home.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-rm", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=640k tmpfs "$1" && exec "$2" daemon --listen 127.0.0.1:0"#)
        .arg("sh")
        .arg(&data)
        .arg(env!("CARGO_BIN_EXE_chitin"));
    let (mut daemon, log) = DaemonProc::spawn_logged(&home, cmd);
    let api = daemon.client(&daemon.token);
    let session = api.session().await;
    let big = "x".repeat(200_000);
    let mut failed = None;
    for _ in 0..8 {
        let events = api.turn(&session, &big, None).await;
        let (stop, _) = done(&events);
        if stop == Stop::Error {
            failed = Some(events);
            break;
        }
    }
    let events = failed.expect("a 640 KiB disk never filled up");
    let told = events.iter().find_map(|e| match e {
        chitin::agent::events::TurnEvent::Error { message } => Some(message.clone()),
        _ => None,
    });
    let told = told.unwrap_or_default();
    assert!(told.contains("full"), "the client was told: {told:?}");
    assert_eq!(daemon.stop(), 0);
    let log = log.join().unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("turn failed") && l.contains("full")),
        "the daemon log says nothing of the full disk:\n{log}"
    );
}

/// Raw `POST .../messages`: the connection, with the status line read.
fn post_turn(daemon: &DaemonProc, session: &str) -> (std::net::TcpStream, String) {
    use std::io::BufRead;
    let mut s = std::net::TcpStream::connect(&daemon.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = r#"{"text":"write"}"#;
    write!(
        s,
        "POST /api/sessions/{session}/messages HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        daemon.addr,
        daemon.token,
        body.len()
    )
    .unwrap();
    let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    // Stay until the turn has gone quiet (waiting for its approval): from
    // then on the daemon writes nothing that would show the client left.
    if status.starts_with("HTTP/1.1 200") {
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 && !line.contains("approval_requested") {
            line.clear();
        }
    }
    (s, status)
}

/// Clients that post a turn and leave free their connection at once: more
/// of them than there are slots, each leaving when its turn has gone quiet
/// waiting for an approval (so no write shows the daemon they left), and
/// the daemon still serves the next client (the turns go on).
#[tokio::test(flavor = "multi_thread")]
async fn clients_that_leave_free_their_connection_while_their_turn_goes_on() {
    use chitin::daemon::listener::MAX_CONNECTIONS;
    let home = Home::new();
    home.install_files();
    let write = serde_json::json!({ "path": "x.txt", "content": "x" }).to_string();
    let server = ModelServer::repeat(Reply::tool("files__write", &write));
    home.configure("openai", &server, "approval_timeout_secs = 60");
    let mut daemon = DaemonProc::start(&home);
    let api = daemon.client(&daemon.token);
    let n = MAX_CONNECTIONS + 32;
    let mut sessions = Vec::new();
    for _ in 0..n {
        sessions.push(api.session().await);
    }
    for (i, id) in sessions.iter().enumerate() {
        let mut status = String::new();
        // A slot may take a moment to be seen free: retry as told (bounded).
        for _ in 0..50 {
            let (s, line) = post_turn(&daemon, id);
            drop(s);
            status = line;
            if !status.starts_with("HTTP/1.1 503") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(status.starts_with("HTTP/1.1 200"), "turn {i}: {status}");
    }
    // Every turn is running, waiting for its approval; the daemon still
    // answers, and each session says its turn runs.
    let (status, health) = api.call("GET", "/api/health", None).await;
    assert_eq!(status, 200, "{health}");
    let (status, s) = api
        .call("GET", &format!("/api/sessions/{}", sessions[n - 1]), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(s["running"], true, "{s}");
    assert_eq!(daemon.stop(), 0);
}

/// A provider that fails twice and then answers: the daemon's log (a pipe,
/// as under systemd or `nohup`) says each retry in plain text, counting
/// attempts out of the total; the answer still comes. One that keeps
/// failing ends the turn with the count of attempts made, and a single
/// failed attempt is not reported as "after 1 attempts".
#[tokio::test(flavor = "multi_thread")]
async fn retries_are_logged_in_plain_text_and_counted() {
    let home = Home::new();
    let hiccup = r#"{"error":{"message":"upstream hiccup"}}"#;
    let mut replies = vec![
        Reply::Status(503, hiccup.into()),
        Reply::Status(500, hiccup.into()),
        Reply::text("third time lucky"),
    ];
    replies.extend((0..4).map(|_| Reply::Status(503, hiccup.into())));
    replies.push(Reply::Cut("half an ans".into()));
    let server = ModelServer::start(replies);
    home.configure("openai", &server, "");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chitin"));
    cmd.args(["daemon", "--listen", "127.0.0.1:0"])
        .env("TERM", "xterm-256color");
    let (mut daemon, log) = DaemonProc::spawn_logged(&home, cmd);
    let api = daemon.client(&daemon.token);
    let session = api.session().await;
    let (stop, text) = done(&api.turn(&session, "hello", None).await);
    assert_eq!((stop, text.as_str()), (Stop::Answer, "third time lucky"));

    let error = |events: &[chitin::agent::events::TurnEvent]| {
        events
            .iter()
            .find_map(|e| match e {
                chitin::agent::events::TurnEvent::Error { message } => Some(message.clone()),
                _ => None,
            })
            .unwrap_or_default()
    };
    let events = api.turn(&session, "again", None).await;
    assert_eq!(done(&events).0, Stop::Error);
    let told = error(&events);
    assert!(told.contains("(4 attempts)"), "{told}");
    let events = api.turn(&session, "and again", None).await;
    let told = error(&events);
    assert!(told.contains("cut off"), "{told}");
    assert!(
        !told.contains("attempt"),
        "a single attempt is not counted: {told}"
    );
    assert_eq!(server.request_count(), 8);

    assert_eq!(daemon.stop(), 0);
    let log = log.join().unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file:\n{log:?}"
    );
    let retries: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("provider call failed"))
        .collect();
    for n in 1..=3 {
        assert!(
            retries
                .iter()
                .any(|l| l.contains(&format!("(attempt {n} of 4)"))
                    && l.contains("WARN")
                    && l.contains("upstream hiccup")),
            "no warning for attempt {n}:\n{log}"
        );
    }
    assert!(
        !retries.iter().any(|l| l.contains("attempt 4 of")),
        "the last attempt is not retried:\n{log}"
    );
    assert_eq!(retries.len(), 5, "two retries, then three:\n{log}");
}
