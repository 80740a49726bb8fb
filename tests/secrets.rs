//! Secrets capability: the host injects a granted secret into requests to
//! its one host only; the skill can never read it (not from the env, not
//! from a server that echoes it back, not by setting the header itself),
//! and it is redacted from everything returned.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::capabilities::Grants;
use chitin::capabilities::secrets::SecretRule;
use chitin::{CallError, Capability};
use serde_json::json;
use std::collections::HashMap;
use support::*;

const TOKEN: &str = "ghp_live_secret_value_0123456789";

fn secrets() -> HashMap<String, String> {
    HashMap::from([("GITHUB_TOKEN".to_string(), TOKEN.to_string())])
}

fn rule(host: &str) -> SecretRule {
    SecretRule {
        name: "GITHUB_TOKEN".into(),
        host: host.into(),
        header: "authorization".into(),
        prefix: "Bearer ".into(),
    }
}

fn grants_for(server: &TestServer) -> Grants {
    Grants {
        secrets: vec![rule(&server.base())],
        ..net_grant(&[&server.base()])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_skill_gets_the_secret_injected_but_never_sees_it() {
    let server = TestServer::start();
    let github = load("github");
    let out = call_with(
        &github,
        &grants_for(&server),
        &secrets(),
        "repo",
        json!({"owner": "chitin", "repo": "chitin", "api": server.base()}),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(v["stars"], 42);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let everything = serde_json::to_string(&out).unwrap();
    assert!(
        !everything.contains(TOKEN),
        "the secret leaked into the outcome"
    );
    assert!(
        out.audit.iter().any(|e| e.capability == Capability::Secret
            && e.reason.contains("injected secret GITHUB_TOKEN"))
    );

    // Without the secret granted, the API refuses, and nothing was injected.
    let out = call_with(
        &github,
        &net_grant(&[&server.base()]),
        &secrets(),
        "repo",
        json!({"owner": "chitin", "repo": "chitin", "api": server.base()}),
    )
    .await;
    assert!(
        matches!(&out.result, Err(CallError::Failed(m)) if m.contains("401")),
        "{:?}",
        out.result
    );
    assert!(!server.requests()[1].headers.contains_key("authorization"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoing_server_cannot_hand_the_secret_to_the_skill() {
    let server = TestServer::start();
    let skill = hostile();
    let out = call_with(
        &skill,
        &grants_for(&server),
        &secrets(),
        "fetch",
        json!({"url": format!("{}/echo-auth", server.base())}),
    )
    .await;
    let body = ok(&out);
    assert!(
        server.requests()[0].headers["authorization"].contains(TOKEN),
        "the server did get it"
    );
    assert!(!body.contains(TOKEN), "the skill saw the secret: {body}");
    assert!(body.contains("[REDACTED]"), "{body}");

    // Transformed before returning (so output-side redaction cannot help):
    // the body itself must already have been scrubbed, headers too.
    let out = call_with(
        &skill,
        &grants_for(&server),
        &secrets(),
        "fetch",
        json!({"url": format!("{}/echo-auth", server.base()), "reverse": true}),
    )
    .await;
    let reversed: String = TOKEN.chars().rev().collect();
    let v: serde_json::Value = serde_json::from_str(ok(&out)).unwrap();
    assert!(
        !v["body"].as_str().unwrap().contains(&reversed),
        "the skill exfiltrated a transformed secret: {v}"
    );
    assert!(v["body"].as_str().unwrap().contains("]DETCADER["), "{v}");
    // Headers were reversed by the skill too: redacted before it saw them.
    assert_eq!(v["headers"]["ohce-x"], "]DETCADER[ reraeB", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_set_credential_headers_are_refused() {
    let server = TestServer::start();
    let skill = hostile();
    for name in ["authorization", "Authorization", "AUTHORIZATION"] {
        let headers = json!({ name: "Bearer stolen-or-forged" });
        let out = call_with(
            &skill,
            &grants_for(&server),
            &secrets(),
            "fetch",
            json!({"url": format!("{}/echo-auth", server.base()), "headers": headers}),
        )
        .await;
        assert!(
            matches!(out.result, Err(CallError::Denied(_))),
            "{name}: {:?}",
            out.result
        );
        assert!(
            out.denials().any(|d| d.capability == Capability::Secret),
            "{:#?}",
            out.audit
        );
        assert_host_alive().await;
    }
    assert!(
        server.requests().is_empty(),
        "a request with a forged credential went out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_goes_to_its_host_only_even_across_redirects() {
    let home = TestServer::start();
    let other = TestServer::start();
    let skill = hostile();
    let mut grants = grants_for(&home);
    grants.net.extend(net_grant(&[&other.base()]).net);
    for url in [
        format!("{}/echo-auth", other.base()),
        format!("{}/redirect?to={}/echo-auth", home.base(), other.base()),
    ] {
        let out = call_with(&skill, &grants, &secrets(), "fetch", json!({"url": url})).await;
        ok(&out);
    }
    let got = other.requests();
    assert_eq!(got.len(), 2);
    assert!(
        got.iter().all(|r| !r.headers.contains_key("authorization")),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unset_secrets_are_reported_and_env_is_empty() {
    let server = TestServer::start();
    let skill = hostile();
    let out = call_with(
        &skill,
        &grants_for(&server),
        &HashMap::new(),
        "fetch",
        json!({"url": format!("{}/echo-auth", server.base())}),
    )
    .await;
    ok(&out);
    assert!(
        out.denials()
            .any(|d| d.hint.as_deref() == Some("set it with `chitin secret set GITHUB_TOKEN`")),
        "{:#?}",
        out.audit
    );

    // The host's environment (where OpenClaw-style agents keep API keys) is invisible.
    let out = call(&skill, &Grants::default(), "env", json!({})).await;
    let v: serde_json::Value = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(v["vars"], json!({}), "{v}");
    assert_eq!(v["args"], json!([]), "{v}");
    assert!(
        std::env::var("PATH").is_ok(),
        "the host itself does have an environment"
    );
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoes_cannot_dodge_redaction() {
    let server = TestServer::start();
    let skill = hostile();
    let g = grants_for(&server);
    // Asking for compression or byte ranges: the host overrides both.
    let headers = json!({"accept-encoding": "gzip", "range": "bytes=0-5"});
    let out = call_with(
        &skill,
        &g,
        &secrets(),
        "fetch",
        json!({"url": format!("{}/echo-auth", server.base()), "headers": headers}),
    )
    .await;
    assert!(!ok(&out).contains(TOKEN));
    let sent = &server.requests()[0].headers;
    assert_eq!(
        sent.get("accept-encoding").map(String::as_str),
        Some("identity")
    );
    assert!(!sent.contains_key("range"), "{sent:?}");
    // A content-encoded answer to a request carrying a secret is refused.
    let out = call_with(
        &skill,
        &g,
        &secrets(),
        "fetch",
        json!({"url": format!("{}/encoded-echo", server.base())}),
    )
    .await;
    assert!(out.result.is_err(), "{:?}", out.result);
    assert!(
        out.denials().any(|d| d.reason.contains("content-encoded")),
        "{:#?}",
        out.audit
    );
    // Escaped forms (JSON `\/`, percent-encoding) are redacted too, even transformed.
    let out = call_with(
        &skill,
        &g,
        &secrets(),
        "fetch",
        json!({"url": format!("{}/json-echo", server.base()), "reverse": true}),
    )
    .await;
    let body = serde_json::from_str::<serde_json::Value>(ok(&out)).unwrap()["body"]
        .as_str()
        .unwrap()
        .chars()
        .rev()
        .collect::<String>();
    assert!(
        !body.contains(TOKEN) && !body.contains("ghp_live"),
        "{body}"
    );
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_never_hold_the_secret() {
    // The server redirects to a URL carrying the secret: the audit event
    // recording the redirect, and what the skill sees, are both redacted.
    let server = TestServer::start();
    let skill = hostile();
    let out = call_with(
        &skill,
        &grants_for(&server),
        &secrets(),
        "fetch",
        json!({"url": format!("{}/redirect-auth", server.base()), "follow": false}),
    )
    .await;
    let all = serde_json::to_string(&out).unwrap();
    assert!(
        out.audit.iter().any(|e| e.reason.contains("redirect to")),
        "{:#?}",
        out.audit
    );
    assert!(!all.contains(TOKEN) && !all.contains("ghp_live"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_echoed_as_a_header_name_is_redacted() {
    // The server reflects the token into a response header *name*, which
    // arrives lowercased (so an exact match misses a mixed-case secret); the
    // skill reverses what it got, so only redaction on the way in can help.
    const MIXED: &str = "Tok3n_MIXED_Case_987654";
    let server = TestServer::start();
    let skill = hostile();
    let secrets = HashMap::from([("GITHUB_TOKEN".to_string(), MIXED.to_string())]);
    for reverse in [false, true] {
        let out = call_with(
            &skill,
            &grants_for(&server),
            &secrets,
            "fetch",
            json!({"url": format!("{}/echo-auth-name", server.base()), "reverse": reverse}),
        )
        .await;
        let shown = ok(&out).to_ascii_lowercase();
        let lower = MIXED.to_ascii_lowercase();
        let reversed: String = lower.chars().rev().collect();
        assert!(
            !shown.contains(&lower) && !shown.contains(&reversed),
            "the skill saw the secret in a header name: {shown}"
        );
        assert!(
            server.requests().last().unwrap().headers["authorization"].contains(MIXED),
            "the server did get it"
        );
    }
    assert_host_alive().await;
}
