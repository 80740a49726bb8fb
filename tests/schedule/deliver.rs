//! Where a job's answer goes, how its approvals are asked, the heartbeat.

use super::Rig;
use crate::support::model::{ModelServer, Reply};
use chitin::agent::config::HeartbeatSection;
use chitin::policy::Policy;
use chitin::schedule::{Heartbeat, Spec};
use std::time::Duration;

const CHAT: i64 = 4242;
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn a_jobs_answer_reaches_the_chat() {
    let model = ModelServer::start(vec![Reply::text("Good morning: **sunny**, 21°C.")]);
    let rig = Rig::new(&model, "", true, "2026-06-01T06:59:00Z");
    rig.add(
        "briefing",
        &Spec::cron("0 7 * * *", "UTC").unwrap(),
        &format!("telegram:{CHAT}"),
        "deny",
        "once",
    );
    let runner = rig.runner();
    assert!(runner.tick().await.is_empty(), "not due yet");
    rig.clock.advance(60_000);
    let fired = runner.tick().await;
    assert_eq!(fired.len(), 1);
    assert!(fired[0].delivered, "{fired:?}");
    let fake = rig.fake.as_ref().unwrap();
    let sent = fake.wait_sent(CHAT, 1, WAIT);
    let text = sent[0]["text"].as_str().unwrap();
    assert!(text.contains("sunny"), "{text}");
    assert!(text.contains("briefing"), "the job is named: {text}");
    // The run is recorded, with its session.
    let runs = rig.turns.agent().store().job_runs("briefing", 5).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].stop, "answer");
    assert!(runs[0].session.is_some());
    // The prompt went to the model as the user's message.
    let body = model.requests()[0].body.to_string();
    assert!(body.contains("run briefing"), "{body}");
}

/// The approval events recorded in the session of `job`'s last run.
fn approvals(rig: &Rig, job: &str) -> Vec<serde_json::Value> {
    let store = rig.turns.agent().store();
    let session = store.job_runs(job, 1).unwrap()[0].session.clone().unwrap();
    store
        .events(&session)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "approval")
        .map(|e| e.data)
        .collect()
}

/// A model whose turn calls `propose_job` (made to ask) and then answers
/// `answer`, and a rig over it with `timeout_secs` to approve.
fn asking_rig(answer: &str, timeout_secs: u32, telegram: bool) -> (ModelServer, Rig) {
    let propose = r#"{"name":"x","every":"1h","prompt":"hello"}"#;
    let model = ModelServer::start(vec![
        Reply::tool("propose_job", propose),
        Reply::text(answer),
    ]);
    let rig = Rig::new(
        &model,
        &format!("approval_timeout_secs = {timeout_secs}"),
        telegram,
        "2026-06-01T10:00:00Z",
    );
    // The owner made this host tool ask.
    rig.turns
        .agent()
        .set_policy("propose_job", Some(Policy::Ask))
        .unwrap();
    (model, rig)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unattended_ask_is_denied_after_its_timeout_and_recorded() {
    for telegram in [false, true] {
        let (model, rig) = asking_rig("could not", 1, telegram);
        let deliver = if telegram {
            format!("telegram:{CHAT}")
        } else {
            "web".into()
        };
        rig.add("asks", &Spec::every("1h").unwrap(), &deliver, "ask", "once");
        rig.clock.advance(3_600_000);
        let started = std::time::Instant::now();
        let fired = rig.runner().tick().await;
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "it waited for the timeout"
        );
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].stop, "answer");
        let store = rig.turns.agent().store();
        let recorded = approvals(&rig, "asks");
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert_eq!(recorded[0]["approved"], false, "{recorded:?}");
        assert_eq!(recorded[0]["by"], "timeout", "{recorded:?}");
        let last = model.requests().last().unwrap().body.to_string();
        assert!(
            last.contains("did not approve"),
            "the model is told: {last}"
        );
        assert!(store.proposals().unwrap().is_empty(), "the tool never ran");
        if telegram {
            // The question went to the job's chat, with buttons.
            let fake = rig.fake.as_ref().unwrap();
            let sent = fake.wait_sent(CHAT, 2, WAIT);
            let q = sent[0]["text"].as_str().unwrap();
            assert!(q.contains("propose_job"), "{q}");
            assert!(sent[0]["reply_markup"].is_object(), "{:?}", sent[0]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_heartbeat_stays_silent_unless_something_needs_the_owner() {
    let model = ModelServer::start(vec![
        Reply::text("HEARTBEAT_OK"),
        Reply::text("The backup has not run for 3 days."),
    ]);
    let rig = Rig::new(&model, "", true, "2026-06-01T10:00:00Z");
    let file = rig.home.tmp.path().join("HEARTBEAT.md");
    let section = HeartbeatSection {
        enabled: true,
        every_minutes: 30,
        deliver: Some(format!("telegram:{CHAT}")),
        file: None,
    };
    let runner = rig
        .runner()
        .with_heartbeat(Heartbeat::new(&section, file.clone()).unwrap());
    // No checklist: nothing runs.
    assert!(runner.tick().await.is_empty());
    rig.clock.advance(30 * 60_000);
    assert!(runner.tick().await.is_empty(), "no file, no turn");
    assert_eq!(model.request_count(), 0);
    std::fs::write(&file, "- Has the nightly backup run?\n").unwrap();
    rig.clock.advance(10 * 60_000);
    assert!(runner.tick().await.is_empty(), "not due yet");
    rig.clock.advance(20 * 60_000);
    let fired = runner.tick().await;
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].text, "HEARTBEAT_OK");
    assert!(!fired[0].delivered);
    let body = model.requests()[0].body.to_string();
    assert!(
        body.contains("nightly backup"),
        "the checklist is given: {body}"
    );
    assert!(body.contains("HEARTBEAT_OK"), "{body}");
    rig.clock.advance(30 * 60_000);
    let fired = runner.tick().await;
    assert!(fired[0].delivered, "{fired:?}");
    let fake = rig.fake.as_ref().unwrap();
    let sent = fake.wait_sent(CHAT, 1, WAIT);
    assert_eq!(sent.len(), 1, "only the second answer: {sent:?}");
    assert!(
        sent[0]["text"]
            .as_str()
            .unwrap()
            .contains("backup has not run")
    );
    let titles: Vec<String> = rig
        .turns
        .agent()
        .store()
        .sessions()
        .unwrap()
        .into_iter()
        .map(|s| s.title)
        .collect();
    assert_eq!(titles, ["Heartbeat"]);
}

/// A job's question sent to a chat whose id is not its owner's (a group
/// here; a Slack or Discord direct chat is the same case) is answered by
/// a paired sender pressing in that chat; a stranger, or a paired sender
/// pressing from another chat, is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_jobs_question_is_answered_in_its_chat_by_a_paired_sender() {
    use chitin::channels::{ChatRef, Event, Inbound, Sender};
    const GROUP: &str = "-1001";
    let (_model, rig) = asking_rig("proposed", 30, true);
    let store = rig.turns.agent().store().clone();
    store
        .add_code(
            &chitin::store::PairingCode {
                code: "ABCD-EFGH".into(),
                channel: "telegram".into(),
                sender_id: CHAT.to_string(),
                name: "Owner".into(),
                chat: "{}".into(),
                expires_ms: i64::MAX,
            },
            10,
        )
        .unwrap();
    assert!(store.redeem_code("ABCD-EFGH").unwrap().is_some());
    rig.add(
        "asks",
        &Spec::every("1h").unwrap(),
        &format!("telegram:{GROUP}"),
        "ask",
        "once",
    );
    rig.clock.advance(3_600_000);
    let runner = rig.runner();
    let run = tokio::spawn(async move { runner.tick().await });

    let fake = rig.fake.as_ref().unwrap();
    let group: i64 = GROUP.parse().unwrap();
    let sent = tokio::task::block_in_place(|| fake.wait_sent(group, 1, WAIT));
    let data = sent[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_string();
    let approval_id = data
        .strip_prefix("ap:")
        .and_then(|d| d.strip_suffix(":y"))
        .unwrap()
        .to_string();
    let hub = rig.hub.clone().unwrap();
    let press = |chat: &str, who: i64, n: u32| Inbound {
        chat: ChatRef {
            channel: "telegram".into(),
            chat: chat.into(),
            thread: None,
            group: chat.starts_with('-'),
        },
        sender: Sender {
            id: who.to_string(),
            name: "someone".into(),
        },
        id: format!("press-{n}"),
        event: Event::Button {
            approval_id: approval_id.clone(),
            approve: true,
        },
    };
    let refused = "Only the person who asked can answer this.";
    let ack = hub.receive(press(GROUP, 6666, 1)).await;
    assert_eq!(ack.notice.as_deref(), Some(refused), "a stranger");
    let ack = hub.receive(press(&CHAT.to_string(), CHAT, 2)).await;
    assert_eq!(
        ack.notice.as_deref(),
        Some(refused),
        "pressed in another chat"
    );
    let ack = hub.receive(press(GROUP, CHAT, 3)).await;
    assert_eq!(ack.notice.as_deref(), Some("Approved."));

    let fired = tokio::time::timeout(WAIT, run).await.unwrap().unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].stop, "answer");
    let recorded = approvals(&rig, "asks");
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["approved"], true, "{recorded:?}");
    assert_eq!(store.proposals().unwrap().len(), 1, "the tool ran");
}
