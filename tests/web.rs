//! The web chat page (`runtime/agent/src/daemon/chat/`) in headless Chromium,
//! against a fake daemon API served from a std thread on 127.0.0.1 with the
//! daemon's Content-Security-Policy.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/browser.rs"]
mod browser;

use browser::Browser;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const PAGE: &str = chitin::daemon::api::CHAT_PAGE;
const CSP: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const TOKEN: &str = "t0k";
const WAIT: Duration = Duration::from_secs(20);

/// A request the fake daemon received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    auth: Option<String>,
    body: String,
}

#[derive(Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    sessions: Mutex<Vec<Value>>,
    /// `GET /api/sessions/{id}` answers for sessions other than `s-1`.
    details: Mutex<HashMap<String, Value>>,
    /// Bodies of approval POSTs; the SSE handler waits on `approved`.
    approvals: Mutex<Vec<String>>,
    approved: Condvar,
}

/// The fake daemon: the page at `/`, and the API endpoints one turn needs.
struct FakeDaemon {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
}

impl FakeDaemon {
    fn start() -> FakeDaemon {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !sp.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let st = st.clone();
                        std::thread::spawn(move || handle(conn, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FakeDaemon { addr, state, stop }
    }

    fn url(&self, fragment: &str) -> String {
        format!("http://{}/{fragment}", self.addr)
    }

    /// Start with `session` in the list, opened as `detail`.
    fn with_session(self, session: Value, detail: Value) -> Self {
        let id = session["id"].as_str().unwrap().to_owned();
        self.state.sessions.lock().unwrap().push(session);
        self.state.details.lock().unwrap().insert(id, detail);
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn respond(conn: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &str) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
    let _ = conn.flush();
}

fn json_response(conn: &mut TcpStream, status: &str, v: &Value) {
    respond(
        conn,
        status,
        &[("Content-Type", "application/json")],
        &v.to_string(),
    );
}

fn handle(mut conn: TcpStream, state: &State) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    conn.set_nodelay(true).ok();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return; // a speculative connection that never sent anything
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    for _ in 0..100 {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let auth = headers.get("authorization").cloned();
    state.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        auth: auth.clone(),
        body: body.clone(),
    });

    if !path.starts_with("/api/") {
        if method == "GET" && (path == "/" || path.starts_with("/?")) {
            respond(
                &mut conn,
                "200 OK",
                &[
                    ("Content-Type", "text/html; charset=utf-8"),
                    ("Content-Security-Policy", CSP),
                    ("X-Content-Type-Options", "nosniff"),
                ],
                PAGE,
            );
        } else {
            respond(&mut conn, "404 Not Found", &[], "");
        }
        return;
    }
    if auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        json_response(
            &mut conn,
            "401 Unauthorized",
            &json!({"error": "missing or wrong token"}),
        );
        return;
    }
    let route = path.split('?').next().unwrap_or_default();
    let detail = route
        .strip_prefix("/api/sessions/")
        .and_then(|id| state.details.lock().unwrap().get(id).cloned());
    if let (Some(detail), "GET") = (detail, method.as_str()) {
        json_response(&mut conn, "200 OK", &detail);
        return;
    }
    match (method.as_str(), route) {
        ("GET", "/api/health") => json_response(
            &mut conn,
            "200 OK",
            &json!({"status": "ok", "version": "0.1.0", "provider": "fake http://127.0.0.1 model m", "skills": 3}),
        ),
        ("GET", "/api/sessions") => {
            let list = Value::Array(state.sessions.lock().unwrap().clone());
            json_response(
                &mut conn,
                "200 OK",
                &json!({"sessions": list, "next": null}),
            );
        }
        ("POST", "/api/sessions") => {
            let title = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("title").cloned())
                .unwrap_or(Value::Null);
            let s = json!({"id": "s-1", "title": title, "created_ms": 1_700_000_000_000u64, "updated_ms": 1_700_000_000_000u64});
            state.sessions.lock().unwrap().insert(0, s.clone());
            json_response(&mut conn, "201 Created", &s);
        }
        ("GET", "/api/sessions/s-1") => {
            let session = state.sessions.lock().unwrap().first().cloned();
            json_response(
                &mut conn,
                "200 OK",
                &json!({"session": session, "messages": [], "approvals": [], "running": false, "pending_approvals": []}),
            );
        }
        ("POST", "/api/sessions/s-1/messages") => stream_turn(conn, state),
        ("POST", "/api/sessions/s-1/approvals/a-1") => {
            state.approvals.lock().unwrap().push(body);
            state.approved.notify_all();
            respond(&mut conn, "204 No Content", &[], "");
        }
        ("POST", "/api/sessions/s-1/cancel") => respond(&mut conn, "204 No Content", &[], ""),
        _ => json_response(
            &mut conn,
            "404 Not Found",
            &json!({"error": "no such route"}),
        ),
    }
}

fn put(conn: &mut TcpStream, bytes: &[u8]) {
    let _ = conn.write_all(bytes);
    let _ = conn.flush();
    std::thread::sleep(Duration::from_millis(40));
}

fn event(v: Value) -> String {
    format!("data: {v}\n\n")
}

/// Answer a turn as SSE: text, an approval, then (once the page approved)
/// the tool call and the end. Writes are split at awkward places on purpose.
fn stream_turn(mut conn: TcpStream, state: &State) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    put(&mut conn, head.as_bytes());
    let started = event(json!({"type": "turn_started", "session_id": "s-1", "turn_id": "t-1"}));
    let r1 = event(json!({"type": "reasoning_delta", "text": "The user wants <b>a file</b>; "}));
    let r2 = event(
        json!({"type": "reasoning_delta", "text": "<img src=x onerror=\"window.__pwned=3\">"}),
    );
    put(&mut conn, format!("{started}{r1}{r2}").as_bytes());
    let started = String::new();
    let d1 = event(json!({"type": "text_delta", "text": "Let me look. "}));
    let d2 = event(
        json!({"type": "text_delta", "text": "<img src=x onerror=\"window.__pwned=1\"> stays text — ünïcode."}),
    );
    // Chunks end mid-JSON, between the two "\n" of a separator and inside a
    // UTF-8 character.
    let all = format!("{started}{d1}{d2}");
    let cut1 = started.len() + 10;
    let cut2 = started.len() + d1.len() - 1;
    let cut3 = all.find('ü').unwrap() + 1;
    let bytes = all.as_bytes();
    for (a, b) in [(0, cut1), (cut1, cut2), (cut2, cut3), (cut3, bytes.len())] {
        put(&mut conn, &bytes[a..b]);
    }
    let mut send = |chunk: &str| put(&mut conn, chunk.as_bytes());
    send(&event(json!({
        "type": "approval_requested", "approval_id": "a-1", "call_id": "c-1", "tool": "files__read",
        "input": "{\"path\":\"/etc/passwd\"}", "effects": ["reads-files"], "timeout_secs": 60
    })));

    let approvals = state.approvals.lock().unwrap();
    let (approvals, _) = state
        .approved
        .wait_timeout_while(approvals, Duration::from_secs(30), |a| a.is_empty())
        .unwrap();
    let approved = !approvals.is_empty();
    drop(approvals);
    if !approved {
        send(&event(
            json!({"type": "approval_resolved", "approval_id": "a-1", "approved": false, "by": "timeout"}),
        ));
        send(&event(json!({"type": "done", "stop": "error", "text": ""})));
        return;
    }
    send(&event(
        json!({"type": "approval_resolved", "approval_id": "a-1", "approved": true, "by": "user"}),
    ));
    send(&event(json!({
        "type": "tool_call_started", "call_id": "c-1", "tool": "files__read",
        "input": "{\"path\":\"/etc/passwd\"}", "effects": ["reads-files"]
    })));
    // CRLF line ends are valid SSE too.
    send(
        &event(json!({
            "type": "tool_call_finished", "call_id": "c-1", "tool": "files__read", "ok": true,
            "output": "<b>not bold</b> <script>window.__pwned=2</script>", "elapsed_ms": 12,
            "capabilities": [
                {"capability": "fs", "decision": "deny", "target": "/etc/passwd", "reason": "not granted"},
                {"capability": "net", "decision": "allow", "target": "https://api.github.com"}
            ]
        }))
        .replace('\n', "\r\n"),
    );
    send(&event(json!({"type": "text_delta", "text": "All done."})));
    send(&format!(
        ": a comment line\n{}{}",
        event(
            json!({"type": "usage", "usage": {"input_tokens": 120, "output_tokens": 30}, "turn_total": 150, "day_total": 900})
        ),
        event(json!({"type": "done", "stop": "answer", "text": "All done."}))
    ));
}

fn launch(url: &str) -> Browser {
    assert!(
        browser::chromium_available(),
        "Chromium is needed for the web tests and was not found: run scripts/install-chromium \
         (or set CHITIN_CHROMIUM to a Chromium/Chrome binary)"
    );
    Browser::launch(url).expect("launching headless Chromium")
}

fn text(b: &mut Browser, js: &str) -> String {
    let v = b.eval(js).unwrap();
    v.as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

#[test]
fn page_renders_a_streamed_turn_with_an_approval() {
    let fake = FakeDaemon::start();
    let mut b = launch(&fake.url(&format!("#token={TOKEN}")));

    // The token moved from the fragment to sessionStorage; the page is idle.
    b.wait_for(
        "document.querySelector('#status')?.textContent === 'idle' && \
         document.querySelector('#provider')?.textContent.includes('fake')",
        WAIT,
    )
    .unwrap();
    assert_eq!(text(&mut b, "location.hash"), "");
    assert!(!text(&mut b, "location.href").contains(TOKEN));
    assert_eq!(
        text(&mut b, "sessionStorage.getItem('chitin.token')"),
        TOKEN
    );
    assert_eq!(
        b.eval("document.querySelector('#token-box').hidden")
            .unwrap(),
        json!(true)
    );

    b.type_text("#message-input", "read /etc/passwd").unwrap();
    b.click("#send-button").unwrap();

    // Streamed text, then the approval card while the turn is paused.
    b.wait_for(
        "document.querySelector('.approval-card[data-approval-id=\"a-1\"][data-state=\"pending\"]') && \
         document.querySelector('#status').textContent === 'running'",
        WAIT,
    )
    .unwrap();
    assert_eq!(
        text(&mut b, "document.querySelector('.msg.user').textContent"),
        "read /etc/passwd"
    );
    assert_eq!(
        text(
            &mut b,
            "document.querySelector('.msg.assistant').textContent"
        ),
        "Let me look. <img src=x onerror=\"window.__pwned=1\"> stays text — ünïcode."
    );
    // Reasoning: apart from the answer, collapsed, plain text.
    assert_eq!(
        b.eval("(() => { const d = document.querySelector('details.reasoning'); return [d.open, d.querySelector('.reasoning-text').textContent, d.querySelectorAll('b, img').length]; })()")
            .unwrap(),
        json!([false, "The user wants <b>a file</b>; <img src=x onerror=\"window.__pwned=3\">", 0])
    );
    assert!(
        b.eval("!document.querySelector('#stop-button').hidden && document.querySelector('#send-button').disabled")
            .unwrap()
            .as_bool()
            .unwrap()
    );
    let card = text(
        &mut b,
        "document.querySelector('.approval-card').textContent",
    );
    assert!(card.contains("files__read"), "{card}");
    assert!(card.contains("reads-files"), "{card}");
    assert!(
        card.contains("\"path\": \"/etc/passwd\""),
        "pretty input: {card}"
    );
    assert!(card.contains("denied automatically in"), "{card}");
    assert!(
        b.eval("document.querySelector('.session-item[data-id=\"s-1\"]') !== null")
            .unwrap()
            .as_bool()
            .unwrap()
    );

    b.click(".approval-card[data-approval-id=\"a-1\"] button.approve")
        .unwrap();
    b.wait_for(
        "document.querySelector('.tool-card[data-call-id=\"c-1\"][data-status=\"ok\"]') && \
         document.querySelector('#status').textContent === 'idle' && \
         [...document.querySelectorAll('.msg.assistant')].some(m => m.textContent === 'All done.')",
        WAIT,
    )
    .unwrap();

    // The approval went out as {"approve":true} and the card says so.
    let approvals = fake.state.approvals.lock().unwrap().clone();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&approvals[0]).unwrap(),
        json!({"approve": true})
    );
    assert_eq!(
        b.eval(
            "(() => { const c = document.querySelector('.approval-card'); \
             return [c.dataset.state, c.querySelector('button.approve').disabled, c.querySelector('button.deny').disabled]; })()"
        )
        .unwrap(),
        json!(["approved", true, true])
    );

    // The tool card: name, status, elapsed, output as text, capability badges.
    let tool = text(
        &mut b,
        "document.querySelector('.tool-card[data-call-id=\"c-1\"]').textContent",
    );
    assert!(
        tool.contains("files__read") && tool.contains("12 ms"),
        "{tool}"
    );
    assert_eq!(
        text(
            &mut b,
            "document.querySelector('.tool-card .tool-output pre').textContent"
        ),
        "<b>not bold</b> <script>window.__pwned=2</script>"
    );
    let deny = text(
        &mut b,
        "document.querySelector('.cap-badge[data-decision=\"deny\"]').innerText",
    );
    assert!(deny.contains("fs deny /etc/passwd"), "{deny}");
    assert!(deny.contains("not granted"), "{deny}");
    let allow = text(
        &mut b,
        "document.querySelector('.cap-badge[data-decision=\"allow\"]').textContent",
    );
    assert_eq!(allow, "net allow https://api.github.com");
    assert_eq!(
        b.eval("getComputedStyle(document.querySelector('.cap-badge[data-decision=\"deny\"]')).color !== getComputedStyle(document.querySelector('.cap-badge[data-decision=\"allow\"]')).color")
            .unwrap(),
        json!(true),
        "deny and allow badges look different"
    );

    // Untrusted text never became markup.
    assert_eq!(
        b.eval(
            "[document.querySelectorAll('#transcript img').length, \
             document.querySelectorAll('#transcript b, #transcript script').length, \
             typeof window.__pwned]"
        )
        .unwrap(),
        json!([0, 0, "undefined"])
    );
    // Usage footer, no error notice, the turn's order.
    let usage = text(&mut b, "document.querySelector('#usage').textContent");
    assert!(
        usage.contains("120") && usage.contains("150") && usage.contains("900"),
        "{usage}"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('.notice.error').length")
            .unwrap(),
        json!(0)
    );
    assert_eq!(
        b.eval(
            "[...document.querySelector('#transcript').children].map(e => \
             e.classList.contains('msg') ? e.className : (e.classList[1] || e.classList[0]))"
        )
        .unwrap(),
        json!([
            "msg user",
            "reasoning",
            "msg assistant md",
            "approval-card",
            "tool-card",
            "msg assistant md"
        ])
    );
    assert!(
        b.eval("document.querySelector('#stop-button').hidden && !document.querySelector('#send-button').disabled")
            .unwrap()
            .as_bool()
            .unwrap()
    );

    // Every API request carried the token as a Bearer header; the page
    // request itself never saw it (it lives in the fragment).
    let seen = fake.seen();
    let api: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.starts_with("/api/"))
        .collect();
    for s in &api {
        assert_eq!(
            s.auth.as_deref(),
            Some("Bearer t0k"),
            "{} {} without the token",
            s.method,
            s.path
        );
    }
    for want in [
        ("GET", "/api/health"),
        ("GET", "/api/sessions?limit=50"),
        ("POST", "/api/sessions"),
        ("POST", "/api/sessions/s-1/messages"),
        ("POST", "/api/sessions/s-1/approvals/a-1"),
    ] {
        assert!(
            api.iter()
                .any(|s| (s.method.as_str(), s.path.as_str()) == want),
            "no {want:?} in {api:?}"
        );
    }
    let sent = api
        .iter()
        .find(|s| s.path == "/api/sessions/s-1/messages")
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&sent.body).unwrap(),
        json!({"text": "read /etc/passwd"})
    );
    assert!(
        seen.iter().all(|s| !s.path.contains(TOKEN)),
        "the token reached the server in a URL: {seen:?}"
    );
}

#[test]
fn page_without_a_token_asks_for_one_and_reports_a_rejected_one() {
    let fake = FakeDaemon::start();
    let mut b = launch(&fake.url(""));

    b.wait_for(
        "!document.querySelector('#token-box').hidden && \
         document.querySelector('#token-box').innerText.includes('chitin daemon token')",
        WAIT,
    )
    .unwrap();
    assert!(
        fake.seen().iter().all(|s| !s.path.starts_with("/api/")),
        "no API call without a token"
    );

    b.type_text("#token-input", "wrong").unwrap();
    b.click("#token-save").unwrap();
    b.wait_for(
        "!document.querySelector('#token-box').hidden && !document.querySelector('#token-error').hidden && \
         document.querySelector('#token-error').textContent.includes('token rejected')",
        WAIT,
    )
    .unwrap();
    assert_eq!(
        b.eval("sessionStorage.getItem('chitin.token')").unwrap(),
        Value::Null
    );

    b.type_text("#token-input", TOKEN).unwrap();
    b.click("#token-save").unwrap();
    b.wait_for(
        "document.querySelector('#token-box').hidden && \
         document.querySelector('#provider').textContent.includes('fake')",
        WAIT,
    )
    .unwrap();
    let seen = fake.seen();
    assert!(
        seen.iter().any(
            |s| s.path.starts_with("/api/sessions?") && s.auth.as_deref() == Some("Bearer t0k")
        ),
        "{seen:?}"
    );
}

/// An answer full of Markdown and of markup meant to run.
const HOSTILE_MARKDOWN: &str = "## Plan\n\
Some **bold** and *italic* and `code <b>x</b>`.\n\
\n\
- one\n\
- two with [a link](https://example.com/docs)\n\
\n\
1. first\n\
2. second\n\
\n\
```js\n\
let x = \"<script>window.__pwned=4</script>\";\n\
```\n\
\n\
<img src=x onerror=\"window.__pwned=3\"> and [click](javascript:window.__pwned=5) \
and ![pic](http://127.0.0.1:9/pic.png) and <a href=\"javascript:window.__pwned=6\">raw</a>";

#[test]
fn the_page_opens_a_new_chat_and_renders_an_old_ones_markdown_safely() {
    let fake = FakeDaemon::start().with_session(
        json!({"id": "s-md", "title": "an old CLI chat", "created_ms": 1_700_000_000_000u64, "updated_ms": 1_700_000_000_000u64}),
        json!({
            "session": {"id": "s-md", "title": "an old CLI chat"},
            "messages": [
                {"role": "user", "text": "plan it"},
                {"role": "assistant", "text": HOSTILE_MARKDOWN},
                {"role": "assistant", "text": "", "tool_calls": [{"id": "c-9", "name": "files__write", "arguments": "{\"path\":\"x\"}"}]},
                {"role": "tool", "call_id": "c-9", "name": "files__write", "is_error": true,
                 "output": "{\"error\":{\"from\":\"host\",\"kind\":\"not-run\",\"reason\":\"the user denied `files__write`; it was not run\"}}"},
                {"role": "assistant", "text": "ok, not written"}
            ],
            "approvals": [{"approval_id": "a-9", "call_id": "c-9", "tool": "files__write", "approved": false, "by": "user"}],
            "running": false,
            "pending_approvals": []
        }),
    );
    let mut b = launch(&fake.url(&format!("#token={TOKEN}")));

    // A new chat by default: the old session is listed, not opened.
    b.wait_for(
        "document.querySelector('.session-item[data-id=\"s-md\"]') && \
         document.querySelector('#status').textContent === 'idle'",
        WAIT,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.eval(
            "[!!document.querySelector('#transcript .empty-state'), \
             document.querySelectorAll('.session-item.active').length]"
        )
        .unwrap(),
        json!([true, 0])
    );
    assert!(
        fake.seen().iter().all(|s| s.path != "/api/sessions/s-md"),
        "the old session was opened: {:?}",
        fake.seen()
    );

    b.click(".session-item[data-id=\"s-md\"]").unwrap();
    b.wait_for(
        "[...document.querySelectorAll('.msg.assistant')].some(m => m.textContent === 'ok, not written')",
        WAIT,
    )
    .unwrap();
    let md = "document.querySelectorAll('.msg.assistant')[0]";
    assert_eq!(
        b.eval(&format!(
            "(() => {{ const m = {md}; return [
                m.querySelector('h2')?.textContent,
                m.querySelector('strong')?.textContent,
                m.querySelector('em')?.textContent,
                m.querySelector('p code')?.textContent,
                [...m.querySelectorAll('ul > li')].map(li => li.textContent),
                [...m.querySelectorAll('ol > li')].map(li => li.textContent),
                m.querySelector('pre code')?.textContent,
                m.querySelector('pre code')?.dataset.lang,
            ]; }})()"
        ))
        .unwrap(),
        json!([
            "Plan",
            "bold",
            "italic",
            "code <b>x</b>",
            ["one", "two with a link"],
            ["first", "second"],
            "let x = \"<script>window.__pwned=4</script>\";",
            "js"
        ])
    );
    // The one link: http(s) only, a new tab, no opener, no referrer.
    assert_eq!(
        b.eval(&format!(
            "[...{md}.querySelectorAll('a')].map(a => [a.getAttribute('href'), a.target, a.rel, a.textContent])"
        ))
        .unwrap(),
        json!([[
            "https://example.com/docs",
            "_blank",
            "noopener noreferrer",
            "a link"
        ]])
    );
    // Hostile markup stayed text, nothing ran, nothing was loaded.
    let last = text(
        &mut b,
        &format!("[...{md}.querySelectorAll('p')].pop().textContent"),
    );
    assert_eq!(
        last,
        "<img src=x onerror=\"window.__pwned=3\"> and [click](javascript:window.__pwned=5) \
         and ![pic](http://127.0.0.1:9/pic.png) and <a href=\"javascript:window.__pwned=6\">raw</a>"
    );
    assert_eq!(
        b.eval(
            "[document.querySelectorAll('#transcript img, #transcript script, #transcript b').length, \
             [...document.querySelectorAll('#transcript a')].filter(a => !/^https?:/.test(a.href)).length, \
             typeof window.__pwned]"
        )
        .unwrap(),
        json!([0, 0, "undefined"])
    );
    // The call the user denied says so, not FAILED.
    assert_eq!(
        b.eval(
            "(() => { const c = document.querySelector('.tool-card[data-call-id=\"c-9\"]'); \
             return [c.dataset.status, c.querySelector('.tool-status').innerText]; })()"
        )
        .unwrap(),
        json!(["denied", "DENIED"])
    );
    assert!(
        fake.seen().iter().all(|s| !s.path.contains("pic.png")),
        "an image was fetched"
    );
    // A link whose text names another address shows the real host.
    assert_eq!(
        b.eval(
            "(() => { const d = document.createElement('div'); \
             ChitinMarkdown.markdown('[https://bank.example](https://evil.example/x) and [docs](https://ok.example/)', d); \
             return d.textContent; })()"
        )
        .unwrap(),
        json!("https://bank.example (evil.example) and docs")
    );
    // Lines built to make the patterns backtrack (a list marker or a
    // heading, 60,000 spaces, a U+2028) render at once: before the fix this
    // took seconds, and the page re-renders every second while attached.
    let ms = b
        .eval(
            "(() => { const pad = ' '.repeat(60000) + 'a\\u2028a'; \
             const t0 = performance.now(); \
             ChitinMarkdown.markdown('-' + pad + '\\n#' + pad + '\\n>' + pad, document.createElement('div')); \
             return performance.now() - t0; })()",
        )
        .unwrap();
    assert!(ms.as_f64().unwrap() < 1000.0, "rendering took {ms} ms");
}
