//! `home-assistant` against a fake Home Assistant on 127.0.0.1 answering
//! the REST API's documented shapes (fixtures under
//! tests/fixtures/daily/home-assistant/, as `/api/states` and
//! `/api/services/<domain>/<service>` return them).

use crate::support::*;
use chitin::CallError;
use chitin::capabilities::Grants;
use chitin::capabilities::secrets::SecretRule;
use serde_json::{Value, json};
use std::collections::HashMap;

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.test-long-lived-token.c2lnbmF0dXJl";
const JSON: &[(&str, &str)] = &[("Content-Type", "application/json")];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        root()
            .join("tests/fixtures/daily/home-assistant")
            .join(name),
    )
    .unwrap()
}

fn grants(server: &TestServer) -> Grants {
    let mut g = net_grant(&[&server.base()]);
    g.secrets.push(SecretRule {
        name: "HOME_ASSISTANT_TOKEN".into(),
        host: server.base(),
        header: "authorization".into(),
        prefix: "Bearer ".into(),
    });
    g
}

fn secrets() -> HashMap<String, String> {
    HashMap::from([("HOME_ASSISTANT_TOKEN".to_string(), TOKEN.to_string())])
}

async fn run(
    server: &TestServer,
    grants: &Grants,
    tool: &str,
    mut input: Value,
) -> chitin::CallOutcome {
    input["base_url"] = json!(server.base());
    call_with(&load("home-assistant"), grants, &secrets(), tool, input).await
}

fn out(outcome: &chitin::CallOutcome) -> Value {
    let text = ok(outcome);
    assert!(
        !text.contains(TOKEN),
        "the token leaked into the output: {text}"
    );
    serde_json::from_str(text).unwrap()
}

fn failed(outcome: &chitin::CallOutcome) -> String {
    match &outcome.result {
        Err(CallError::Failed(m)) => m.clone(),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_filters_by_domain_with_the_injected_token() {
    let server = TestServer::start();
    server.route("/api/states", 200, JSON, fixture("states.json"));
    let g = grants(&server);

    let page = out(&run(&server, &g, "states", json!({"domain": "light"})).await);
    let ids: Vec<&str> = page["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["light.kitchen", "light.living_room"]);
    assert_eq!(page["states"][0]["name"], "Kitchen Light");
    assert_eq!(page["states"][0]["state"], "on");
    assert_eq!(page["count"], 2);
    assert_eq!(page["truncated"], false);

    let req = &server.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("GET", "/api/states")
    );
    assert_eq!(req.headers["authorization"], format!("Bearer {TOKEN}"));

    // The cap: two of five, and it says so.
    let page = out(&run(&server, &g, "states", json!({"limit": 2})).await);
    assert_eq!(page["states"].as_array().unwrap().len(), 2);
    assert_eq!(page["count"], 5);
    assert_eq!(page["truncated"], true);
    let sensor = out(&run(&server, &g, "states", json!({"domain": "sensor"})).await);
    assert_eq!(sensor["states"][0]["unit"], "°C");
    assert_eq!(sensor["states"][0]["state"], "3.4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_returns_attributes_and_validates_the_entity_id() {
    let server = TestServer::start();
    server.route(
        "/api/states/light.kitchen",
        200,
        JSON,
        fixture("state_light_kitchen.json"),
    );
    server.route(
        "/api/states/light.garage",
        404,
        JSON,
        br#"{"message": "Entity not found."}"#.to_vec(),
    );
    let g = grants(&server);

    let s = out(&run(&server, &g, "state", json!({"entity_id": "light.kitchen"})).await);
    assert_eq!(s["attributes"]["brightness"], 180);
    assert_eq!(
        s["attributes"]["supported_color_modes"],
        r#"["brightness","color_temp"]"#
    );
    assert_eq!(s["last_changed"], "2026-12-01T18:03:27.113529+00:00");

    let missing = failed(&run(&server, &g, "state", json!({"entity_id": "light.garage"})).await);
    assert!(
        missing.contains("not found") && missing.contains("Entity not found."),
        "{missing}"
    );

    let before = server.requests().len();
    for bad in [
        "light",
        "light.kitchen/../../config",
        "light.kitchen?x=1",
        "Light.Kitchen",
        "../api.x",
    ] {
        let o = run(&server, &g, "state", json!({"entity_id": bad})).await;
        assert!(
            matches!(o.result, Err(CallError::InvalidInput(_))),
            "{bad}: {:?}",
            o.result
        );
    }
    assert_eq!(
        server.requests().len(),
        before,
        "an invalid entity_id must not reach the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_service_posts_the_data_and_returns_changed_states() {
    let server = TestServer::start();
    server.route(
        "/api/services/light/turn_on",
        200,
        JSON,
        fixture("service_light_turn_on.json"),
    );
    let g = grants(&server);
    let data = json!({"entity_id": "light.living_room", "brightness": 128, "hs_color": [30, 60]});
    let res = out(&run(
        &server,
        &g,
        "call_service",
        json!({"domain": "light", "service": "turn_on", "data": data}),
    )
    .await);
    assert_eq!(res["called"], "light.turn_on");
    assert_eq!(res["changed"][0]["entity_id"], "light.living_room");
    assert_eq!(res["changed"][0]["state"], "on");

    let req = server.requests().pop().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/api/services/light/turn_on")
    );
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(req.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(serde_json::from_slice::<Value>(&req.body).unwrap(), data);

    for (domain, service) in [("light/../..", "x"), ("light", "turn_on?x"), ("light", "")] {
        let o = run(
            &server,
            &g,
            "call_service",
            json!({"domain": domain, "service": service}),
        )
        .await;
        assert!(
            matches!(o.result, Err(CallError::InvalidInput(_))),
            "{domain}/{service}: {:?}",
            o.result
        );
    }

    // Declared effects: the write is visible so a user can set an `ask` policy.
    let tools = host().tools(&load("home-assistant")).await.unwrap();
    let cs = tools.iter().find(|t| t.name == "call_service").unwrap();
    assert!(cs.description.starts_with("WRITES"), "{}", cs.description);
    assert_eq!(cs.effects, ["network", "uses-secret:HOME_ASSISTANT_TOKEN"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungranted_home_assistant_is_denied_with_the_grant_to_add() {
    let server = TestServer::start();
    server.route("/api/states", 200, JSON, fixture("states.json"));
    let o = run(&server, &net_grant(&[]), "states", json!({})).await;
    match &o.result {
        Err(CallError::Denied(m)) => assert!(m.contains("skill grant home-assistant"), "{m}"),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_are_refused_or_cleaned() {
    let server = TestServer::start();
    let g = grants(&server);

    // Wrong types are skipped and counted; escape sequences are stripped.
    server.route("/api/states", 200, JSON, fixture("hostile_states.json"));
    let page = out(&run(&server, &g, "states", json!({})).await);
    assert_eq!(page["skipped_malformed"], 4);
    let porch = &page["states"][0];
    assert_eq!(porch["entity_id"], "light.porch");
    assert_eq!(porch["state"], "on[2J]0;pwned");
    assert_eq!(porch["name"], "Porch[31m RED [0m");
    assert!(!page.to_string().contains('\u{1b}'));
    assert_eq!(porch["last_changed"], 17);

    // A login page instead of the API.
    server.route(
        "/api/states/light.kitchen",
        200,
        &[("Content-Type", "text/html")],
        b"<!DOCTYPE html><html><body>Login</body></html>".to_vec(),
    );
    let m = failed(&run(&server, &g, "state", json!({"entity_id": "light.kitchen"})).await);
    assert!(m.contains("HTML page") && m.contains("base_url"), "{m}");

    // Not a list where one is expected.
    server.route(
        "/api/services/light/toggle",
        200,
        JSON,
        br#"{"changed": "yes"}"#.to_vec(),
    );
    let m = failed(
        &run(
            &server,
            &g,
            "call_service",
            json!({"domain": "light", "service": "toggle"}),
        )
        .await,
    );
    assert!(m.contains("list of changed states"), "{m}");

    // A bad token.
    server.route(
        "/api/states/sun.sun",
        401,
        &[("Content-Type", "text/plain")],
        b"401: Unauthorized".to_vec(),
    );
    let m = failed(&run(&server, &g, "state", json!({"entity_id": "sun.sun"})).await);
    assert!(
        m.contains("HOME_ASSISTANT_TOKEN") && m.contains("401"),
        "{m}"
    );

    // Huge: more than the 8 MiB read cap is refused, not parsed.
    let mut huge = b"[".to_vec();
    let one = br#"{"entity_id":"sensor.x","state":"1","attributes":{}},"#;
    while huge.len() < 9 * 1024 * 1024 {
        huge.extend_from_slice(one);
    }
    huge.extend_from_slice(br#"{"entity_id":"sensor.y","state":"2"}]"#);
    server.route("/api/states", 200, JSON, huge);
    let m = failed(&run(&server, &g, "states", json!({})).await);
    // The host's per-call response cap may stop it first.
    assert!(
        m.contains("larger than 8 MiB") || m.contains("exceeds limit"),
        "{m}"
    );
}
