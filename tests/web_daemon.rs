//! The web chat against the real daemon in headless Chromium: the page the
//! daemon serves, the token from the URL fragment, a streamed turn whose
//! tool call needs approval, the Approve button, the sandboxed skill really
//! writing the file, and the denial path.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;
use support::agent::{DaemonProc, Home};
use support::browser::Browser;
use support::model::{ModelServer, Reply};

const WAIT: Duration = Duration::from_secs(30);

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
    let mut b =
        Browser::launch(&format!("http://{}/#token={}", daemon.addr, daemon.token)).unwrap();

    // Approve: the tool runs in the sandbox and the file appears.
    send(&mut b, "save a note");
    b.wait_for(
        "document.querySelector('.approval-card[data-state=\"pending\"] button.approve') !== null",
        WAIT,
    )
    .unwrap();
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
