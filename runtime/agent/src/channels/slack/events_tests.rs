//! Frames from the documented shapes (tests/fixtures/slack), and hostile
//! variations of them.

#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

const BOT: Option<&str> = Some("U0LAN0Z89");

fn fixture(name: &str) -> Value {
    let text = match name {
        "hello" => include_str!("../../../../../tests/fixtures/slack/hello.json"),
        "disconnect" => include_str!("../../../../../tests/fixtures/slack/disconnect.json"),
        "im" => include_str!("../../../../../tests/fixtures/slack/events_api_message_im.json"),
        "mention" => {
            include_str!("../../../../../tests/fixtures/slack/events_api_app_mention.json")
        }
        "button" => {
            include_str!("../../../../../tests/fixtures/slack/interactive_block_actions.json")
        }
        "slash" => include_str!("../../../../../tests/fixtures/slack/slash_commands.json"),
        _ => unreachable!(),
    };
    serde_json::from_str(text).unwrap()
}

fn item(v: &Value) -> Result<Option<Item>, String> {
    match parse(&v.to_string(), BOT).unwrap() {
        Frame::Envelope { item, .. } => item.map(|i| i.map(|b| *b)),
        other => panic!("not an envelope: {other:?}"),
    }
}

fn inbound(v: &Value) -> Inbound {
    item(v).unwrap().unwrap().inbound
}

#[test]
fn hello_and_disconnect() {
    assert_eq!(
        parse(&fixture("hello").to_string(), BOT).unwrap(),
        Frame::Hello
    );
    assert_eq!(
        parse(&fixture("disconnect").to_string(), BOT).unwrap(),
        Frame::Disconnect {
            reason: "refresh_requested".into()
        }
    );
    assert_eq!(parse(r#"{"type":"pong"}"#, BOT).unwrap(), Frame::Other);
    assert!(parse("not json", BOT).is_err());
    assert!(parse("[1]", BOT).is_err());
}

#[test]
fn direct_message() {
    let v = fixture("im");
    let Frame::Envelope { envelope_id, .. } = parse(&v.to_string(), BOT).unwrap() else {
        panic!()
    };
    assert_eq!(envelope_id, "dbdd0ef3-1543-4f94-bfb4-133d0e6c1545");
    let i = inbound(&v);
    assert_eq!(i.chat, ChatRef::direct("slack", "D024BE91L"));
    assert_eq!(i.sender.id, "U2147483697");
    assert_eq!(i.id, "Ev08MFMKH6");
    assert_eq!(
        i.event,
        Event::Message {
            text: "Hello hello can you hear me?".into(),
            mentioned: true
        }
    );
    // In a thread of the DM: its own chat.
    let mut t = v.clone();
    t["payload"]["event"]["thread_ts"] = json!("1355517500.000001");
    assert_eq!(
        inbound(&t).chat.thread.as_deref(),
        Some("1355517500.000001")
    );
}

#[test]
fn ignored_messages() {
    let v = fixture("im");
    let cases: Vec<(&str, Value)> = vec![
        ("subtype", json!("message_changed")),
        ("subtype", json!("bot_message")),
        ("bot_id", json!("B1")),
        ("user", json!("U0LAN0Z89")),
        ("channel_type", json!("channel")),
        ("text", json!("")),
        ("type", json!("reaction_added")),
    ];
    for (k, val) in cases {
        let mut m = v.clone();
        m["payload"]["event"][k] = val;
        assert_eq!(item(&m), Ok(None), "{k}");
    }
}

#[test]
fn mention_starts_a_thread() {
    let v = fixture("mention");
    let i = inbound(&v);
    assert_eq!(i.chat.chat, "C123ABC456");
    assert!(i.chat.group);
    assert_eq!(i.chat.thread.as_deref(), Some("1515449522.000016"));
    assert_eq!(
        i.event,
        Event::Message {
            text: "is it everything a river should be?".into(),
            mentioned: true
        }
    );
    let mut t = v.clone();
    t["payload"]["event"]["thread_ts"] = json!("1515449000.000001");
    assert_eq!(
        inbound(&t).chat.thread.as_deref(),
        Some("1515449000.000001")
    );
}

#[test]
fn slash_command() {
    let i = inbound(&fixture("slash"));
    assert_eq!(i.chat, ChatRef::direct("slack", "D024BE91L"));
    assert_eq!(
        i.event,
        Event::Command {
            name: "status".into(),
            args: String::new()
        }
    );
    assert_eq!(i.id, "cmd:13345224609.738474920.8088930838d88f008e0");
    assert_eq!(i.sender.name, "Steve");
    let mut bad = fixture("slash");
    bad["payload"]["command"] = json!("/new; rm -rf");
    assert!(item(&bad).is_err());
}

#[test]
fn approval_button() {
    let v = fixture("button");
    let it = item(&v).unwrap().unwrap();
    assert_eq!(it.inbound.chat, ChatRef::direct("slack", "D024BE91L"));
    assert_eq!(it.inbound.sender.id, "U2147483697");
    assert_eq!(
        it.inbound.event,
        Event::Button {
            approval_id: "approval-1".into(),
            approve: true
        }
    );
    let p = it.pressed.unwrap();
    assert_eq!(p.message_ts.as_deref(), Some("1548261231.000200"));
    assert!(p.approve);
    let mut deny = v.clone();
    deny["payload"]["actions"][0]["action_id"] = json!("chitin_deny");
    deny["payload"]["container"]["thread_ts"] = json!("1548261000.000100");
    let i = inbound(&deny);
    assert!(matches!(i.event, Event::Button { approve: false, .. }));
    assert_eq!(i.chat.thread.as_deref(), Some("1548261000.000100"));
    let mut other = v.clone();
    other["payload"]["actions"][0]["action_id"] = json!("someone_elses");
    assert_eq!(item(&other), Ok(None));
}

#[test]
fn hostile_envelopes_are_skipped_not_fatal() {
    let v = fixture("im");
    let mut no_event = v.clone();
    no_event["payload"] = json!({"event_id": "Ev1"});
    assert!(item(&no_event).is_err());
    let mut bad_user = v.clone();
    bad_user["payload"]["event"]["user"] = json!("U1/../../x");
    assert!(item(&bad_user).is_err());
    let mut long_channel = v.clone();
    long_channel["payload"]["event"]["channel"] = json!("D".repeat(65));
    assert!(item(&long_channel).is_err());
    let mut numbers = v.clone();
    numbers["payload"]["event"]["text"] = json!(42);
    assert_eq!(item(&numbers), Ok(None));
    let mut bad_id = v.clone();
    bad_id["envelope_id"] = json!("a b");
    assert!(parse(&bad_id.to_string(), BOT).is_err());
    let mut bad_value = fixture("button");
    bad_value["payload"]["actions"][0]["value"] = json!({"x": 1});
    assert!(item(&bad_value).is_err());
    // A huge text is cut just past the hub's limit.
    let mut huge = v.clone();
    huge["payload"]["event"]["text"] = json!("x".repeat(MAX_INBOUND_CHARS * 5));
    let Event::Message { text, .. } = inbound(&huge).event else {
        panic!()
    };
    assert_eq!(text.chars().count(), MAX_INBOUND_CHARS + 1);
}
