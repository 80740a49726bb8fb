//! `calendar` against fake servers on 127.0.0.1: an ICS feed (RFC 5545,
//! with a VTIMEZONE, RRULE/EXDATE, DATE events, folded and escaped text)
//! and a CalDAV collection answering REPORT with a 207 multistatus and
//! PUT with 201 (RFC 4791). Fixtures: tests/fixtures/daily/calendar/.

use crate::support::*;
use chitin::CallError;
use chitin::capabilities::Grants;
use chitin::capabilities::secrets::SecretRule;
use serde_json::{Value, json};
use std::collections::HashMap;

const AUTH: &str = "Basic YWRhOmNvcnJlY3QtaG9yc2UtYmF0dGVyeQ==";
const COLLECTION: &str = "/dav/calendars/ada/personal/";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/daily/calendar").join(name)).unwrap()
}

fn grants(server: &TestServer) -> Grants {
    let mut g = net_grant(&[&server.base()]);
    g.secrets.push(SecretRule {
        name: "CALDAV_AUTH".into(),
        host: server.base(),
        header: "authorization".into(),
        prefix: String::new(),
    });
    g
}

async fn run(grants: &Grants, tool: &str, input: Value) -> chitin::CallOutcome {
    let secrets = HashMap::from([("CALDAV_AUTH".to_string(), AUTH.to_string())]);
    call_with(&load("calendar"), grants, &secrets, tool, input).await
}

fn out(outcome: &chitin::CallOutcome) -> Value {
    let text = ok(outcome);
    assert!(
        !text.contains("YWRhOmNvcnJlY3Q"),
        "the credential leaked: {text}"
    );
    serde_json::from_str(text).unwrap()
}

fn failed(outcome: &chitin::CallOutcome) -> String {
    match &outcome.result {
        Err(CallError::Failed(m)) => m.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn summaries_and_starts(page: &Value) -> Vec<(String, String)> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["summary"].as_str().unwrap().to_string(),
                e["start"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ics_feed_expands_recurrences_in_the_window_sorted() {
    let server = TestServer::start();
    server.route(
        "/team.ics",
        200,
        &[("Content-Type", "text/calendar; charset=utf-8")],
        fixture("team.ics"),
    );
    let g = net_grant(&[&server.base()]);
    let url = format!("{}/team.ics", server.base());
    let page = out(&run(
        &g,
        "events",
        json!({"url": url, "start": "2026-12-01", "end": "2026-12-08"}),
    )
    .await);
    let got = summaries_and_starts(&page);
    let want = [
        ("Gym", "2026-12-01T07:00:00+00:00"),
        // Europe/Berlin is UTC+1 in December; Friday the 4th is an EXDATE.
        ("Team standup", "2026-12-02T09:30:00+01:00"),
        ("Gym", "2026-12-03T07:00:00+00:00"),
        ("Dentist, check-up", "2026-12-03T14:00:00+00:00"),
        ("Gym", "2026-12-05T07:00:00+00:00"),
        ("Gym", "2026-12-07T07:00:00+00:00"),
        ("Team standup", "2026-12-07T09:30:00+01:00"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(page["count"], 7);
    assert_eq!(page["truncated"], false);
    let dentist = &page["events"][3];
    // Escaped text (\, \; \n) and a folded DESCRIPTION line, decoded.
    assert_eq!(dentist["location"], "Main St. 5, Floor 2");
    assert_eq!(
        dentist["description"],
        "Bring the insurance card.\nAsk about the x-ray; and the bill from last time."
    );
    assert_eq!(dentist["end"], "2026-12-03T15:00:00+00:00");
    assert_eq!(page["events"][1]["end"], "2026-12-02T09:45:00+01:00");
    assert_eq!(page["events"][1]["recurring"], true);
    assert_eq!(dentist["recurring"], false);

    // All-day (DATE) events keep their dates; DTEND is exclusive.
    let page = out(&run(
        &g,
        "events",
        json!({"url": url, "start": "2026-12-20", "end": "2026-12-31"}),
    )
    .await);
    assert_eq!(page["count"], 1, "{page}");
    let xmas = &page["events"][0];
    assert_eq!(
        (xmas["start"].as_str(), xmas["end"].as_str()),
        (Some("2026-12-24"), Some("2026-12-26"))
    );
    assert_eq!(xmas["all_day"], true);

    // The cap: the three earliest, and it says there were more.
    let page = out(&run(
        &g,
        "events",
        json!({"url": url, "start": "2026-12-01", "end": "2026-12-08", "limit": 3}),
    )
    .await);
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    assert_eq!(page["events"][2]["summary"], "Gym");
    assert_eq!(
        (page["count"].as_u64(), page["truncated"].as_bool()),
        (Some(7), Some(true))
    );

    // webcal:// is read as https:// (and so needs an https grant).
    let o = run(
        &g,
        "events",
        json!({"url": format!("webcal://127.0.0.1:{}/team.ics", server.port())}),
    )
    .await;
    assert!(
        matches!(o.result, Err(CallError::Denied(_))),
        "{:?}",
        o.result
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_feed_is_denied_with_the_grant_to_add() {
    let server = TestServer::start();
    server.route(
        "/team.ics",
        200,
        &[("Content-Type", "text/calendar")],
        fixture("team.ics"),
    );
    let o = run(
        &net_grant(&[]),
        "events",
        json!({"url": format!("{}/team.ics", server.base())}),
    )
    .await;
    match &o.result {
        Err(CallError::Denied(m)) => {
            assert!(
                m.contains(&format!(
                    "chitin skill grant calendar net:{}",
                    server.base()
                )),
                "{m}"
            )
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_feeds_are_cleaned_bounded_or_refused() {
    let server = TestServer::start();
    let g = net_grant(&[&server.base()]);
    let base = server.base();

    // Escape sequences stripped; a rule that would run forever is cut and named.
    server.route(
        "/hostile.ics",
        200,
        &[("Content-Type", "text/calendar")],
        fixture("hostile.ics"),
    );
    let started = std::time::Instant::now();
    let page = out(&run(
        &g,
        "events",
        json!({"url": format!("{base}/hostile.ics"), "start": "2026-12-01", "end": "2026-12-08"}),
    )
    .await);
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(
        page["events"][0]["summary"],
        "[2J]0;ownedQuarterly planning"
    );
    assert!(!page.to_string().contains("\\u001b"));
    let warnings = page["warnings"].to_string();
    assert!(warnings.contains("Every minute since 1990"), "{warnings}");

    server.route(
        "/login.ics",
        200,
        &[("Content-Type", "text/html")],
        b"<!DOCTYPE html><html><body>Sign in</body></html>".to_vec(),
    );
    let m = failed(&run(&g, "events", json!({"url": format!("{base}/login.ics")})).await);
    assert!(m.contains("HTML page"), "{m}");

    server.route(
        "/garbage.ics",
        200,
        &[("Content-Type", "text/calendar")],
        b"{\"events\": []}".to_vec(),
    );
    let m = failed(&run(&g, "events", json!({"url": format!("{base}/garbage.ics")})).await);
    assert!(m.contains("not a valid iCalendar feed"), "{m}");

    let mut huge = b"BEGIN:VCALENDAR\r\n".to_vec();
    huge.resize(5 * 1024 * 1024, b'X');
    server.route("/huge.ics", 200, &[("Content-Type", "text/calendar")], huge);
    let m = failed(&run(&g, "events", json!({"url": format!("{base}/huge.ics")})).await);
    assert!(
        m.contains("larger than 4 MiB") || m.contains("exceeds limit"),
        "{m}"
    );

    server.route("/private.ics", 401, &[], b"Unauthorized".to_vec());
    let m = failed(&run(&g, "events", json!({"url": format!("{base}/private.ics")})).await);
    assert!(m.contains("401"), "{m}");

    for bad in [
        json!({"url": "file:///etc/passwd"}),
        json!({"url": format!("{base}/x.ics"), "start": "soon"}),
        json!({"url": format!("{base}/x.ics"), "start": "2026-01-01", "end": "2028-01-01"}),
    ] {
        let o = run(&g, "events", bad.clone()).await;
        assert!(
            matches!(o.result, Err(CallError::InvalidInput(_))),
            "{bad}: {:?}",
            o.result
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caldav_list_sends_a_time_range_report_with_the_injected_credential() {
    let server = TestServer::start();
    server.route(
        COLLECTION,
        207,
        &[("Content-Type", "application/xml; charset=utf-8")],
        fixture("report.xml"),
    );
    let g = grants(&server);
    let cal = format!("{}{COLLECTION}", server.base());
    let page = out(&run(
        &g,
        "list",
        json!({"calendar": cal, "start": "2026-12-01T00:00:00Z", "end": "2026-12-08T00:00:00Z"}),
    )
    .await);
    let got = summaries_and_starts(&page);
    assert_eq!(
        got,
        [
            (
                "R&D sync <weekly>".to_string(),
                "2026-12-02T15:00:00+00:00".to_string()
            ),
            (
                "Lunch with Grace".to_string(),
                "2026-12-03T12:00:00-05:00".to_string()
            ),
        ]
    );
    assert_eq!(
        page["events"][0]["href"],
        "/dav/calendars/ada/personal/rd-sync.ics"
    );
    assert_eq!(page["events"][1]["location"], "Cafe <Central>");

    let req = &server.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("REPORT", COLLECTION)
    );
    assert_eq!(req.headers["authorization"], AUTH);
    assert_eq!(req.headers["depth"], "1");
    let body = String::from_utf8(req.body.clone()).unwrap();
    assert!(
        body.contains("calendar-query")
            && body.contains(r#"<C:time-range start="20261201T000000Z" end="20261208T000000Z"/>"#),
        "{body}"
    );

    // Not a multistatus; credentials refused; not granted.
    server.route(
        "/dav/other/",
        207,
        &[("Content-Type", "application/xml")],
        b"<html><body>hi</body></html>".to_vec(),
    );
    let m = failed(
        &run(
            &g,
            "list",
            json!({"calendar": format!("{}/dav/other/", server.base())}),
        )
        .await,
    );
    assert!(m.contains("multistatus"), "{m}");
    server.route(
        "/dav/locked/",
        401,
        &[("WWW-Authenticate", "Basic realm=\"dav\"")],
        b"".to_vec(),
    );
    let m = failed(
        &run(
            &g,
            "list",
            json!({"calendar": format!("{}/dav/locked/", server.base())}),
        )
        .await,
    );
    assert!(m.contains("CALDAV_AUTH"), "{m}");
    // Not granted: nothing reaches the server, and a request with a body
    // (this REPORT) is a denial too, not a failed body write.
    let before = server.requests().len();
    let o = run(&net_grant(&[]), "list", json!({"calendar": cal})).await;
    assert!(
        matches!(o.result, Err(CallError::Denied(_))),
        "{:?}",
        o.result
    );
    assert_eq!(server.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caldav_create_puts_a_new_event_with_a_fresh_uid() {
    let server = TestServer::start();
    server.route(
        &format!("{COLLECTION}*"),
        201,
        &[("ETag", "\"e-1\"")],
        b"".to_vec(),
    );
    let g = grants(&server);
    let cal = format!("{}{COLLECTION}", server.base());
    let input = json!({"calendar": cal, "summary": "Review, Q4; plan", "start": "2026-12-10T10:00:00+01:00",
                       "location": "Room 2", "description": "line one\nline two"});
    let res = out(&run(&g, "create", input.clone()).await);
    let created = &res["created"];
    assert_eq!(created["start"], "2026-12-10T09:00:00+00:00");
    assert_eq!(created["end"], "2026-12-10T10:00:00+00:00");
    assert_eq!(res["etag"], "\"e-1\"");
    let uid = created["uid"].as_str().unwrap();
    assert!(uid.ends_with("@chitin") && uid.len() > 30, "{uid}");

    let req = server.requests().pop().unwrap();
    assert_eq!(req.method, "PUT");
    assert_eq!(req.path, format!("{COLLECTION}{uid}.ics"));
    assert_eq!(created["href"], format!("{}{}", server.base(), req.path));
    assert_eq!(req.headers["if-none-match"], "*");
    assert_eq!(req.headers["authorization"], AUTH);
    assert!(req.headers["content-type"].starts_with("text/calendar"));
    let ics = String::from_utf8(req.body.clone()).unwrap();
    for line in [
        "BEGIN:VEVENT",
        &format!("UID:{uid}"),
        "DTSTART:20261210T090000Z",
        "DTEND:20261210T100000Z",
        "SUMMARY:Review\\, Q4\\; plan",
        "DESCRIPTION:line one\\nline two",
    ] {
        assert!(ics.contains(line), "missing {line} in {ics}");
    }

    // A second create has another UID.
    let again = out(&run(&g, "create", input).await);
    assert_ne!(again["created"]["uid"], created["uid"]);

    // All-day; and a 412 (UID taken) is reported, not hidden.
    let res = out(&run(
        &g,
        "create",
        json!({"calendar": cal, "summary": "Holiday", "start": "2026-12-24"}),
    )
    .await);
    assert_eq!(
        (
            res["created"]["start"].as_str(),
            res["created"]["end"].as_str()
        ),
        (Some("2026-12-24"), Some("2026-12-25"))
    );
    let body = String::from_utf8(server.requests().pop().unwrap().body).unwrap();
    assert!(body.contains("DTSTART;VALUE=DATE:20261224"), "{body}");
    server.route("/dav/full/*", 412, &[], b"".to_vec());
    let m = failed(&run(&g, "create", json!({"calendar": format!("{}/dav/full", server.base()), "summary": "x", "start": "2026-12-24"})).await);
    assert!(m.contains("412"), "{m}");

    for bad in [
        json!({"calendar": format!("{cal}?x=1"), "summary": "x", "start": "2026-12-24"}),
        json!({"calendar": cal, "summary": "", "start": "2026-12-24"}),
        json!({"calendar": cal, "summary": "x", "start": "2026-12-24", "end": "2026-12-24T10:00:00Z"}),
    ] {
        let o = run(&g, "create", bad.clone()).await;
        assert!(
            matches!(o.result, Err(CallError::InvalidInput(_))),
            "{bad}: {:?}",
            o.result
        );
    }
}
