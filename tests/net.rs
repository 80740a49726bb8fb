//! Network capability: only granted origins are reachable; loopback,
//! private, link-local and disguised internal addresses are refused after
//! DNS unless the exact host is granted; redirects are re-checked; request
//! count and response size are capped; raw sockets are denied.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::capabilities::Grants;
use chitin::capabilities::limits::Limits;
use chitin::{CallError, Capability, Decision};
use serde_json::json;
use support::*;

fn is_denied(out: &chitin::CallOutcome) -> bool {
    matches!(out.result, Err(CallError::Denied(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_origin_is_reached() {
    let server = TestServer::start();
    let skill = hostile();
    let grants = net_grant(&[&server.base()]);
    let out = call(
        &skill,
        &grants,
        "fetch",
        json!({"url": format!("{}/text", server.base())}),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "hello from the test server");
    assert_eq!(server.requests().len(), 1);
    assert!(
        out.audit
            .iter()
            .any(|e| e.capability == Capability::Net && e.decision == Decision::Allow)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ungranted_origins_are_refused_before_any_connection() {
    let server = TestServer::start();
    let skill = hostile();
    let url = format!("{}/text", server.base());
    let other_port = format!("http://127.0.0.1:{}", server.port().wrapping_add(1).max(1));
    // (grant, why it must not match)
    let table: [(Vec<&str>, &str); 4] = [
        (vec![], "nothing granted"),
        (vec![&other_port], "another port"),
        (vec!["https://127.0.0.1:*"], "https only"),
        (
            vec!["http://*.127.0.0.1:*"],
            "subdomain wildcard does not match the apex",
        ),
    ];
    for (rules, why) in table {
        let out = call(&skill, &net_grant(&rules), "fetch", json!({"url": url})).await;
        assert!(is_denied(&out), "{why}: {:?}", out.result);
        let deny = out.denials().next().expect("a deny audit event");
        assert_eq!(deny.capability, Capability::Net);
        assert!(
            deny.hint
                .as_deref()
                .unwrap_or("")
                .contains(&format!("--allow-host {}", server.base())),
            "{deny:?}"
        );
        assert_host_alive().await;
    }
    assert!(
        server.requests().is_empty(),
        "the server must not have been contacted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_grants_never_reach_internal_addresses() {
    let server = TestServer::start();
    let skill = hostile();
    let p = server.port();
    // Everything is allowed by the allow-list here; only the post-DNS
    // address check stands between the skill and the loopback server.
    let grants = net_grant(&["http://*:*"]);
    let table = [
        format!("http://127.0.0.1:{p}/text"),
        format!("http://127.1:{p}/text"),
        format!("http://2130706433:{p}/text"),
        format!("http://0x7f000001:{p}/text"),
        format!("http://017700000001:{p}/text"),
        format!("http://localhost:{p}/text"),
        format!("http://[::1]:{p}/text"),
        format!("http://[::ffff:127.0.0.1]:{p}/text"),
        format!("http://[::ffff:7f00:1]:{p}/text"),
        format!("http://[::127.0.0.1]:{p}/text"),
        format!("http://0.0.0.0:{p}/text"),
        format!("http://[::]:{p}/text"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[fd00::1]/".to_string(),
        "http://10.0.0.1/".to_string(),
        "http://192.168.1.1/".to_string(),
    ];
    for url in table {
        let out = call(&skill, &grants, "fetch", json!({"url": url})).await;
        assert!(out.result.is_err(), "{url}: reached: {:?}", out.result);
        if is_denied(&out) {
            let hint = out
                .denials()
                .find_map(|d| d.hint.clone())
                .unwrap_or_default();
            assert!(hint.contains("the address itself"), "{url}: {hint}");
        }
        assert_host_alive().await;
    }
    assert!(
        server.requests().is_empty(),
        "an internal address was contacted: {:?}",
        server.requests()
    );
    // Forms only a translator gives meaning to are refused by the host
    // itself, before any connection: local-use NAT64 (RFC 8215), SIIT
    // IPv4-translated (RFC 2765), Teredo and the other 2001::/23 assignments.
    for url in [
        format!("http://[64:ff9b:1::7f00:1]:{p}/text"),
        format!("http://[::ffff:0:7f00:1]:{p}/text"),
        format!("http://[::ffff:0:a9fe:a9fe]:{p}/text"),
        format!("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{p}/text"),
        format!("http://[100::1]:{p}/text"),
    ] {
        let out = call(&skill, &grants, "fetch", json!({"url": url})).await;
        assert!(
            is_denied(&out),
            "{url}: not refused by the host: {:?}",
            out.result
        );
        assert_host_alive().await;
    }

    // The exact host, granted on purpose, is reachable.
    let exact = net_grant(&[&server.base()]);
    let out = call(
        &skill,
        &exact,
        "fetch",
        json!({"url": format!("{}/text", server.base())}),
    )
    .await;
    assert!(ok(&out).contains("hello from the test server"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_checked_again() {
    let allowed = TestServer::start();
    let denied = TestServer::start();
    let skill = hostile();
    let grants = net_grant(&[&allowed.base()]);
    for target in [
        format!("{}/text", denied.base()),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let url = format!("{}/redirect?to={}", allowed.base(), target);
        let out = call(&skill, &grants, "fetch", json!({"url": url})).await;
        assert!(is_denied(&out), "redirect to {target}: {:?}", out.result);
        assert!(
            out.audit.iter().any(|e| e.reason.contains("redirect to")),
            "the redirect is audited"
        );
        assert_host_alive().await;
    }
    assert!(denied.requests().is_empty());
    // The host itself never follows: without client-side following, the 302 comes back.
    let url = format!("{}/redirect?to={}/text", allowed.base(), denied.base());
    let out = call(
        &skill,
        &grants,
        "fetch",
        json!({"url": url, "follow": false}),
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(ok(&out)).unwrap();
    assert_eq!(v["status"], 302);
    assert!(denied.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_count_and_response_bytes_are_capped() {
    let server = TestServer::start();
    let skill = hostile();
    let mut grants = net_grant(&[&server.base()]);
    grants.limits = Limits {
        http_requests: 3,
        http_response_kib: 4,
        ..Limits::default()
    };

    // A redirect loop: the SDK follows, the host stops it at the cap.
    let out = call(
        &skill,
        &grants,
        "fetch",
        json!({"url": format!("{}/loop", server.base())}),
    )
    .await;
    assert!(out.result.is_err(), "{:?}", out.result);
    assert!(
        out.denials()
            .any(|d| d.capability == Capability::Limit
                && d.reason.contains("more than 3 HTTP requests")),
        "{:#?}",
        out.audit
    );
    assert_eq!(server.requests().len(), 3);

    // 64 KiB body against a 4 KiB budget.
    let out = call(
        &skill,
        &grants,
        "fetch",
        json!({"url": format!("{}/bytes?n=65536", server.base())}),
    )
    .await;
    assert!(out.result.is_err(), "{:?}", out.result);
    assert!(
        out.denials()
            .any(|d| d.capability == Capability::Limit && d.reason.contains("response bytes")),
        "{:#?}",
        out.audit
    );
    // Under the budget it works.
    let out = call(
        &skill,
        &grants,
        "fetch",
        json!({"url": format!("{}/bytes?n=1000", server.base())}),
    )
    .await;
    assert!(ok(&out).contains(&"x".repeat(1000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_sockets_are_denied_even_with_a_net_grant() {
    let server = TestServer::start();
    let skill = hostile();
    for grants in [Grants::default(), net_grant(&[&server.base()])] {
        let out = call(
            &skill,
            &grants,
            "socket",
            json!({"path": server.addr.to_string()}),
        )
        .await;
        assert!(out.result.is_err(), "{:?}", out.result);
        // The attempt itself is on record.
        assert!(
            out.denials()
                .any(|d| d.capability == chitin::Capability::Socket
                    && d.target.contains("TCP socket")),
            "not audited: {:#?}",
            out.audit
        );
    }
    assert!(server.requests().is_empty());
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_domain_name_cannot_be_pointed_at_an_internal_address() {
    // Stands in for DNS rebinding / a hostile DNS record: a domain name that
    // resolves to loopback (this machine's own hostname, via /etc/hosts).
    // Granting the name exactly is not enough to reach an internal address.
    let server = TestServer::start();
    let skill = hostile();
    let name = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let loopback = !name.is_empty()
        && tokio::net::lookup_host((name.as_str(), 0))
            .await
            .map(|mut a| a.any(|a| a.ip().is_loopback()))
            .unwrap_or(false);
    let names: Vec<String> = if loopback { vec![name] } else { Vec::new() };
    for name in names {
        let origin = format!("http://{name}:{}", server.port());
        let out = call(
            &skill,
            &net_grant(&[&origin]),
            "fetch",
            json!({"url": format!("{origin}/text")}),
        )
        .await;
        assert!(is_denied(&out), "{origin}: {:?}", out.result);
        assert!(
            out.denials()
                .any(|d| d.reason.contains("only public addresses")),
            "{:#?}",
            out.audit
        );
    }
    assert!(server.requests().is_empty());
    // localhost, named explicitly, is the user's deliberate choice.
    let origin = format!("http://localhost:{}", server.port());
    let out = call(
        &skill,
        &net_grant(&[&origin]),
        "fetch",
        json!({"url": format!("{origin}/text")}),
    )
    .await;
    assert!(ok(&out).contains("hello from the test server"));
}

#[test]
fn names_resolve_without_blocking_threads_and_every_answer_is_checked() {
    // The skill's names go to this server, through the async resolver: with
    // the runtime's only blocking thread pinned, a getaddrinfo lookup would
    // queue behind it and time out instead of being answered and checked.
    use support::dns::{Answer, DnsServer};
    let server = TestServer::start();
    let ips = |list: &[&str]| Answer::Addresses(list.iter().map(|s| s.parse().unwrap()).collect());
    let dns = DnsServer::start(&[
        ("rebind.test", ips(&["127.0.0.1"])),
        ("private.test", ips(&["10.1.2.3", "192.168.0.7", "fd00::1"])),
        ("gone.test", Answer::Missing),
        ("silent.test", Answer::Silent),
    ]);
    let host = chitin::SkillHost::new(chitin::HostConfig {
        nameservers: vec![dns.addr()],
        ..chitin::HostConfig::default()
    })
    .unwrap();
    let skill = host.load(&component("hostile")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (release, pinned) = std::sync::mpsc::channel::<()>();
    rt.spawn_blocking(move || {
        let _ = pinned.recv_timeout(std::time::Duration::from_secs(60));
    });

    // (name, refused, what the refusal or the skill's error must name)
    let table = [
        ("rebind.test", true, vec!["127.0.0.1"]),
        (
            "private.test",
            true,
            vec!["10.1.2.3", "192.168.0.7", "fd00::1"],
        ),
        ("gone.test", false, vec!["the host name does not exist"]),
        (
            "silent.test",
            false,
            vec!["resolving the host name timed out"],
        ),
    ];
    for (name, refused, named) in table {
        let origin = format!("http://{name}:{}", server.port());
        let input = json!({"url": format!("{origin}/text")}).to_string();
        let start = std::time::Instant::now();
        let out = rt.block_on(host.call(
            &skill,
            &net_grant(&[&origin]),
            &chitin::NoSecrets,
            "fetch",
            &input,
        ));
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "{name}: {:?}",
            start.elapsed()
        );
        assert!(out.result.is_err(), "{name}: {:?}", out.result);
        assert_eq!(is_denied(&out), refused, "{name}: {:?}", out.result);
        if refused {
            let deny = out.denials().next().expect("a deny audit event");
            assert!(deny.reason.contains("only public addresses"), "{deny:?}");
            for ip in named {
                assert!(deny.reason.contains(ip), "{name}: {deny:?}");
            }
        } else {
            assert_eq!(out.denials().count(), 0, "{name}: {:#?}", out.audit);
            // Plain words, not a debug dump of the WASI error value.
            let err = out.result.as_ref().unwrap_err().to_string();
            for words in named {
                assert!(words.split('|').any(|w| err.contains(w)), "{name}: {err}");
            }
            for dump in ["DnsError", "rcode", "Some(", "{"] {
                assert!(!err.contains(dump), "{name}: {err}");
            }
        }
    }
    assert!(dns.queries() >= 4, "{} queries", dns.queries());
    assert!(
        server.requests().is_empty(),
        "no internal address was contacted"
    );
    let _ = release.send(());
    rt.shutdown_background();
}
