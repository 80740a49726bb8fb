//! Slack end to end: a real `chitin daemon` in Socket Mode against the fake
//! Slack (tests/support/slack.rs) and a scripted model. Every wait is
//! bounded.

use crate::support::agent::{DaemonProc, Home};
use crate::support::model::{ModelServer, Reply};
use crate::support::slack::{
    self, APP_TOKEN, ApiCall, BOT_TOKEN, Failure, FakeSlack, dm, mention, press, wait_for,
};
use chitin::capabilities::secrets::SecretStore;
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

const OWNER: &str = "U0OWNER01";
const OWNER_DM: &str = "D0OWNER01";
const OTHER: &str = "U0OTHER02";
const OTHER_DM: &str = "D0OTHER02";
const GROUP: &str = "C0GROUP01";

const WAIT: Duration = Duration::from_secs(30);

/// Dropped in this order: the daemon first, so it never sees Slack go.
struct Rig {
    daemon: DaemonProc,
    slack: FakeSlack,
    model: ModelServer,
    home: Home,
}

/// A daemon with `[channels.slack]` on the fake (groups: [`GROUP`]), its
/// tokens in the secret store, connected.
fn rig(replies: Vec<Reply>, files: bool) -> Rig {
    rig_with(replies, files, BOT_TOKEN, "")
}

/// [`rig`] with this bot token and more `[channels]` keys.
fn rig_with(replies: Vec<Reply>, files: bool, bot_token: &str, channels: &str) -> Rig {
    let slack = FakeSlack::start();
    let home = Home::new();
    if files {
        home.install_files();
    }
    let model = ModelServer::start(replies);
    home.configure(
        "openai",
        &model,
        &format!(
            "approval_timeout_secs = 60\n\n[channels]\n{channels}\n[channels.slack]\napi_url = \"{}\"\ngroups = [\"{GROUP}\"]\n",
            slack.api_url()
        ),
    );
    let mut secrets = SecretStore::open(&home.home.join("config/secrets.json")).unwrap();
    secrets.set("SLACK_APP_TOKEN", APP_TOKEN).unwrap();
    secrets.set("SLACK_BOT_TOKEN", bot_token).unwrap();
    let daemon = DaemonProc::start(&home);
    Rig {
        daemon,
        slack,
        model,
        home,
    }
}

impl Rig {
    fn connected(&self) {
        wait_for("the adapter's Socket Mode connection", WAIT, || {
            (self.slack.open_sockets() > 0).then_some(())
        });
    }

    /// The `n`th message posted to `channel` (0-based), waiting for it.
    fn post(&self, channel: &str, n: usize) -> ApiCall {
        wait_for(&format!("message {n} in {channel}"), WAIT, || {
            self.slack.posted_to(channel).get(n).cloned()
        })
    }

    /// `user` messages the bot in `channel`, gets a code, and the owner
    /// pairs it with the CLI.
    fn pair(&self, user: &str, channel: &str) {
        let before = self.slack.posted_to(channel).len();
        self.slack.push(&dm(user, channel, "hello?"));
        let reply = self.post(channel, before);
        let code = code_in(reply.body["text"].as_str().unwrap())
            .unwrap_or_else(|| panic!("no pairing code in {}", reply.body));
        let (status, out, err) = self.home.chitin(&["channels", "pair", &code, "--yes"]);
        assert_eq!(status, 0, "pair: {out}{err}");
    }

    /// `GET /api/channels` (health, pairings).
    fn channels(&self) -> Value {
        let mut s = std::net::TcpStream::connect(&self.daemon.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /api/channels HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.daemon.addr, self.daemon.token
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let body = resp.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        serde_json::from_str(body).unwrap_or(Value::Null)
    }
}

/// A pairing code (`ABCD-EFGH`: A-Z and 2-9) in `text`.
fn code_in(text: &str) -> Option<String> {
    let ok = |b: u8| b.is_ascii_uppercase() || (b'2'..=b'9').contains(&b);
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(8)).find_map(|i| {
        let w = &bytes[i..i + 9];
        let fits = w[..4].iter().all(|&b| ok(b)) && w[4] == b'-' && w[5..].iter().all(|&b| ok(b));
        let bounded = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        (fits && bounded).then(|| text[i..i + 9].to_string())
    })
}

#[test]
fn unknown_sender_gets_a_code_then_is_served_after_pairing() {
    let r = rig(vec![Reply::text("Hello from the **agent**.")], false);
    r.connected();
    let first = dm(OWNER, OWNER_DM, "hi there");
    let envelope = r.slack.push(&first);
    let reply = r.post(OWNER_DM, 0);
    let text = reply.body["text"].as_str().unwrap();
    let code = code_in(text).unwrap_or_else(|| panic!("no code in {text:?}"));
    assert_eq!(
        r.model.request_count(),
        0,
        "nothing runs for an unknown sender"
    );
    // The envelope is acknowledged once.
    let acks = wait_for("the ack", WAIT, || {
        let a = r.slack.acks_of(&envelope);
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(acks.len(), 1);
    // The Web API saw the right token for each call, as a Bearer header.
    for c in r.slack.calls() {
        let want = if c.method == "apps.connections.open" {
            APP_TOKEN
        } else {
            BOT_TOKEN
        };
        assert_eq!(
            c.headers["authorization"],
            format!("Bearer {want}"),
            "{}",
            c.method
        );
        assert!(c.headers["content-type"].starts_with("application/json"));
    }
    assert_eq!(r.slack.ok_calls("auth.test").len(), 1);

    let (status, out, err) = r.home.chitin(&["channels", "pair", &code, "--yes"]);
    assert_eq!(status, 0, "{out}{err}");
    r.slack.push(&dm(OWNER, OWNER_DM, "hi again"));
    let answer = r.post(OWNER_DM, 1);
    assert_eq!(answer.body["text"], "Hello from the *agent*.");
    assert!(answer.body.get("thread_ts").is_none(), "{}", answer.body);
    assert_eq!(answer.body["unfurl_links"], false);
    let asked = r.model.requests();
    assert!(format!("{:?}", asked.last().unwrap()).contains("hi again"));
}

#[test]
fn approval_pressed_by_another_user_is_refused_and_by_the_owner_runs_the_tool() {
    let write = serde_json::json!({ "path": "from-slack.txt", "content": "written" }).to_string();
    let r = rig(
        vec![
            Reply::tool("files__write", &write),
            Reply::text("Wrote it."),
        ],
        true,
    );
    r.connected();
    r.pair(OWNER, OWNER_DM);
    r.pair(OTHER, OTHER_DM);
    r.slack.push(&dm(OWNER, OWNER_DM, "write the file"));
    let question = r.post(OWNER_DM, 1);
    let approval =
        slack::approval_id(&question).unwrap_or_else(|| panic!("no buttons: {}", question.body));
    assert!(
        question.body["text"]
            .as_str()
            .unwrap()
            .contains("files__write"),
        "{}",
        question.body
    );
    let blocks = question.body["blocks"].as_array().unwrap();
    let buttons = &blocks.last().unwrap()["elements"];
    assert_eq!(buttons[0]["style"], "primary");
    assert_eq!(buttons[1]["action_id"], "chitin_deny");
    assert_eq!(buttons[1]["value"], approval.as_str());

    // Someone else (paired, but not the one who asked) presses Approve.
    let stranger = r.slack.push(&press(OTHER, &question, true));
    let refusal = wait_for("the refusal notice", WAIT, || {
        r.slack.ok_calls("chat.postEphemeral").into_iter().next()
    });
    assert_eq!(refusal.body["user"], OTHER);
    assert_eq!(refusal.body["channel"], OWNER_DM);
    assert!(
        refusal.body["text"]
            .as_str()
            .unwrap()
            .contains("Only the person who asked"),
        "{}",
        refusal.body
    );
    assert_eq!(r.slack.acks_of(&stranger).len(), 1);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !r.home.workspace.join("from-slack.txt").exists(),
        "the tool ran on a stranger's press"
    );
    assert!(
        r.slack.ok_calls("chat.update").is_empty(),
        "the buttons went on a refused press"
    );

    // The owner approves: the tool runs, the buttons go, the answer comes.
    r.slack.push(&press(OWNER, &question, true));
    let answer = r.post(OWNER_DM, 2);
    assert_eq!(answer.body["text"], "Wrote it.");
    assert_eq!(
        std::fs::read_to_string(r.home.workspace.join("from-slack.txt")).unwrap(),
        "written"
    );
    let update = wait_for("the buttons' removal", WAIT, || {
        r.slack.ok_calls("chat.update").into_iter().next()
    });
    assert_eq!(update.body["ts"], question.ts.clone().unwrap().as_str());
    let shown = update.body["blocks"].to_string();
    assert!(
        shown.contains("Approved") && !shown.contains("chitin_approve"),
        "{shown}"
    );
}

#[test]
fn a_long_answer_is_sent_in_chunks() {
    let para = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. ";
    let long: String = (0..12)
        .map(|i| format!("Part {i}. {}\n\n", para.repeat(10)))
        .collect();
    let r = rig(vec![Reply::text(&long)], false);
    r.connected();
    r.pair(OWNER, OWNER_DM);
    r.slack.push(&dm(OWNER, OWNER_DM, "tell me a lot"));
    let last = wait_for("every chunk", WAIT, || {
        let posts = r.slack.posted_to(OWNER_DM);
        posts
            .iter()
            .any(|p| p.body["text"].as_str().unwrap_or("").contains("Part 11."))
            .then_some(posts)
    });
    let chunks: Vec<&str> = last[1..]
        .iter()
        .map(|p| p.body["text"].as_str().unwrap())
        .collect();
    assert!(chunks.len() >= 3, "{} chunk(s)", chunks.len());
    for c in &chunks {
        assert!(
            c.chars().count() <= 4000,
            "a chunk of {} chars",
            c.chars().count()
        );
    }
    let joined = chunks.join("\n");
    let order: Vec<usize> = (0..12)
        .map(|i| joined.find(&format!("Part {i}.")).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "chunks out of order");
}

#[test]
fn rate_limits_and_outages_are_retried() {
    let r = rig(vec![Reply::text("Made it through.")], false);
    r.connected();
    r.pair(OWNER, OWNER_DM);
    r.slack.fail("chat.postMessage", Failure::RateLimited(1));
    r.slack.fail("chat.postMessage", Failure::Status(500));
    r.slack.push(&dm(OWNER, OWNER_DM, "go"));
    let answer = r.post(OWNER_DM, 1);
    assert_eq!(answer.body["text"], "Made it through.");
    let statuses: Vec<u16> = r
        .slack
        .calls()
        .iter()
        .filter(|c| c.method == "chat.postMessage")
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![200, 429, 500, 200]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        r.slack.posted_to(OWNER_DM).len(),
        2,
        "the answer was sent twice"
    );
}

#[test]
fn malformed_envelopes_are_acked_and_skipped() {
    let r = rig(vec![Reply::text("Still here.")], false);
    r.connected();
    r.pair(OWNER, OWNER_DM);
    r.slack.push_raw("this is not json {");
    r.slack
        .push_raw(r#"{"type":"events_api","envelope_id":"bad id with spaces"}"#);
    let mut no_event = dm(OWNER, OWNER_DM, "x");
    no_event["payload"]["event"] = Value::Null;
    let no_event_id = r.slack.push(&no_event);
    let mut hostile = dm(OWNER, OWNER_DM, "x");
    hostile["payload"]["event"]["channel"] = Value::from("D1/../../etc");
    let hostile_id = r.slack.push(&hostile);
    let mut unknown = dm(OWNER, OWNER_DM, "x");
    unknown["type"] = Value::from("some_future_type");
    let unknown_id = r.slack.push(&unknown);
    let good = r.slack.push(&dm(OWNER, OWNER_DM, "are you there?"));
    let answer = r.post(OWNER_DM, 1);
    assert_eq!(answer.body["text"], "Still here.");
    for id in [&no_event_id, &hostile_id, &unknown_id, &good] {
        let n = wait_for("acks", WAIT, || {
            let n = r.slack.acks_of(id).len();
            (n > 0).then_some(n)
        });
        assert_eq!(n, 1, "{id}");
    }
    assert_eq!(r.model.request_count(), 1, "a skipped envelope ran a turn");
    assert_eq!(
        r.slack.connections(),
        1,
        "a malformed frame broke the connection"
    );
}

#[test]
fn redelivery_refresh_mentions_and_commands() {
    let r = rig(
        vec![Reply::text("Answer one."), Reply::text("In the thread.")],
        false,
    );
    r.connected();
    r.pair(OWNER, OWNER_DM);
    // Slack redelivers an envelope (same event_id): answered once.
    let msg = dm(OWNER, OWNER_DM, "once");
    r.slack.push(&msg);
    let mut again = msg.clone();
    again["envelope_id"] = Value::from("ffff0000-e2e2-4223-8a9e-2c803925bf02");
    again["retry_attempt"] = Value::from(1);
    let again_id = r.slack.push(&again);
    assert_eq!(r.post(OWNER_DM, 1).body["text"], "Answer one.");
    wait_for("the redelivery's ack", WAIT, || {
        (!r.slack.acks_of(&again_id).is_empty()).then_some(())
    });

    // Slack asks for a fresh connection: the adapter opens a new URL.
    r.slack.disconnect("refresh_requested");
    wait_for("a second connection", WAIT, || {
        (r.slack.connections() >= 2).then_some(())
    });
    r.connected();

    // A mention in an allowed channel is answered in a thread at it.
    let m = mention(OWNER, GROUP, "what now?");
    let ts = m["payload"]["event"]["ts"].as_str().unwrap().to_string();
    r.slack.push(&m);
    let threaded = r.post(GROUP, 0);
    assert_eq!(threaded.body["text"], "In the thread.");
    assert_eq!(threaded.body["thread_ts"], ts.as_str());
    // One in a channel not listed gets nothing.
    let elsewhere = r.slack.push(&mention(OWNER, "C0NOTLISTED", "hello?"));
    wait_for("its ack", WAIT, || {
        (!r.slack.acks_of(&elsewhere).is_empty()).then_some(())
    });

    // `/status` as a slash command.
    r.slack.push(&slack::slash(OWNER, OWNER_DM, "/status", ""));
    let status = r.post(OWNER_DM, 2);
    assert!(
        status.body["text"].as_str().unwrap().contains("Session"),
        "{}",
        status.body
    );
    assert!(r.slack.posted_to("C0NOTLISTED").is_empty());
    assert_eq!(r.model.request_count(), 2);
    assert_eq!(r.channels()["channels"]["slack"]["state"], "connected");
}

#[test]
fn a_refused_bot_token_fails_the_channel_without_showing_it() {
    let wrong = "xoxb-0000000000-revokedtoken";
    let r = rig_with(vec![], false, wrong, "");
    let health = wait_for("the failed health", WAIT, || {
        let c = r.channels();
        (c["channels"]["slack"]["state"] == "failed").then_some(c)
    });
    let shown = health.to_string();
    assert!(shown.contains("SLACK_BOT_TOKEN"), "{shown}");
    assert!(
        !shown.contains(wrong) && !shown.contains(APP_TOKEN),
        "{shown}"
    );
    // Not retried: one auth.test, no connection.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(r.slack.calls().len(), 1);
    assert_eq!(r.slack.connections(), 0);
}

#[test]
fn over_the_rate_limit_the_sender_is_told_privately() {
    let r = rig_with(
        vec![Reply::text("First.")],
        false,
        BOT_TOKEN,
        "rate_per_minute = 2",
    );
    r.connected();
    r.pair(OWNER, OWNER_DM);
    r.slack.push(&dm(OWNER, OWNER_DM, "one"));
    assert_eq!(r.post(OWNER_DM, 1).body["text"], "First.");
    let over = r.slack.push(&dm(OWNER, OWNER_DM, "two"));
    let notice = wait_for("the rate-limit notice", WAIT, || {
        r.slack.ok_calls("chat.postEphemeral").into_iter().next()
    });
    assert_eq!(notice.body["user"], OWNER);
    assert_eq!(notice.body["channel"], OWNER_DM);
    assert!(
        notice.body["text"].as_str().unwrap().contains("Too many"),
        "{}",
        notice.body
    );
    assert_eq!(r.slack.acks_of(&over).len(), 1);
    assert_eq!(r.model.request_count(), 1);
}

#[test]
fn an_acknowledged_message_survives_a_crash_and_is_not_answered_twice() {
    let mut r = rig(vec![Reply::Hang], false);
    r.connected();
    r.pair(OWNER, OWNER_DM);
    let msg = dm(OWNER, OWNER_DM, "do not lose me");
    let envelope = r.slack.push(&msg);
    // Acknowledged (so Slack will not send it again) while its turn runs.
    wait_for("the ack", WAIT, || {
        (!r.slack.acks_of(&envelope).is_empty()).then_some(())
    });
    wait_for("the turn to start", WAIT, || {
        (r.model.request_count() == 1).then_some(())
    });
    r.daemon.child.kill().unwrap();
    r.daemon.child.wait().unwrap();
    r.daemon = DaemonProc::start(&r.home);
    wait_for("the new daemon's connection", WAIT, || {
        (r.slack.connections() >= 2).then_some(())
    });
    r.connected();
    // The hub kept it: the sender hears about it (a turn a crash cut is
    // not run again behind their back).
    let told = r.post(OWNER_DM, 1);
    assert!(
        told.body["text"].as_str().unwrap().contains("stopped"),
        "{}",
        told.body
    );
    // Slack redelivers it anyway: not answered again.
    let mut again = msg.clone();
    again["envelope_id"] = Value::from("eeee0000-e2e2-4223-8a9e-2c803925bf02");
    let again_id = r.slack.push(&again);
    wait_for("the redelivery's ack", WAIT, || {
        (!r.slack.acks_of(&again_id).is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(r.slack.posted_to(OWNER_DM).len(), 2);
    assert_eq!(r.model.request_count(), 1);
}

#[test]
fn slash_stop_cancels_the_running_turn() {
    let r = rig(vec![Reply::Hang], false);
    r.connected();
    r.pair(OWNER, OWNER_DM);
    r.slack.push(&dm(OWNER, OWNER_DM, "think forever"));
    wait_for("the turn to start", WAIT, || {
        (r.model.request_count() == 1).then_some(())
    });
    let stop = r.slack.push(&slack::slash(OWNER, OWNER_DM, "/stop", ""));
    let texts = wait_for("the stop and the stopped answer", WAIT, || {
        let texts: Vec<String> = r
            .slack
            .posted_to(OWNER_DM)
            .iter()
            .skip(1)
            .map(|p| p.body["text"].as_str().unwrap_or("").to_string())
            .collect();
        (texts.len() >= 2).then_some(texts)
    });
    assert!(texts.iter().any(|t| t == "Stopping."), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("stopped")), "{texts:?}");
    assert_eq!(r.slack.acks_of(&stop).len(), 1);
}
