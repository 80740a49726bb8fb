//! The web chat against the real daemon in headless Chromium: the page the
//! daemon serves, the token from the URL fragment, a streamed turn whose
//! tool call needs approval, the Approve button, the sandboxed skill really
//! writing the file, and the denial path.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::store::{EventKind, StoreError};
use std::time::Duration;
use support::agent::{DaemonProc, Home};
use support::browser::Browser;
use support::model::{ModelServer, Reply};

const WAIT: Duration = Duration::from_secs(30);

/// The web chat of `daemon`, opened with its token.
fn open(daemon: &DaemonProc) -> Browser {
    Browser::launch(&format!("http://{}/#token={}", daemon.addr, daemon.token)).unwrap()
}

/// Wait until the page shows an approval waiting for an answer.
fn wait_for_pending_approval(b: &mut Browser) {
    b.wait_for(
        "document.querySelector('.approval-card[data-state=\"pending\"] button.approve') !== null",
        WAIT,
    )
    .unwrap();
}

fn send(b: &mut Browser, text: &str) {
    b.wait_for(
        "document.querySelector('#status')?.dataset.state === 'idle'",
        WAIT,
    )
    .unwrap();
    b.type_text("#message-input", text).unwrap();
    b.click("#send-button").unwrap();
}

#[test]
fn web_chat_approves_and_denies_a_sandboxed_tool_call() {
    let home = Home::new();
    home.install_files();
    let server = ModelServer::start(vec![
        Reply::tool(
            "files__write",
            r#"{"path":"from-web.txt","content":"written via the web chat"}"#,
        ),
        Reply::text("Saved <b>from-web.txt</b>."),
        Reply::tool("files__write", r#"{"path":"denied.txt","content":"no"}"#),
        Reply::text("Understood, not written."),
    ]);
    home.configure("openai", &server, "");
    let daemon = DaemonProc::start(&home);
    let mut b = open(&daemon);

    // Approve: the tool runs in the sandbox and the file appears.
    send(&mut b, "save a note");
    wait_for_pending_approval(&mut b);
    b.click(".approval-card[data-state=\"pending\"] button.approve")
        .unwrap();
    b.wait_for(
        "document.querySelector('.tool-card[data-status=\"ok\"]') !== null",
        WAIT,
    )
    .unwrap();
    b.wait_for("[...document.querySelectorAll('.msg.assistant')].some(m => m.textContent.includes('Saved <b>from-web.txt</b>.'))", WAIT).unwrap();
    assert_eq!(
        std::fs::read_to_string(home.workspace.join("from-web.txt")).unwrap(),
        "written via the web chat"
    );
    // The capability use is shown on the card; model text stays text.
    let badge = b.eval("document.querySelector('.tool-card[data-status=\"ok\"] .cap-badge[data-decision=\"allow\"]')?.textContent").unwrap();
    assert!(badge.as_str().unwrap_or("").contains("fs"), "{badge}");
    assert_eq!(
        b.eval("document.querySelectorAll('.msg.assistant b').length")
            .unwrap(),
        0
    );
    // The token left the address bar.
    assert_eq!(b.eval("location.hash").unwrap(), "");

    // Deny: nothing is written and the model is told.
    send(&mut b, "save another");
    b.wait_for(
        "document.querySelector('.approval-card[data-state=\"pending\"] button.deny') !== null",
        WAIT,
    )
    .unwrap();
    b.click(".approval-card[data-state=\"pending\"] button.deny")
        .unwrap();
    b.wait_for("[...document.querySelectorAll('.msg.assistant')].some(m => m.textContent.includes('Understood, not written.'))", WAIT).unwrap();
    assert_eq!(
        b.eval("document.querySelectorAll('.approval-card[data-state=\"denied\"]').length")
            .unwrap(),
        1
    );
    // The denied call is labelled so, live and when the chat is opened again.
    let denied = "[...document.querySelectorAll('.tool-card')].map(c => [c.dataset.status, c.querySelector('.tool-status').innerText])";
    assert_eq!(
        b.eval(denied).unwrap(),
        serde_json::json!([["ok", "OK"], ["denied", "DENIED"]])
    );
    b.click("#new-session").unwrap();
    b.wait_for(
        "document.querySelector('#transcript .empty-state') !== null",
        WAIT,
    )
    .unwrap();
    b.click(".session-item").unwrap();
    b.wait_for(
        "document.querySelectorAll('.tool-card').length === 2 && !document.querySelector('#transcript .empty-state')",
        WAIT,
    )
    .unwrap();
    assert_eq!(
        b.eval(denied).unwrap(),
        serde_json::json!([["ok", "OK"], ["denied", "DENIED"]])
    );
    assert!(!home.workspace.join("denied.txt").exists());
    assert!(
        server
            .requests()
            .last()
            .unwrap()
            .body
            .to_string()
            .contains("the user denied")
    );
    // Both turns are persisted in one session.
    let sessions = home.store().sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(home.store().messages(&sessions[0].id).unwrap().len(), 8);
}

#[test]
fn a_reload_during_an_approval_shows_it_again_and_approving_finishes_the_turn() {
    let home = Home::new();
    home.install_files();
    let server = ModelServer::start(vec![
        Reply::tool(
            "files__write",
            r#"{"path":"after-reload.txt","content":"approved after a reload"}"#,
        ),
        Reply::text("Saved **after** the reload."),
    ]);
    home.configure("openai", &server, "approval_timeout_secs = 120");
    let daemon = DaemonProc::start(&home);
    let mut b = open(&daemon);
    send(&mut b, "save a note");
    wait_for_pending_approval(&mut b);

    // Reload: the page comes back to this chat, its turn and its question.
    b.eval("window.__before_reload = 1").unwrap();
    let _ = b.eval("setTimeout(() => location.reload(), 0)");
    b.wait_for(
        "!window.__before_reload && \
         document.querySelector('.approval-card[data-state=\"pending\"] button.approve') !== null && \
         document.querySelector('#status').dataset.state === 'running'",
        WAIT,
    )
    .unwrap();
    let card = b
        .eval("document.querySelector('.approval-card').textContent")
        .unwrap();
    let card = card.as_str().unwrap();
    assert!(
        card.contains("files__write") && card.contains("after-reload.txt"),
        "{card}"
    );
    assert!(
        card.contains("denied automatically in 1"),
        "the time left: {card}"
    );
    assert_eq!(
        b.eval("[...document.querySelectorAll('.msg.user')].map(m => m.textContent)")
            .unwrap(),
        serde_json::json!(["save a note"])
    );
    // While the turn runs nothing can be sent (no raw 409).
    b.type_text("#message-input", "and another").unwrap();
    b.click("#send-button").unwrap();
    b.eval(
        "document.querySelector('#message-input').dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}))",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.eval(
            "[document.querySelector('#send-button').disabled, \
             document.querySelector('#message-input').value, \
             document.querySelectorAll('.notice.error').length]"
        )
        .unwrap(),
        serde_json::json!([true, "and another", 0])
    );
    assert_eq!(server.request_count(), 1);

    b.click(".approval-card[data-state=\"pending\"] button.approve")
        .unwrap();
    b.wait_for(
        "document.querySelector('#status').dataset.state === 'idle' && \
         document.querySelector('.tool-card[data-status=\"ok\"]') !== null && \
         [...document.querySelectorAll('.msg.assistant strong')].some(s => s.textContent === 'after')",
        WAIT,
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(home.workspace.join("after-reload.txt")).unwrap(),
        "approved after a reload"
    );
    assert_eq!(
        b.eval("document.querySelector('#send-button').disabled")
            .unwrap(),
        false
    );
}

#[test]
fn the_sidebar_pages_searches_renames_and_deletes_sessions() {
    let home = Home::new();
    let store = home.store();
    for i in 0..119 {
        store.create_session(&format!("chat {i:03}")).unwrap();
    }
    let fruit = store.create_session("groceries").unwrap().id;
    let said = serde_json::json!({"role": "user", "text": "buy kumquats"});
    store
        .append(&fruit, Some("t"), EventKind::Message, &said)
        .unwrap();
    drop(store);
    let daemon = DaemonProc::start(&home);
    let mut b = open(&daemon);
    let items = "document.querySelectorAll('.session-item').length";

    // 50 at a time; the newest is listed, not opened.
    b.wait_for(
        &format!("{items} === 50 && document.querySelector('#more-sessions')"),
        WAIT,
    )
    .unwrap();
    assert_eq!(
        b.eval("[!!document.querySelector('#transcript .empty-state'), document.querySelectorAll('.session-item.active').length]")
            .unwrap(),
        serde_json::json!([true, 0])
    );
    b.click("#more-sessions").unwrap();
    b.wait_for(&format!("{items} === 100"), WAIT).unwrap();
    b.click("#more-sessions").unwrap();
    b.wait_for(
        &format!("{items} === 120 && !document.querySelector('#more-sessions')"),
        WAIT,
    )
    .unwrap();
    let ids = b
        .eval(
            "new Set([...document.querySelectorAll('.session-item')].map(e => e.dataset.id)).size",
        )
        .unwrap();
    assert_eq!(ids, 120, "no session listed twice");

    // Search by what was said.
    b.type_text("#session-search", "KUMQUAT").unwrap();
    b.wait_for(&format!("{items} === 1"), WAIT).unwrap();
    let row = format!("li.session[data-id=\"{fruit}\"]");
    b.wait_for(&format!("document.querySelector('{row}') !== null"), WAIT)
        .unwrap();

    // Rename.
    b.click(&format!("{row} button.rename")).unwrap();
    b.wait_for(
        &format!("document.querySelector('{row} .rename-input') !== null"),
        WAIT,
    )
    .unwrap();
    b.eval(&format!(
        "document.querySelector('{row} .rename-input').value = ''"
    ))
    .unwrap();
    b.type_text(&format!("{row} .rename-input"), "Kumquat shopping")
        .unwrap();
    b.click(&format!("{row} .save-rename")).unwrap();
    b.wait_for(
        &format!("document.querySelector('{row} .session-item .title')?.textContent === 'Kumquat shopping'"),
        WAIT,
    )
    .unwrap();
    assert_eq!(
        home.store().session(&fruit).unwrap().title,
        "Kumquat shopping"
    );

    // Delete asks first; Cancel keeps it, Delete removes it.
    b.click(&format!("{row} button.delete")).unwrap();
    b.wait_for(
        &format!("document.querySelector('{row} .confirm-delete') !== null"),
        WAIT,
    )
    .unwrap();
    b.click(&format!("{row} .cancel-delete")).unwrap();
    b.wait_for(
        &format!("document.querySelector('{row} .session-item') !== null"),
        WAIT,
    )
    .unwrap();
    assert!(home.store().session(&fruit).is_ok());
    b.click(&format!("{row} button.delete")).unwrap();
    b.click(&format!("{row} .confirm-delete")).unwrap();
    b.wait_for(&format!("document.querySelector('{row}') === null"), WAIT)
        .unwrap();
    assert!(matches!(
        home.store().session(&fruit),
        Err(StoreError::NoSession(_))
    ));
    assert_eq!(home.store().sessions().unwrap().len(), 119);
}
