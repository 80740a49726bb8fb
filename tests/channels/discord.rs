//! Discord end to end: a real `chitin daemon` against the fake Discord
//! (tests/support/discord.rs: REST and the gateway, documented shapes)
//! with a scripted model. Every wait is bounded.

use crate::support::agent::{DaemonProc, Home};
use crate::support::discord::{
    BOT_ID, BOT_TOKEN, Failure, FakeDiscord, GUILD_CHANNEL, OTHER, OWNER, OWNER_DM,
};
use crate::support::model::{ModelServer, Reply};
use chitin::capabilities::secrets::SecretStore;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Poll `f` every 25 ms until it gives something, for at most `secs`.
fn wait<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A daemon serving Discord through the fake. Fields drop in order: the
/// daemon stops before its fakes.
struct Rig {
    daemon: DaemonProc,
    discord: FakeDiscord,
    model: ModelServer,
    home: Home,
}

fn rig(replies: Vec<Reply>, files: bool, token: &str) -> Rig {
    let home = Home::new();
    if files {
        home.install_files();
    }
    let discord = FakeDiscord::start();
    let model = ModelServer::start(replies);
    home.configure(
        "openai",
        &model,
        &format!(
            "approval_timeout_secs = 60\n\n[channels.discord]\napi_url = \"{}\"\ngroups = [\"{GUILD_CHANNEL}\"]\n",
            discord.api_url()
        ),
    );
    let mut secrets = SecretStore::open(&home.home.join("config/secrets.json")).unwrap();
    secrets.set("DISCORD_BOT_TOKEN", token).unwrap();
    let daemon = DaemonProc::start(&home);
    Rig {
        daemon,
        discord,
        model,
        home,
    }
}

/// The first `XXXX-XXXX` pairing code in `text`.
fn code_in(text: &str) -> Option<String> {
    let ok =
        |c: char| (c.is_ascii_uppercase() && !matches!(c, 'I' | 'O')) || ('2'..='9').contains(&c);
    let chars: Vec<char> = text.chars().collect();
    chars.windows(9).find_map(|w| {
        (w[4] == '-' && w[..4].iter().all(|&c| ok(c)) && w[5..].iter().all(|&c| ok(c)))
            .then(|| w.iter().collect())
    })
}

fn contents(r: &Rig, channel: &str) -> Vec<String> {
    r.discord
        .messages(channel)
        .iter()
        .map(|m| m["content"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Wait for a message in `channel` containing `text`; its body.
fn answer(r: &Rig, channel: &str, text: &str, secs: u64) -> Value {
    wait(&format!("a message with {text:?}"), secs, || {
        r.discord
            .messages(channel)
            .into_iter()
            .find(|m| m["content"].as_str().is_some_and(|c| c.contains(text)))
    })
}

/// The owner messages the bot, gets a code, and pairs it with the CLI.
fn pair(r: &Rig) {
    wait("the gateway", 30, || r.discord.is_live().then_some(()));
    r.discord.dm("hello?");
    let code = wait("a pairing code", 20, || {
        contents(r, OWNER_DM).iter().find_map(|c| code_in(c))
    });
    assert_eq!(contents(r, OWNER_DM).len(), 1, "only the code is sent");
    assert_eq!(r.model.request_count(), 0, "nothing ran for a stranger");
    let (status, out, err) = r.home.chitin(&["channels", "pair", &code, "--yes"]);
    assert_eq!(status, 0, "pairing: {out}{err}");
}

/// The interaction callback answering `id`.
fn callback(r: &Rig, id: &str) -> Value {
    wait("the interaction response", 10, || {
        r.discord
            .callbacks()
            .into_iter()
            .find(|(i, _)| i == id)
            .map(|(_, b)| b)
    })
}

/// The channels' health as the daemon reports it.
fn health(r: &Rig) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let api = r.daemon.client(&r.daemon.token);
    let (status, body) = rt.block_on(api.call("GET", "/api/channels", None));
    assert_eq!(status, 200, "{body}");
    body["channels"]["discord"].clone()
}

#[test]
fn an_unknown_sender_gets_a_code_and_is_served_once_paired() {
    let r = rig(vec![Reply::text("Hello from the model.")], false, BOT_TOKEN);
    pair(&r);
    r.discord.dm("What's up?");
    let sent = answer(&r, OWNER_DM, "Hello from the model.", 30);
    assert_eq!(sent["allowed_mentions"], json!({"parse": []}));
    assert!(sent.get("components").is_none());
    let asked = r.model.requests()[0].body.to_string();
    assert!(asked.contains("What's up?"), "{asked}");

    // The wire: every request as the bot, typing shown, the gateway
    // identified with the message intents and kept alive.
    let calls = r.discord.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.headers["authorization"] == format!("Bot {BOT_TOKEN}"))
    );
    assert!(
        calls
            .iter()
            .all(|c| c.headers["user-agent"].starts_with("DiscordBot ("))
    );
    assert!(
        calls
            .iter()
            .any(|c| c.path == format!("/channels/{OWNER_DM}/typing"))
    );
    let commands = format!("/applications/{BOT_ID}/commands");
    let offered = calls
        .iter()
        .find(|c| c.method == "PUT" && c.path == commands)
        .expect("the slash commands are offered");
    assert_eq!(offered.status, 200);
    assert_eq!(offered.body.as_array().unwrap().len(), 3);
    let identify = &r.discord.frames_with(2)[0]["d"];
    assert_eq!(identify["intents"], 37376);
    assert_eq!(identify["properties"]["browser"], "chitin");
    wait("a heartbeat", 10, || {
        (!r.discord.frames_with(1).is_empty()).then_some(())
    });
    assert_eq!(health(&r)["state"], "connected");
}

/// A guild message from the paired owner makes the model ask to write
/// `note.txt`; the approval question, its custom ids and its content.
fn asking() -> (Rig, String, String, String) {
    let r = rig(
        vec![
            Reply::tool(
                "files__write",
                r#"{"path":"note.txt","content":"from discord"}"#,
            ),
            Reply::text("Done with the note."),
        ],
        true,
        BOT_TOKEN,
    );
    pair(&r);
    // In a listed guild channel, mentioned.
    r.discord.message(
        GUILD_CHANNEL,
        true,
        OWNER,
        "Mason",
        &format!("<@{BOT_ID}> write the note"),
    );
    let ask = wait("the approval question", 30, || {
        r.discord
            .messages(GUILD_CHANNEL)
            .into_iter()
            .find(|m| m["components"].is_array())
    });
    let buttons = &ask["components"][0]["components"];
    assert_eq!(ask["components"][0]["type"], 1);
    assert_eq!(
        (buttons[0]["type"].as_u64(), buttons[0]["style"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(buttons[1]["style"], 4);
    let yes = buttons[0]["custom_id"].as_str().unwrap().to_string();
    let no = buttons[1]["custom_id"].as_str().unwrap().to_string();
    assert!(yes.starts_with("ap:") && yes.ends_with(":y"), "{yes}");
    let content = ask["content"].as_str().unwrap().to_string();
    assert!(content.contains("files__write"), "{content}");
    (r, yes, no, content)
}

#[test]
fn the_owner_approves_with_the_button_and_the_tool_runs() {
    let (r, yes, _, content) = asking();
    let id = r.discord.press(GUILD_CHANNEL, true, OWNER, &yes, &content);
    let cb = callback(&r, &id);
    assert_eq!(cb["type"], 7, "{cb}");
    assert_eq!(cb["data"]["components"], json!([]));
    assert!(
        cb["data"]["content"].as_str().unwrap().contains("Approved"),
        "{cb}"
    );
    answer(&r, GUILD_CHANNEL, "Done with the note.", 30);
    assert_eq!(
        std::fs::read_to_string(r.home.workspace.join("note.txt")).unwrap(),
        "from discord"
    );
}

#[test]
fn a_button_pressed_by_someone_else_is_refused() {
    let (r, yes, no, content) = asking();
    let id = r.discord.press(GUILD_CHANNEL, true, OTHER, &yes, &content);
    let cb = callback(&r, &id);
    assert_eq!(cb["type"], 4, "{cb}");
    assert_eq!(cb["data"]["flags"], 64, "ephemeral: {cb}");
    assert!(
        cb["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Only the person who asked"),
        "{cb}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!r.home.workspace.join("note.txt").exists());
    assert_eq!(r.model.request_count(), 1, "the turn still waits");
    // The owner denies: the question is settled, nothing written.
    let id = r.discord.press(GUILD_CHANNEL, true, OWNER, &no, &content);
    let cb = callback(&r, &id);
    assert_eq!(cb["type"], 7, "{cb}");
    assert!(
        cb["data"]["content"].as_str().unwrap().contains("Denied"),
        "{cb}"
    );
    answer(&r, GUILD_CHANNEL, "Done with the note.", 30);
    assert!(!r.home.workspace.join("note.txt").exists());
}

#[test]
fn a_long_answer_is_sent_in_chunks_under_2000_characters() {
    let long: String = (0..60)
        .map(|i| format!("Paragraph {i}: {}\n\n", "word ".repeat(20).trim_end()))
        .collect();
    let r = rig(vec![Reply::Text(long.clone())], false, BOT_TOKEN);
    pair(&r);
    r.discord.dm("tell me a lot");
    answer(&r, OWNER_DM, "Paragraph 59:", 30);
    let chunks = &contents(&r, OWNER_DM)[1..];
    assert!(chunks.len() >= 4, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|c| c.chars().count() <= 2000));
    let joined = chunks.join("\n\n");
    let mut at = 0;
    for i in 0..60 {
        let p = joined[at..]
            .find(&format!("Paragraph {i}:"))
            .unwrap_or_else(|| panic!("paragraph {i}"));
        at += p;
    }
}

#[test]
fn a_429_and_a_500_are_waited_out_then_the_answer_is_sent() {
    let r = rig(
        vec![Reply::text("Answer after the wait.")],
        false,
        BOT_TOKEN,
    );
    pair(&r);
    r.discord.fail("messages", Failure::RateLimited(0.4));
    r.discord.fail("messages", Failure::Status(500));
    r.discord.dm("hi again");
    answer(&r, OWNER_DM, "Answer after the wait.", 30);
    let tries: Vec<_> = r
        .discord
        .calls()
        .into_iter()
        .filter(|c| c.body["content"].as_str() == Some("Answer after the wait."))
        .collect();
    let statuses: Vec<u16> = tries.iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![429, 500, 200]);
    assert!(
        tries[1].at - tries[0].at >= Duration::from_millis(350),
        "retry_after was honoured"
    );
}

#[test]
fn a_dropped_gateway_is_resumed_and_nothing_is_lost() {
    let r = rig(vec![Reply::text("Still here.")], false, BOT_TOKEN);
    pair(&r);
    let (session, seq) = r.discord.session().unwrap();
    r.discord.drop_connection();
    // Sent while the bot is away: replayed after the Resume.
    r.discord.dm("are you there?");
    let resume = wait("a Resume", 30, || {
        r.discord.frames_with(6).into_iter().next()
    });
    assert_eq!(resume["d"]["session_id"], session.as_str());
    assert_eq!(resume["d"]["seq"], seq);
    assert_eq!(resume["d"]["token"], BOT_TOKEN);
    answer(&r, OWNER_DM, "Still here.", 30);
    assert_eq!(
        r.discord.frames_with(2).len(),
        1,
        "resumed, not identified again"
    );
    assert_eq!(r.discord.connections(), 2);
}

/// Killed mid-answer and started again: the message the crash cut is not
/// lost (the owner hears it stopped), and neither it nor the one answered
/// before is answered again when Discord delivers them a second time.
#[test]
fn a_restart_neither_loses_nor_repeats_an_answer() {
    let mut r = rig(
        vec![Reply::text("First answer."), Reply::Hang],
        false,
        BOT_TOKEN,
    );
    pair(&r);
    let first = r.discord.dm("answer me");
    answer(&r, OWNER_DM, "First answer.", 30);
    let second = r.discord.dm("do not lose me");
    wait("the second turn to start", 20, || {
        (r.model.request_count() == 2).then_some(())
    });
    let again: Vec<Value> = [&first, &second]
        .iter()
        .map(|id| r.discord.dispatched(id).expect("the dispatch was sent"))
        .collect();
    r.daemon.child.kill().unwrap();
    r.daemon.child.wait().unwrap();
    wait("the old gateway to close", 10, || {
        (!r.discord.is_live()).then_some(())
    });
    r.daemon = DaemonProc::start(&r.home);
    wait("the new gateway", 30, || {
        (r.discord.connections() >= 2 && r.discord.is_live()).then_some(())
    });
    answer(&r, OWNER_DM, "Chitin stopped while answering", 30);
    for d in again {
        r.discord.dispatch("MESSAGE_CREATE", d);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let sent = contents(&r, OWNER_DM);
    let count = |text: &str| sent.iter().filter(|c| c.contains(text)).count();
    assert_eq!(count("First answer."), 1, "{sent:#?}");
    assert_eq!(count("Chitin stopped while answering"), 1, "{sent:#?}");
    assert_eq!(r.model.request_count(), 2, "nothing was run again");
}

#[test]
fn a_zombie_connection_is_resumed() {
    let r = rig(vec![Reply::text("Back.")], false, BOT_TOKEN);
    wait("the gateway", 30, || r.discord.is_live().then_some(()));
    r.discord.set_ack(false);
    wait("a Resume after the missing ACK", 30, || {
        r.discord.frames_with(6).into_iter().next()
    });
    r.discord.set_ack(true);
    pair(&r);
    r.discord.dm("hello again");
    answer(&r, OWNER_DM, "Back.", 30);
}

#[test]
fn malformed_dispatches_are_skipped() {
    let r = rig(vec![Reply::text("Fine.")], false, BOT_TOKEN);
    pair(&r);
    r.discord.push_text("{not json");
    r.discord
        .push_text(r#"{"op":0,"t":"MESSAGE_CREATE","s":"x","d":{"id":5,"content":[]}}"#);
    r.discord.push_text(r#"{"op":42,"d":{}}"#);
    r.discord.dispatch("MESSAGE_CREATE", json!(null));
    r.discord.dispatch(
        "MESSAGE_CREATE",
        json!({"id": "1", "channel_id": "../../gateway", "author": {"id": OWNER}, "content": "x"}),
    );
    r.discord.dispatch(
        "INTERACTION_CREATE",
        json!({"type": 3, "id": "1", "token": "../../../x", "channel_id": OWNER_DM}),
    );
    r.discord.dispatch("READY_NOT", json!([1, 2, 3]));
    r.discord.dm("still fine?");
    answer(&r, OWNER_DM, "Fine.", 30);
    assert_eq!(
        r.discord.connections(),
        1,
        "nothing malformed broke the connection"
    );
    assert!(r.discord.callbacks().is_empty());
}

#[test]
fn mass_mentions_in_an_answer_ping_nobody() {
    let hostile = format!(
        "Hey @everyone and @here, ask <@{OTHER}> or <@&290926798626357999> in <#{GUILD_CHANNEL}>."
    );
    let r = rig(vec![Reply::Text(hostile)], false, BOT_TOKEN);
    pair(&r);
    r.discord.dm("ping them");
    let sent = answer(&r, OWNER_DM, "Hey", 30);
    let c = sent["content"].as_str().unwrap();
    for bad in ["@everyone", "@here", "<@", "<#"] {
        assert!(!c.contains(bad), "{bad} in {c:?}");
    }
    assert_eq!(
        c.replace('\u{200b}', ""),
        format!(
            "Hey @everyone and @here, ask <@{OTHER}> or <@&290926798626357999> in <#{GUILD_CHANNEL}>."
        )
    );
    assert_eq!(sent["allowed_mentions"], json!({"parse": []}));
}

#[test]
fn slash_commands_are_answered_and_stop_cancels() {
    let r = rig(vec![Reply::Hang], false, BOT_TOKEN);
    pair(&r);
    let id = r.discord.command("status");
    let cb = callback(&r, &id);
    assert_eq!(
        (cb["type"].as_u64(), cb["data"]["flags"].as_u64()),
        (Some(4), Some(64)),
        "{cb}"
    );
    answer(&r, OWNER_DM, "Model:", 20);
    r.discord.dm("take your time");
    wait("the model to be asked", 20, || {
        (r.model.request_count() == 1).then_some(())
    });
    let id = r.discord.command("stop");
    callback(&r, &id);
    answer(&r, OWNER_DM, "Stopping.", 20);
    answer(&r, OWNER_DM, "stopped", 20);
}

#[test]
fn a_refused_token_fails_naming_its_secret_and_is_not_retried() {
    // Refused by the REST API before any gateway connection.
    let r = rig(vec![], false, "not-the-token");
    let h = wait("the failure", 20, || {
        let h = health(&r);
        (h["state"] == "failed").then_some(h)
    });
    let reason = h["reason"].as_str().unwrap();
    assert!(reason.contains("DISCORD_BOT_TOKEN"), "{reason}");
    assert!(!reason.contains("not-the-token"), "{reason}");
    std::thread::sleep(Duration::from_secs(2));
    let tries = r
        .discord
        .calls()
        .iter()
        .filter(|c| c.path == "/gateway/bot")
        .count();
    assert_eq!((tries, r.discord.connections()), (1, 0));

    // Refused by the gateway (close code 4004) once connected.
    let r = rig(vec![], false, BOT_TOKEN);
    wait("the gateway", 30, || r.discord.is_live().then_some(()));
    r.discord.close_live(4004);
    let h = wait("the failure", 20, || {
        let h = health(&r);
        (h["state"] == "failed").then_some(h)
    });
    assert!(
        h["reason"].as_str().unwrap().contains("DISCORD_BOT_TOKEN"),
        "{h}"
    );
    assert!(!h["reason"].as_str().unwrap().contains(BOT_TOKEN), "{h}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(r.discord.connections(), 1, "not retried");
}

#[test]
fn a_slow_hub_does_not_stall_the_heartbeat() {
    let r = rig(vec![], false, BOT_TOKEN);
    wait("the gateway", 30, || r.discord.is_live().then_some(()));
    r.discord.set_heartbeat_ms(200);
    r.discord.drop_connection();
    wait("a Resume", 30, || {
        r.discord.frames_with(6).into_iter().next()
    });
    wait("the gateway again", 30, || {
        r.discord.is_live().then_some(())
    });
    // The hub sends the stranger's pairing code before it returns; the
    // platform makes it wait 3 s.
    r.discord.fail("messages", Failure::RateLimited(3.0));
    let before = r.discord.frames_with(1).len();
    r.discord.dm("hello?");
    wait("the pairing code", 20, || {
        contents(&r, OWNER_DM).iter().find_map(|c| code_in(c))
    });
    let beats = r.discord.frames_with(1).len() - before;
    assert!(beats >= 8, "only {beats} heartbeats while the hub was busy");
    assert_eq!(r.discord.connections(), 2, "no zombie reconnect");
}

#[test]
fn without_the_message_content_intent_the_bot_still_works() {
    let r = rig(vec![Reply::text("Served anyway.")], false, BOT_TOKEN);
    wait("the gateway", 30, || r.discord.is_live().then_some(()));
    // The owner never enabled the privileged intent; the session ends.
    r.discord.allow_message_content(false);
    r.discord.close_live(4009);
    let again = wait("an Identify without Message Content", 30, || {
        r.discord
            .frames_with(2)
            .into_iter()
            .find(|f| f["d"]["intents"] == (1 << 9) | (1 << 12))
    });
    assert_eq!(again["d"]["token"], BOT_TOKEN);
    pair(&r);
    r.discord.dm("hello without the intent");
    answer(&r, OWNER_DM, "Served anyway.", 30);
    assert_eq!(health(&r)["state"], "connected");
}
