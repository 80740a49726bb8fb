//! Spend caps, checked before a model call is sent: a call that would cross
//! the day's cap (tokens or USD) never reaches the provider; an allowed
//! call's output limit is lowered to what the cap leaves; `chitin usage`
//! money totals per day, session and job follow the price table.

use crate::support::agent::{Home, Scripted, turn};
use crate::support::model::{ModelServer, Reply};
use chitin::agent::TurnOptions;
use chitin::agent::config::Prices;
use chitin::agent::events::{Stop, TurnEvent};
use chitin::agent::turn::TurnIo;
use chitin::provider::ProviderKind;
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

fn prices(input: f64, output: f64) -> BTreeMap<String, Prices> {
    BTreeMap::from([(
        "test-model".to_string(),
        Prices {
            input,
            cached_input: None,
            cache_write: None,
            output,
        },
    )])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_over_the_days_token_cap_is_not_sent() {
    let home = Home::new();
    let first = ModelServer::start(vec![Reply::text("one")]).with_usage(900, 60);
    let cap = "max_tokens_per_day = 1000\n";
    let agent = home.agent(ProviderKind::Openai, &first, cap);
    let (s, _, _) = turn(&agent, "hello", &Scripted(None)).await;
    assert_eq!(s.stop, Stop::Answer, "{:?}", s.error);
    // The allowed call's output was capped to what the day leaves.
    let sent = first.requests()[0].body["max_tokens"].as_u64().unwrap();
    assert!((64..1000).contains(&sent), "max_tokens {sent}");

    // 960 of 1000 spent: the next call would cross the cap.
    let second = ModelServer::start(vec![Reply::text("two")]);
    let agent = home.agent(ProviderKind::Openai, &second, cap);
    let (s, events, _) = turn(&agent, "hello again", &Scripted(None)).await;
    assert_eq!(s.stop, Stop::Budget);
    assert!(
        second.requests().is_empty(),
        "the provider received a request"
    );
    let why = s.error.unwrap();
    assert!(
        why.contains("not sent") && why.contains("max_tokens_per_day"),
        "{why}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TurnEvent::Error { message } if message == &why))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn caps_in_money_stop_before_the_call_and_need_a_price() {
    let home = Home::new();
    // $1000 per million tokens in and out: 1000 + 500 tokens cost $1.50.
    let server = ModelServer::repeat(Reply::text("fine")).with_usage(1000, 500);
    let agent = home
        .agent(ProviderKind::Openai, &server, "max_usd_per_day = 2.0\n")
        .with_prices(prices(1000.0, 1000.0));
    let (s, _, _) = turn(&agent, "first", &Scripted(None)).await;
    assert_eq!(s.stop, Stop::Answer, "{:?}", s.error);
    assert_eq!(server.requests().len(), 1);
    // What is left ($0.50) buys at most 500 tokens, input included.
    let (s, _, _) = turn(&agent, &"a long question ".repeat(200), &Scripted(None)).await;
    assert_eq!(s.stop, Stop::Budget, "{:?}", s.error);
    assert_eq!(server.requests().len(), 1, "the second call was sent");
    assert!(s.error.unwrap().contains("$1.5000 of $2.0000"));

    // A money cap with no price for the model is refused, not ignored.
    let unpriced = ModelServer::start(vec![Reply::text("x")]);
    let agent = home.agent(ProviderKind::Openai, &unpriced, "max_usd_per_turn = 1.0\n");
    let (s, _, _) = turn(&agent, "hi", &Scripted(None)).await;
    assert_eq!(s.stop, Stop::Budget);
    assert!(s.error.unwrap().contains("has no price"));
    assert!(unpriced.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_totals_in_money_match_the_price_table() {
    let home = Home::new();
    let server = ModelServer::repeat(Reply::text("fine")).with_usage(2000, 400);
    home.configure("openai", &server, "");
    let config = home.home.join("config/config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[prices.\"test-model\"]\ninput = 3.0\noutput = 15.0\n");
    std::fs::write(&config, text).unwrap();
    let agent = home
        .agent(ProviderKind::Openai, &server, "")
        .with_prices(prices(3.0, 15.0));
    // Two turns in sessions of their own, one as a scheduled job's run.
    turn(&agent, "one", &Scripted(None)).await;
    turn(&agent, "two", &Scripted(None)).await;
    let job_session = agent.store().create_session("Job: briefing").unwrap().id;
    let sink = |_e: TurnEvent| {};
    let io = TurnIo {
        events: &sink,
        approver: &Scripted(None),
        cancel: CancellationToken::new(),
    };
    let opts = TurnOptions {
        job: Some("briefing".into()),
        ..TurnOptions::default()
    };
    let s = agent
        .run_turn_with(&job_session, "brief me", &io, opts)
        .await;
    assert_eq!(s.stop, Stop::Answer, "{:?}", s.error);

    // One call: 2000 in at $3/M + 400 out at $15/M = $0.012.
    let per_call = 2000.0 * 3.0 / 1e6 + 400.0 * 15.0 / 1e6;
    let rows = |by: &str| -> Vec<serde_json::Value> {
        let (code, out, err) = home.chitin(&["usage", "--json", "--by", by]);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let cost = |rows: &[serde_json::Value]| {
        rows.iter()
            .map(|r| r["cost_usd"].as_f64().unwrap())
            .sum::<f64>()
    };
    let by_day = rows("day");
    assert_eq!(by_day.len(), 1);
    assert!((cost(&by_day) - 3.0 * per_call).abs() < 1e-9, "{by_day:?}");
    let by_session = rows("session");
    assert_eq!(by_session.len(), 3);
    assert!(
        by_session
            .iter()
            .all(|r| (r["cost_usd"].as_f64().unwrap() - per_call).abs() < 1e-9)
    );
    let by_job = rows("job");
    let job: Vec<_> = by_job.iter().filter(|r| r["group"] == "briefing").collect();
    assert_eq!(job.len(), 1, "{by_job:?}");
    assert!((job[0]["cost_usd"].as_f64().unwrap() - per_call).abs() < 1e-9);
    assert_eq!(job[0]["calls"], 1);
    let (code, table, _) = home.chitin(&["usage", "--by", "job"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("briefing") && table.contains("(no job)"),
        "{table}"
    );
    assert!(
        table.contains(&format!("${:.4}", 3.0 * per_call)),
        "{table}"
    );
}
