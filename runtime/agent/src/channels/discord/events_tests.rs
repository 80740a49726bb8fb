#![allow(clippy::unwrap_used)]

use super::*;

const BOT: &str = "900000000000000001";

fn msg(extra: Value) -> Value {
    let mut m = json!({
        "id": "1100000000000000001",
        "channel_id": "1200000000000000001",
        "type": 0,
        "author": {"id": "1300000000000000001", "username": "alice", "global_name": "Alice", "bot": false},
        "content": "hello",
        "mentions": [],
        "mention_everyone": false,
        "tts": false,
        "pinned": false,
        "timestamp": "2024-01-01T00:00:00.000000+00:00"
    });
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    m
}

#[test]
fn direct_messages_and_mentions() {
    let dm = message(&msg(json!({})), BOT).unwrap().unwrap();
    assert_eq!(dm.chat, ChatRef::direct("discord", "1200000000000000001"));
    assert_eq!(dm.sender.id, "1300000000000000001");
    assert_eq!(dm.sender.name, "alice");
    assert_eq!(dm.id, "1100000000000000001");
    assert_eq!(
        dm.event,
        Event::Message {
            text: "hello".into(),
            mentioned: false
        }
    );

    let g = msg(json!({
        "guild_id": "1400000000000000001",
        "content": format!("<@{BOT}> do it"),
        "mentions": [{"id": BOT, "username": "chitin", "bot": true}]
    }));
    let g = message(&g, BOT).unwrap().unwrap();
    assert!(g.chat.group);
    assert_eq!(
        g.event,
        Event::Message {
            text: "do it".into(),
            mentioned: true
        }
    );

    let reply = msg(json!({
        "guild_id": "1400000000000000001",
        "type": 19,
        "referenced_message": {"author": {"id": BOT}}
    }));
    assert!(matches!(
        message(&reply, BOT).unwrap().unwrap().event,
        Event::Message {
            mentioned: true,
            ..
        }
    ));
}

#[test]
fn bots_self_webhooks_system_and_empty_are_ignored() {
    for extra in [
        json!({"author": {"id": "1", "username": "b", "bot": true}}),
        json!({"author": {"id": BOT, "username": "me"}}),
        json!({"webhook_id": "5"}),
        json!({"type": 7}),
        json!({"content": format!("<@{BOT}>")}),
    ] {
        assert_eq!(message(&msg(extra.clone()), BOT), Ok(None), "{extra}");
    }
}

#[test]
fn malformed_messages_are_refused_not_panicked_on() {
    for extra in [
        json!({"id": 5}),
        json!({"channel_id": "../../x"}),
        json!({"author": {"id": "abc"}}),
        json!({"guild_id": "x/y"}),
        json!({"content": {"a": 1}}),
    ] {
        assert!(message(&msg(extra.clone()), BOT).is_err(), "{extra}");
    }
    assert!(message(&json!(null), BOT).is_err());
    assert!(message(&json!([1, 2]), BOT).is_err());
    let long = msg(json!({"content": "x".repeat(MAX_INBOUND_CHARS + 50)}));
    let Event::Message { text, .. } = message(&long, BOT).unwrap().unwrap().event else {
        panic!()
    };
    assert_eq!(text.chars().count(), MAX_INBOUND_CHARS + 1);
}

#[test]
fn custom_ids_and_buttons() {
    assert_eq!(
        parse_custom_id("ap:a-0123abcd:y"),
        Some(("a-0123abcd".into(), true))
    );
    assert_eq!(
        parse_custom_id("ap:a-0123abcd:n"),
        Some(("a-0123abcd".into(), false))
    );
    for bad in [
        "ap:a:x", "ap::y", "xx:a:y", "ap:a b:y", "ap:a:y:y", "", "ap:y",
    ] {
        assert_eq!(parse_custom_id(bad), None, "{bad}");
    }
    assert_eq!(parse_custom_id(&format!("ap:{}:y", "a".repeat(91))), None);
    let row = buttons("a-1").unwrap();
    assert_eq!(row[0]["type"], 1);
    let b = &row[0]["components"];
    assert_eq!(
        (b[0]["style"].as_u64(), b[0]["custom_id"].as_str()),
        (Some(3), Some("ap:a-1:y"))
    );
    assert_eq!(
        (b[1]["style"].as_u64(), b[1]["custom_id"].as_str()),
        (Some(4), Some("ap:a-1:n"))
    );
    assert!(buttons("a:1").is_none());
}

fn press(user_in_member: bool, custom_id: &str) -> Value {
    let user = json!({"id": "1300000000000000001", "username": "alice"});
    let mut i = json!({
        "id": "1500000000000000001",
        "application_id": "900000000000000001",
        "type": 3,
        "token": "aW50ZXJhY3Rpb24.dG9rZW4-_",
        "version": 1,
        "channel_id": "1200000000000000001",
        "data": {"custom_id": custom_id, "component_type": 2},
        "message": {"id": "1", "content": "Run `files__write`? @everyone"}
    });
    if user_in_member {
        i["guild_id"] = json!("1400000000000000001");
        i["member"] = json!({"user": user, "roles": []});
    } else {
        i["user"] = user;
    }
    i
}

#[test]
fn button_presses_become_button_events_and_are_answered() {
    for in_guild in [false, true] {
        let i = interaction(&press(in_guild, "ap:a-7:y")).unwrap().unwrap();
        let inbound = i.inbound.clone().unwrap();
        assert_eq!(inbound.sender.id, "1300000000000000001");
        assert_eq!(inbound.chat.group, in_guild);
        assert_eq!(
            inbound.event,
            Event::Button {
                approval_id: "a-7".into(),
                approve: true
            }
        );
        assert_eq!(i.kind, Kind::Button { approve: true });
        let done = response(
            &i,
            &Ack {
                notice: None,
                resolved: true,
            },
        );
        assert_eq!(done["type"], 7);
        assert_eq!(done["data"]["components"], json!([]));
        let content = done["data"]["content"].as_str().unwrap();
        assert!(
            content.contains("Approved") && !content.contains("@everyone"),
            "{content}"
        );
        let refused = response(
            &i,
            &Ack {
                notice: Some("Only the owner may answer.".into()),
                resolved: false,
            },
        );
        assert_eq!(refused["type"], 4);
        assert_eq!(refused["data"]["flags"], 64);
        assert_eq!(refused["data"]["content"], "Only the owner may answer.");
        assert_eq!(response(&i, &Ack::default())["type"], 6);
    }
    let foreign = interaction(&press(false, "other")).unwrap().unwrap();
    assert!(foreign.inbound.is_none());
    assert_eq!(response(&foreign, &Ack::default())["data"]["flags"], 64);
    let mut bad = press(false, "ap:a-7:y");
    bad["token"] = json!("../../../channels/1/messages");
    assert!(interaction(&bad).is_err());
    assert_eq!(interaction(&json!({"type": 1})), Ok(None));
}

#[test]
fn slash_commands_become_commands() {
    let c = json!({
        "id": "1500000000000000002", "type": 2, "token": "tok",
        "channel_id": "1200000000000000001",
        "user": {"id": "1300000000000000001", "username": "alice"},
        "data": {"id": "1", "name": "Status", "type": 1, "options": [{"name": "x", "type": 3, "value": "now"}]}
    });
    let i = interaction(&c).unwrap().unwrap();
    assert_eq!(
        i.inbound.unwrap().event,
        Event::Command {
            name: "status".into(),
            args: "now".into()
        }
    );
    let r = response(&interaction(&c).unwrap().unwrap(), &Ack::default());
    assert_eq!(
        (r["type"].as_u64(), r["data"]["flags"].as_u64()),
        (Some(4), Some(64))
    );
}

#[test]
fn ready_is_read() {
    let d = json!({
        "v": 10, "session_id": "abc123", "resume_gateway_url": "wss://gateway-us-east1-b.discord.gg",
        "user": {"id": BOT, "username": "chitin", "bot": true}, "guilds": [], "application": {"id": BOT, "flags": 0}
    });
    let r = ready(&d).unwrap();
    assert_eq!((r.session_id.as_str(), r.bot_id.as_str()), ("abc123", BOT));
    assert_eq!(r.application_id, BOT);
    let offered = commands();
    let names: Vec<&str> = offered
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["new", "stop", "status"]);
    assert!(ready(&json!({"session_id": "a b"})).is_err());
}
