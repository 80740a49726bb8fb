//! When jobs fire: cron across daylight-saving changes, one-shots, missed
//! runs after downtime, paused jobs.

use super::{Rig, ms};
use crate::support::model::{ModelServer, Reply};
use chitin::schedule::Spec;
use chitin::schedule::spec::utc;
use std::collections::BTreeMap;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// Step the clock a minute at a time from its now to `end`, ticking at
/// each step; every job's fire times (the slots, as UTC). Each run must
/// end with an answer.
async fn step(
    rig: &Rig,
    runner: &chitin::schedule::Runner,
    end: &str,
) -> BTreeMap<String, Vec<String>> {
    step_ending(rig, runner, end, "answer").await
}

/// [`step`], each run ending with `stop`.
async fn step_ending(
    rig: &Rig,
    runner: &chitin::schedule::Runner,
    end: &str,
    stop: &str,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let end = ms(end);
    for _ in 0..10_000 {
        rig.clock.advance(MINUTE);
        for f in runner.tick().await {
            assert_eq!(f.stop, stop, "{f:?}");
            assert_eq!(f.started_ms, f.due_ms, "fired on the minute it was due");
            out.entry(f.job).or_default().push(utc(f.due_ms));
        }
        if chitin::schedule::Clock::now_ms(rig.clock.as_ref()) >= end {
            break;
        }
    }
    out
}

fn hours(from: &str, n: i64) -> Vec<String> {
    (1..=n).map(|h| utc(ms(from) + h * HOUR)).collect()
}

/// A 02:30 job and an hourly one, in Berlin time.
fn add_berlin_jobs(rig: &Rig) {
    for (name, cron) in [("nightly", "30 2 * * *"), ("hourly", "0 * * * *")] {
        let spec = Spec::cron(cron, "Europe/Berlin").unwrap();
        rig.add(name, &spec, "web", "deny", "once");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cron_fires_at_the_right_minutes_across_dst() {
    let model = ModelServer::repeat(Reply::text("ok"));
    // Spring forward: 2026-03-29 02:00 CET becomes 03:00 CEST in Berlin.
    let rig = Rig::new(&model, "", false, "2026-03-28T00:00:00Z");
    add_berlin_jobs(&rig);
    let runner = rig.runner();
    let fired = step(&rig, &runner, "2026-03-29T12:00:00Z").await;
    assert_eq!(
        fired["nightly"],
        [
            "2026-03-28T01:30:00Z", // 02:30 CET
            "2026-03-29T01:00:00Z", // 02:30 does not exist: once, at 03:00 CEST
        ]
    );
    assert_eq!(
        fired["hourly"],
        hours("2026-03-28T00:00:00Z", 36),
        "every real hour, once"
    );

    // Fall back: 2026-10-25 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    let rig = Rig::new(&model, "", false, "2026-10-24T00:00:00Z");
    add_berlin_jobs(&rig);
    let runner = rig.runner();
    let fired = step(&rig, &runner, "2026-10-26T06:00:00Z").await;
    assert_eq!(
        fired["nightly"],
        [
            "2026-10-24T00:30:00Z", // 02:30 CEST
            "2026-10-25T00:30:00Z", // the first 02:30 (CEST) only
            "2026-10-26T01:30:00Z", // 02:30 CET
        ]
    );
    assert_eq!(fired["hourly"], hours("2026-10-24T00:00:00Z", 54));
    // Each job ran in its own session, titled after it.
    let store = rig.turns.agent().store();
    let titles: Vec<String> = store
        .sessions()
        .unwrap()
        .into_iter()
        .map(|s| s.title)
        .collect();
    assert!(titles.contains(&"Job: nightly".to_string()), "{titles:?}");
    assert!(titles.contains(&"Job: hourly".to_string()), "{titles:?}");
    assert_eq!(titles.len(), 2, "one session per job: {titles:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_shot_fires_once() {
    let model = ModelServer::repeat(Reply::text("reminder sent"));
    let rig = Rig::new(&model, "", false, "2026-05-01T09:00:00Z");
    let now = ms("2026-05-01T09:00:00Z");
    rig.add(
        "reminder",
        &Spec::at("in 20 minutes", now).unwrap(),
        "web",
        "deny",
        "once",
    );
    let runner = rig.runner();
    let fired = step(&rig, &runner, "2026-05-03T09:00:00Z").await;
    assert_eq!(fired["reminder"], ["2026-05-01T09:20:00Z"]);
    let job = rig.turns.agent().store().job("reminder").unwrap().unwrap();
    assert_eq!(job.next_due_ms, None, "done: never due again");
    assert_eq!(model.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn missed_runs_follow_the_jobs_rule() {
    let model = ModelServer::repeat(Reply::text("caught up"));
    let rig = Rig::new(&model, "", false, "2026-06-01T10:30:00Z");
    let hourly = Spec::every("1h").unwrap();
    rig.add("once", &hourly, "web", "deny", "once");
    rig.add("skip", &hourly, "web", "deny", "skip");
    let runner = rig.runner();
    // The daemon was down for five hours: five slots of each were missed.
    rig.clock.advance(5 * HOUR);
    let now = ms("2026-06-01T15:30:00Z");
    let fired = runner.tick().await;
    let of = |name: &str| {
        fired
            .iter()
            .filter(|f| f.job == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let once = of("once");
    assert_eq!(
        once.len(),
        1,
        "run once, not once per missed slot: {fired:?}"
    );
    assert_eq!(once[0].stop, "answer");
    let skip = of("skip");
    assert_eq!(skip.len(), 1);
    assert_eq!(skip[0].stop, "skipped", "skipped, not run");
    assert_eq!(
        model.request_count(),
        1,
        "only the `once` job reached the model"
    );
    let store = rig.turns.agent().store();
    for name in ["once", "skip"] {
        let next = store.job(name).unwrap().unwrap().next_due_ms.unwrap();
        assert!(next > now, "{name}: next due in the future");
    }
    assert_eq!(store.job_runs("skip", 10).unwrap()[0].stop, "skipped");
    assert!(store.job("skip").unwrap().unwrap().last_run_ms.is_none());
    // Nothing more until the next slot.
    assert!(runner.tick().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_job_does_not_fire_until_resumed() {
    let model = ModelServer::repeat(Reply::text("ok"));
    let rig = Rig::new(&model, "", false, "2026-06-01T10:00:00Z");
    rig.add("every", &Spec::every("30m").unwrap(), "web", "deny", "once");
    let store = rig.turns.agent().store().clone();
    assert!(store.set_job_paused("every", true).unwrap());
    let runner = rig.runner();
    let fired = step(&rig, &runner, "2026-06-01T13:00:00Z").await;
    assert!(fired.is_empty(), "{fired:?}");
    assert_eq!(model.request_count(), 0);
    assert!(store.set_job_paused("every", false).unwrap());
    let fired = runner.tick().await;
    assert_eq!(fired.len(), 1, "resumed, the (missed) run happens once");
    let fired = step(&rig, &runner, "2026-06-01T14:00:00Z").await;
    assert_eq!(fired["every"].len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jobs_own_caps_stop_its_run_before_the_call_is_sent() {
    let model = ModelServer::repeat(Reply::text("too expensive"));
    let rig = Rig::new(&model, "", false, "2026-05-01T09:00:00Z");
    let now = ms("2026-05-01T09:00:00Z");
    let store = rig.turns.agent().store();
    for (name, max_tokens, max_usd) in [("tokens", Some(50), None), ("money", None, Some(0.01))] {
        let job = chitin::schedule::job::make(
            &chitin::schedule::job::NewJob {
                name,
                spec: &Spec::at("in 5 minutes", now).unwrap(),
                prompt: "Summarise everything that happened this year",
                deliver: Some("web"),
                approvals: "deny",
                missed: "once",
                max_tokens,
                max_usd,
            },
            now,
        )
        .unwrap();
        assert!(store.add_job(&job).unwrap());
    }
    let runner = rig.runner();
    let fired = step_ending(&rig, &runner, "2026-05-01T09:10:00Z", "budget").await;
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert_eq!(model.request_count(), 0, "a call over a job's cap was sent");
    let tokens = &store.job_runs("tokens", 1).unwrap()[0];
    assert_eq!(tokens.stop, "budget");
    assert!(
        tokens.error.as_deref().unwrap().contains("--max-tokens"),
        "{tokens:?}"
    );
    // A money cap on an unpriced model is refused, not ignored.
    let money = &store.job_runs("money", 1).unwrap()[0];
    assert_eq!(money.stop, "budget");
    assert!(
        money.error.as_deref().unwrap().contains("has no price"),
        "{money:?}"
    );
}
