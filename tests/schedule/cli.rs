//! `chitin cron` through the real binary, and the agent's proposals.

use super::Rig;
use crate::support::agent::{Home, Scripted, turn};
use crate::support::model::{ModelServer, Reply};

fn ok(home: &Home, args: &[&str]) -> String {
    let (rc, out, err) = home.chitin(args);
    assert_eq!(rc, 0, "chitin {args:?}: {out}{err}");
    out
}

fn fails(home: &Home, args: &[&str]) -> String {
    let (rc, out, err) = home.chitin(args);
    assert_ne!(rc, 0, "chitin {args:?} should fail: {out}{err}");
    err
}

#[test]
fn cron_commands_round_trip() {
    let home = super::home();
    let out = ok(
        &home,
        &[
            "cron",
            "add",
            "briefing",
            "--cron",
            "0 7 * * *",
            "--tz",
            "Europe/Paris",
            "--deliver",
            "telegram:4242",
            "--prompt",
            "Summarise my day",
        ],
    );
    assert!(out.contains("added job briefing"), "{out}");
    assert!(out.contains("next run"), "{out}");
    ok(
        &home,
        &[
            "cron",
            "add",
            "tea",
            "--at",
            "in 20 minutes",
            "--prompt",
            "Tea is ready",
        ],
    );
    ok(
        &home,
        &[
            "cron",
            "add",
            "check",
            "--every",
            "30m",
            "--prompt",
            "Check",
            "--missed",
            "skip",
            "--approvals",
            "ask",
            "--max-usd",
            "0.25",
        ],
    );

    let list = ok(&home, &["cron", "list"]);
    for want in [
        "briefing",
        "cron 0 7 * * * (Europe/Paris)",
        "telegram:4242",
        "tea",
        "once at",
        "check",
        "every 30m",
        "-> web",
    ] {
        assert!(list.contains(want), "{want} in {list}");
    }
    let show = ok(&home, &["cron", "show", "check"]);
    assert!(show.contains("prompt:    Check"), "{show}");
    assert!(show.contains("missed:    skip"), "{show}");
    assert!(show.contains("approvals: ask"), "{show}");
    assert!(show.contains("no runs yet"), "{show}");
    assert!(show.contains("max USD per run: 0.25"), "{show}");

    ok(&home, &["cron", "pause", "briefing"]);
    assert!(ok(&home, &["cron", "list"]).contains("paused"));
    assert!(home.store().job("briefing").unwrap().unwrap().paused);
    let err = fails(&home, &["cron", "run-now", "briefing"]);
    assert!(err.contains("paused"), "{err}");
    let out = ok(&home, &["cron", "resume", "briefing"]);
    assert!(out.contains("resumed briefing; next run"), "{out}");
    assert!(!home.store().job("briefing").unwrap().unwrap().paused);
    let out = ok(&home, &["cron", "run-now", "briefing"]);
    assert!(out.contains("no daemon is running"), "{out}");
    let due = home
        .store()
        .job("briefing")
        .unwrap()
        .unwrap()
        .next_due_ms
        .unwrap();
    assert!(due <= chitin::store::now_ms());

    ok(&home, &["cron", "rm", "tea"]);
    assert!(!ok(&home, &["cron", "list"]).contains("tea"));
    let err = fails(&home, &["cron", "rm", "tea"]);
    assert!(err.contains("no job `tea`"), "{err}");
    let err = fails(
        &home,
        &["cron", "add", "check", "--every", "1h", "--prompt", "again"],
    );
    assert!(err.contains("exists already"), "{err}");
}

#[test]
fn bad_input_is_refused_naming_it() {
    let home = super::home();
    for (args, want) in [
        (
            vec!["--cron", "61 7 * * *"],
            "`61 7 * * *` is not a cron expression",
        ),
        (
            vec!["--cron", "0 7 * * *", "--tz", "Mars/Olympus"],
            "`Mars/Olympus` is not a time zone",
        ),
        (
            vec!["--at", "next tuesday-ish"],
            "`next tuesday-ish` is not a time",
        ),
        (
            vec!["--at", "2001-01-01T00:00:00Z"],
            "`2001-01-01T00:00:00Z` is in the past",
        ),
        (vec!["--every", "10s"], "`10s` is not an interval"),
        (
            vec!["--every", "1h", "--deliver", "irc:x"],
            "`irc:x` is not a delivery target",
        ),
        (
            vec!["--every", "1h", "--missed", "twice"],
            "`twice` is not a missed-run rule",
        ),
        (
            vec!["--every", "1h", "--max-usd", "0"],
            "--max-usd 0: must be a positive amount",
        ),
    ] {
        let mut all = vec!["cron", "add", "bad", "--prompt", "p"];
        all.extend(args.iter().copied());
        let err = fails(&home, &all);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let err = fails(
        &home,
        &["cron", "add", "no way", "--every", "1h", "--prompt", "p"],
    );
    assert!(err.contains("`no way` is not a job name"), "{err}");
    let err = fails(&home, &["cron", "show", "nothing"]);
    assert!(err.contains("no job `nothing`"), "{err}");
    assert!(home.store().jobs().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proposal_is_not_a_job_until_the_owner_confirms_it() {
    let args = r#"{"name":"standup","cron":"0 9 * * 1-5","tz":"Europe/Paris","prompt":"Remind me of the standup \u001b[31m now"}"#;
    let model = ModelServer::start(vec![
        Reply::tool("propose_job", args),
        Reply::text("I proposed it; confirm it with chitin cron confirm."),
    ]);
    let rig = Rig::new(&model, "", false, "2026-06-01T06:00:00Z");
    let (_, _, session) = turn(
        rig.turns.agent(),
        "remind me every weekday",
        &Scripted(None),
    )
    .await;
    let store = rig.turns.agent().store().clone();
    let proposals = store.proposals().unwrap();
    assert_eq!(proposals.len(), 1);
    assert_eq!(proposals[0].session, session);
    assert!(store.jobs().unwrap().is_empty(), "a proposal is not a job");
    let told = model.requests().last().unwrap().body.to_string();
    assert!(told.contains("chitin cron confirm"), "{told}");
    // It never runs, however long the clock goes.
    let runner = rig.runner();
    for _ in 0..14 {
        rig.clock.advance(24 * 3_600_000);
        assert!(runner.tick().await.is_empty());
    }
    assert_eq!(model.request_count(), 2);

    let id = proposals[0].id.clone();
    let list = ok(&rig.home, &["cron", "list"]);
    assert!(list.contains(&format!("proposed {id}")), "{list}");
    let err = fails(&rig.home, &["cron", "confirm", &id]);
    assert!(err.contains("--yes"), "no terminal, no --yes: {err}");
    let out = ok(&rig.home, &["cron", "confirm", &id, "--yes"]);
    assert!(out.contains("created job standup"), "{out}");
    assert!(out.contains("cron 0 9 * * 1-5 (Europe/Paris)"), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "the model's text is cleaned: {out:?}"
    );
    let job = store.job("standup").unwrap().unwrap();
    assert_eq!(job.approvals, "deny");
    assert!(store.proposals().unwrap().is_empty());
    let err = fails(&rig.home, &["cron", "confirm", &id, "--yes"]);
    assert!(err.contains("no proposal"), "{err}");
}
