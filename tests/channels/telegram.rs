//! Telegram end to end: a real `chitin daemon` long-polling the fake Bot
//! API (tests/support/telegram.rs), with a scripted model.

use crate::support::agent::{DaemonProc, Home};
use crate::support::model::{ModelServer, Reply};
use crate::support::telegram::{self as tg, FakeTelegram};
use serde_json::Value;
use std::time::Duration;

const TOKEN: &str = "123456:ABC-test-token-never-logged";
const OWNER: i64 = 4242;
const STRANGER: i64 = 6666;
const WAIT: Duration = Duration::from_secs(20);

/// A home configured for `model` with Telegram pointed at `fake`.
fn home_for(model: &ModelServer, fake: &FakeTelegram, extra: &str) -> Home {
    let home = Home::new();
    home.configure(
        "openai",
        model,
        &format!("[channels.telegram]\napi_url = \"{}\"\n{extra}", fake.base),
    );
    home.set_secret("TELEGRAM_BOT_TOKEN", TOKEN);
    home
}

/// The pairing code in a message the bot sent.
fn code_in(message: &Value) -> String {
    let text = message["text"].as_str().unwrap();
    let at = text
        .find("pair ")
        .expect("a pairing command in the message")
        + 5;
    text[at..at + 9].to_string()
}

/// Pair `user`: they message the bot, the owner redeems the code.
fn pair(home: &Home, fake: &FakeTelegram, user: i64) {
    let before = fake.sent_to(user).len();
    fake.push(tg::text(user, "Owner", "hello?"));
    let sent = fake.wait_sent(user, before + 1, WAIT);
    let code = code_in(&sent[before]);
    let (rc, out, err) = home.chitin(&["channels", "pair", &code, "--yes"]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("paired"), "{out}");
}

#[test]
fn nobody_is_served_until_the_owner_pairs_them() {
    let model = ModelServer::start(vec![Reply::text("Hello, **owner**!")]);
    let fake = FakeTelegram::start(TOKEN);
    let home = home_for(&model, &fake, "");
    let _daemon = DaemonProc::start(&home);

    // An unknown sender gets a code and nothing else.
    fake.push(tg::text(STRANGER, "Mallory", "run rm -rf / please"));
    let sent = fake.wait_sent(STRANGER, 1, WAIT);
    let code = code_in(&sent[0]);
    assert!(
        chitin::channels::hub::pairing::normalize(&code).is_some(),
        "{code}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        model.requests().is_empty(),
        "the model must not see a stranger's message"
    );

    // A made-up code pairs nobody; a real one is not redeemed without
    // the owner confirming who it pairs.
    let (rc, _, err) = home.chitin(&["channels", "pair", "ZZZZ-ZZZZ", "--yes"]);
    assert_ne!(rc, 0);
    assert!(err.contains("no live pairing code"), "{err}");
    let (rc, _, err) = home.chitin(&["channels", "pair", &code]);
    assert_ne!(rc, 0, "no terminal, no --yes: refused");
    assert!(
        err.contains(&format!("telegram user {STRANGER} (Mallory)")),
        "{err}"
    );
    assert!(err.contains("--yes"), "{err}");

    // The owner pairs the stranger's code only if they mean it: here they
    // pair their own, so the stranger stays out.
    pair(&home, &fake, OWNER);
    fake.push(tg::text(OWNER, "Owner", "hi"));
    let sent = fake.wait_sent(OWNER, 2, WAIT);
    assert_eq!(sent[1]["text"], "Hello, <b>owner</b>!");
    assert_eq!(sent[1]["parse_mode"], "HTML");
    assert_eq!(model.requests().len(), 1);

    fake.push(tg::text(STRANGER, "Mallory", "and now?"));
    let again = fake.wait_sent(STRANGER, 2, WAIT);
    assert_eq!(
        code_in(&again[1]),
        code,
        "the same live code, not a new one"
    );
    assert_eq!(model.requests().len(), 1);

    // Listed, then revoked.
    let (_, out, _) = home.chitin(&["channels", "list"]);
    assert!(out.contains(&format!("paired   telegram {OWNER}")), "{out}");
    assert!(out.contains("waiting"), "the stranger's code waits: {out}");
    let (rc, _, err) = home.chitin(&["channels", "unpair", "telegram", &OWNER.to_string()]);
    assert_eq!(rc, 0, "{err}");
    fake.push(tg::text(OWNER, "Owner", "still there?"));
    let sent = fake.wait_sent(OWNER, 3, WAIT);
    assert!(code_in(&sent[2]).len() == 9);
    assert_eq!(model.requests().len(), 1);
    // The token never reaches the config or a message.
    let config = std::fs::read_to_string(home.home.join("config/config.toml")).unwrap();
    assert!(!config.contains(TOKEN));
}

#[test]
fn approvals_are_answered_by_the_owner_only() {
    let model = ModelServer::start(vec![
        Reply::tool("files__write", r#"{"path":"from-chat.txt","content":"hi"}"#),
        Reply::text("written"),
    ]);
    let fake = FakeTelegram::start(TOKEN);
    let home = home_for(&model, &fake, "");
    home.install_files();
    let _daemon = DaemonProc::start(&home);
    pair(&home, &fake, OWNER);

    fake.push(tg::text(OWNER, "Owner", "write the file"));
    let sent = fake.wait_sent(OWNER, 2, WAIT);
    let question = &sent[1];
    assert!(
        question["text"].as_str().unwrap().contains("files__write"),
        "{question}"
    );
    let buttons = &question["reply_markup"]["inline_keyboard"][0];
    let approve = buttons[0]["callback_data"].as_str().unwrap().to_string();
    assert!(
        approve.starts_with("ap:") && approve.ends_with(":y"),
        "{approve}"
    );

    // Someone else presses Approve: refused, nothing runs.
    fake.push(tg::press(OWNER, STRANGER, 101, &approve));
    let refusal = fake.wait_call("answerCallbackQuery", WAIT, |b| {
        b["callback_query_id"] == format!("cb{STRANGER}101")
    });
    assert!(
        refusal["text"]
            .as_str()
            .unwrap()
            .contains("Only the person who asked"),
        "{refusal}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(!home.workspace.join("from-chat.txt").exists());

    // The owner presses it: the tool runs, the answer arrives.
    fake.push(tg::press(OWNER, OWNER, 101, &approve));
    let sent = fake.wait_sent(OWNER, 3, WAIT);
    assert_eq!(sent[2]["text"], "written");
    assert_eq!(
        std::fs::read_to_string(home.workspace.join("from-chat.txt")).unwrap(),
        "hi"
    );
    let ok = fake.wait_call("answerCallbackQuery", WAIT, |b| {
        b["callback_query_id"] == format!("cb{OWNER}101")
    });
    assert_eq!(ok["text"], "Approved.");
    // Its buttons are taken away.
    fake.wait_call("editMessageReplyMarkup", WAIT, |b| b["message_id"] == 101);
}

#[test]
fn a_long_answer_is_chunked_and_stop_cancels_a_waiting_turn() {
    let long: String = (0..400)
        .map(|i| format!("Line {i} of a long answer.\n"))
        .collect();
    let model = ModelServer::start(vec![
        Reply::text(&long),
        Reply::tool("files__write", r#"{"path":"never.txt","content":"x"}"#),
        Reply::text("unused"),
    ]);
    let fake = FakeTelegram::start(TOKEN);
    let home = home_for(&model, &fake, "");
    home.install_files();
    let _daemon = DaemonProc::start(&home);
    pair(&home, &fake, OWNER);

    fake.push(tg::text(OWNER, "Owner", "tell me a lot"));
    std::thread::sleep(Duration::from_millis(200));
    let end = std::time::Instant::now() + WAIT;
    let chunks = loop {
        let sent = fake.sent_to(OWNER);
        let text: String = sent[1..]
            .iter()
            .map(|m| m["text"].as_str().unwrap().to_string() + "\n")
            .collect();
        if text.contains("Line 399") {
            break sent[1..].to_vec();
        }
        assert!(
            std::time::Instant::now() < end,
            "the whole answer did not arrive"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(chunks.len() >= 3, "{} chunks", chunks.len());
    for c in &chunks {
        assert!(c["text"].as_str().unwrap().chars().count() <= 4096);
    }
    let joined: String = chunks
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    for i in 0..400 {
        assert_eq!(
            joined.matches(&format!("Line {i} of")).count(),
            1,
            "line {i} once"
        );
    }

    // A turn waiting for approval; /stop cancels it.
    let before = fake.sent_to(OWNER).len();
    fake.push(tg::text(OWNER, "Owner", "write never.txt"));
    fake.wait_sent(OWNER, before + 1, WAIT);
    fake.push(tg::text(OWNER, "Owner", "/stop"));
    let sent = fake.wait_sent(OWNER, before + 3, WAIT);
    let texts: Vec<&str> = sent[before..]
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"Stopping."), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("stopped")), "{texts:?}");
    assert!(!home.workspace.join("never.txt").exists());
}

#[test]
fn platform_errors_are_retried_and_bad_updates_skipped() {
    let model = ModelServer::start(vec![Reply::text("made it")]);
    let fake = FakeTelegram::start(TOKEN);
    let home = home_for(&model, &fake, "");
    let _daemon = DaemonProc::start(&home);
    pair(&home, &fake, OWNER);

    // A malformed update and one without an id, then a good one.
    fake.push(serde_json::json!({"message": {"chat": "not an object", "text": 5}}));
    fake.push_raw(serde_json::json!({"message": {"text": "no update id"}}));
    fake.fail_next("sendMessage", 429, Some(1));
    fake.fail_next("sendMessage", 502, None);
    fake.push(tg::text(OWNER, "Owner", "are you there?"));
    let sent = fake.wait_sent(OWNER, 4, WAIT);
    let delivered: Vec<&Value> = sent.iter().filter(|m| m["text"] == "made it").collect();
    // Two refused attempts, then the one that got through.
    assert_eq!(delivered.len(), 3, "{sent:#?}");
    assert_eq!(model.requests().len(), 1, "one turn, however many sends");
    let (rc, out, err) = home.chitin(&["channels", "status"]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(out.contains("telegram: connected"), "{out}");
}

#[test]
fn groups_are_answered_only_when_listed_and_mentioned() {
    let model = ModelServer::start(vec![Reply::text("group answer")]);
    let fake = FakeTelegram::start(TOKEN);
    let home = home_for(&model, &fake, "groups = [\"-1001\"]\n");
    let _daemon = DaemonProc::start(&home);
    pair(&home, &fake, OWNER);

    fake.push(tg::group_text(
        -1002,
        OWNER,
        "Owner",
        "@chitin_test_bot hello",
    ));
    fake.push(tg::group_text(-1001, OWNER, "Owner", "no mention here"));
    fake.push(tg::group_text(
        -1001,
        STRANGER,
        "Mallory",
        "@chitin_test_bot me too",
    ));
    fake.push(tg::group_text(
        -1001,
        OWNER,
        "Owner",
        "@chitin_test_bot hello",
    ));
    let sent = fake.wait_sent(-1001, 2, WAIT);
    let texts: Vec<&str> = sent.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert!(texts.contains(&"group answer"), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("direct message")),
        "{texts:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        fake.sent_to(-1002).is_empty(),
        "an unlisted group gets nothing"
    );
    assert_eq!(model.requests().len(), 1);
    let asked = &model.requests()[0].body;
    assert!(
        asked.to_string().contains("hello") && !asked.to_string().contains("@chitin_test_bot"),
        "the mention is stripped"
    );
}

#[test]
fn a_restart_neither_loses_nor_repeats_an_answer() {
    let model = ModelServer::repeat(Reply::text("answer"));
    let fake = FakeTelegram::start(TOKEN);
    let home = home_for(&model, &fake, "");
    let mut daemon = DaemonProc::start(&home);
    pair(&home, &fake, OWNER);
    fake.push(tg::text(OWNER, "Owner", "first"));
    fake.wait_sent(OWNER, 2, WAIT);
    assert_eq!(daemon.stop(), 0);

    // Sent while the daemon is down, then everything redelivered as if
    // Telegram lost the confirmations.
    fake.push(tg::text(OWNER, "Owner", "second"));
    fake.unconfirm();
    let _daemon = DaemonProc::start(&home);
    let sent = fake.wait_sent(OWNER, 3, WAIT);
    std::thread::sleep(Duration::from_millis(1500));
    let answers = fake
        .sent_to(OWNER)
        .iter()
        .filter(|m| m["text"] == "answer")
        .count();
    assert_eq!(answers, 2, "each message answered once: {sent:#?}");
    let asked: Vec<String> = model
        .requests()
        .iter()
        .map(|r| r.body["messages"].as_array().unwrap().last().unwrap()["content"].to_string())
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[1].contains("second"), "{asked:?}");
}

/// A chat's messages run one turn at a time: one sent while a turn waits
/// for approval is answered after it, with that turn in its history (the
/// first turn never sees it); `/new` starts a conversation without them;
/// `doctor` reports the channel; the bot token reaches no log line, even
/// at debug level with a send failing on the way.
#[test]
fn a_chats_messages_wait_their_turn_and_new_starts_over() {
    let model = ModelServer::start(vec![
        Reply::tool("files__write", r#"{"path":"one.txt","content":"1"}"#),
        Reply::text("first done"),
        Reply::text("second done"),
        Reply::text("third done"),
    ]);
    let fake = FakeTelegram::start(TOKEN);
    let home = home_for(&model, &fake, "");
    home.install_files();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chitin"));
    cmd.args(["daemon", "--listen", "127.0.0.1:0"])
        .env("CHITIN_LOG", "debug");
    let (mut daemon, log) = DaemonProc::spawn_logged(&home, cmd);

    // Paired through the API this time (as the web page would).
    fake.push(tg::text(OWNER, "Owner", "hello?"));
    let code = code_in(&fake.wait_sent(OWNER, 1, WAIT)[0]);
    let api = daemon.client(&daemon.token);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pair_with = |code: &str| {
        rt.block_on(api.call(
            "POST",
            "/api/channels/pair",
            Some(serde_json::json!({ "code": code })),
        ))
    };
    assert_eq!(pair_with("not a code").0, 400);
    assert_eq!(pair_with("ZZZZ-ZZZZ").0, 404);
    let (status, paired) = pair_with(&code);
    assert_eq!(status, 200, "{paired}");
    assert_eq!(paired["channel"], "telegram", "{paired}");
    assert_eq!(paired["sender_id"], OWNER.to_string(), "{paired}");
    assert_eq!(pair_with(&code).0, 404, "a code pairs once");
    let (_, out, err) = home.chitin(&["doctor"]);
    assert!(
        out.contains("ok    channel telegram: connected"),
        "{out}{err}"
    );
    // The turns' requests (doctor's own reach the model server too).
    let turns = || -> Vec<crate::support::model::ModelRequest> {
        model
            .requests()
            .into_iter()
            .filter(|r| r.body["messages"].is_array())
            .collect()
    };

    fake.push(tg::text(OWNER, "Owner", "write one.txt"));
    let sent = fake.wait_sent(OWNER, 2, WAIT);
    let approve = sent[1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_string();
    fake.push(tg::text(OWNER, "Owner", "and the second thing"));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        turns().len(),
        1,
        "the second message waits for the first turn"
    );
    assert_eq!(fake.sent_to(OWNER).len(), 2, "{:#?}", fake.sent_to(OWNER));
    fake.push(tg::press(OWNER, OWNER, 102, &approve));
    let sent = fake.wait_sent(OWNER, 4, WAIT);
    let texts: Vec<&str> = sent[2..4]
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first done", "second done"]);
    assert_eq!(
        std::fs::read_to_string(home.workspace.join("one.txt")).unwrap(),
        "1"
    );

    let history = |i: usize| -> Vec<String> {
        turns()[i].body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].to_string())
            .collect()
    };
    assert_eq!(turns().len(), 3);
    assert!(
        history(1).iter().all(|c| !c.contains("second thing")),
        "the first turn saw the second message: {:?}",
        history(1)
    );
    let second = history(2);
    let at = |needle: &str| second.iter().position(|c| c.contains(needle));
    assert!(
        second.last().unwrap().contains("and the second thing"),
        "{second:?}"
    );
    assert!(
        at("write one.txt") < at("first done") && at("first done").is_some(),
        "the second turn follows the whole first one: {second:?}"
    );

    // `/new`: the next message starts without the earlier ones; one of its
    // sends fails on the way and is sent again.
    fake.push(tg::text(OWNER, "Owner", "/new"));
    let sent = fake.wait_sent(OWNER, 5, WAIT);
    assert_eq!(sent[4]["text"], "New conversation started.");
    fake.fail_next("sendMessage", 502, None);
    fake.push(tg::text(OWNER, "Owner", "third"));
    let sent = fake.wait_sent(OWNER, 7, WAIT);
    assert_eq!(sent[6]["text"], "third done", "{sent:#?}");
    let third = history(3);
    assert!(third.last().unwrap().contains("third"), "{third:?}");
    assert!(
        third
            .iter()
            .all(|c| !c.contains("write one.txt") && !c.contains("second thing")),
        "/new kept the old conversation: {third:?}"
    );

    assert_eq!(daemon.stop(), 0);
    let log = log.join().unwrap();
    assert!(
        log.contains("sendMessage"),
        "the failed send is logged: {log}"
    );
    assert!(
        !log.contains(TOKEN) && !log.contains("ABC-test-token"),
        "the bot token is in the daemon log:\n{log}"
    );
}
