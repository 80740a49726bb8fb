//! Limits: CPU (epoch ticks in WebAssembly), wall-clock time, memory, stack
//! depth, output size and log volume each stop a hostile call with a clean,
//! typed error, and the host keeps working.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use chitin::capabilities::Grants;
use chitin::capabilities::limits::{LimitKind, Limits};
use chitin::{CallError, Capability};
use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

fn with(limits: Limits) -> Grants {
    Grants {
        limits,
        ..Grants::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_stops_its_attack() {
    let skill = hostile();
    let d = Limits::default();
    // (attack, tool, input, limits, expected limit)
    let table = [
        (
            "infinite loop",
            "spin",
            json!({}),
            Limits { cpu_ms: 200, ..d },
            LimitKind::Cpu,
        ),
        (
            "blocking host call",
            "sleep",
            json!({"n": 60_000}),
            Limits {
                timeout_ms: 300,
                ..d
            },
            LimitKind::Timeout,
        ),
        (
            "memory bomb",
            "alloc",
            json!({"n": 4096}),
            Limits {
                memory_mib: 32,
                ..d
            },
            LimitKind::Memory,
        ),
        (
            "deep recursion",
            "recurse",
            json!({"n": 100_000_000u64}),
            d,
            LimitKind::Stack,
        ),
        (
            "huge output",
            "output",
            json!({"n": 3 * 1024 * 1024}),
            Limits {
                output_kib: 1024,
                ..d
            },
            LimitKind::Output,
        ),
    ];
    for (attack, tool, input, limits, kind) in table {
        let start = Instant::now();
        let out = call(&skill, &with(limits), tool, input).await;
        assert_eq!(out.limit, Some(kind), "{attack}: {:?}", out.result);
        assert!(
            matches!(out.result, Err(CallError::Limit(_))),
            "{attack}: {:?}",
            out.result
        );
        assert!(
            out.denials().any(|e| e.capability == Capability::Limit),
            "{attack}: audited"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{attack}: took {:?}",
            start.elapsed()
        );
        assert_host_alive().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_become_typed_errors() {
    let skill = hostile();
    // Big frames exhaust the shadow stack in linear memory first: a trap.
    let out = call(
        &skill,
        &Grants::default(),
        "recurse-shadow",
        json!({"n": 100_000_000u64}),
    )
    .await;
    match &out.result {
        Err(CallError::Trap(m)) => {
            assert!(m.contains("out of bounds"), "{m}");
            assert!(
                !m.contains("wasm backtrace"),
                "a user-facing message, not a backtrace: {m}"
            );
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_flood_is_capped_without_failing_the_call() {
    let skill = hostile();
    let out = call(
        &skill,
        &with(Limits {
            log_kib: 4,
            ..Limits::default()
        }),
        "flood",
        json!({"n": 20_000}),
    )
    .await;
    assert_eq!(ok(&out), "flooded");
    let kept: usize = out.logs.iter().map(|l| l.message.len()).sum();
    assert!(kept <= 4 * 1024, "kept {kept} bytes of logs");
    assert!(out.logs_dropped > 1000, "dropped {}", out.logs_dropped);
    assert!(
        out.logs.iter().any(|l| l.level == "info") && out.logs.iter().any(|l| l.level == "stdout")
    );
    assert_eq!(
        out.denials()
            .filter(|e| e.capability == Capability::Limit)
            .count(),
        1,
        "audited once"
    );
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_skill_does_not_block_other_calls() {
    let skill = hostile();
    let spin = tokio::spawn(async move {
        let skill = hostile();
        call(
            &skill,
            &with(Limits {
                cpu_ms: 1500,
                ..Limits::default()
            }),
            "spin",
            json!({}),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let start = Instant::now();
    let out = call(&skill, &Grants::default(), "output", json!({"n": 5})).await;
    assert_eq!(ok(&out), "AAAAA");
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "a benign call waited {:?} behind a spinning one",
        start.elapsed()
    );
    assert_eq!(spin.await.unwrap().limit, Some(LimitKind::Cpu));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_on_the_network_is_not_cpu_time() {
    // The CPU meter counts epoch ticks seen while executing WebAssembly, so
    // a slow server (host I/O) does not use up the CPU budget; the wall-clock
    // timeout still bounds it.
    let server = TestServer::start();
    let skill = hostile();
    let url = format!("{}/slow?ms=1500", server.base());
    let mut grants = net_grant(&[&server.base()]);
    grants.limits = Limits {
        cpu_ms: 500,
        ..Limits::default()
    };
    let out = call(&skill, &grants, "fetch", json!({"url": url})).await;
    assert!(ok(&out).contains("slow"), "{:?}", out.result);

    grants.limits = Limits {
        cpu_ms: 500,
        timeout_ms: 700,
        ..Limits::default()
    };
    let out = call(&skill, &grants, "fetch", json!({"url": url})).await;
    assert_eq!(out.limit, Some(LimitKind::Timeout), "{:?}", out.result);
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_side_resources_are_bounded() {
    // Each header map pins ~30 KB of host memory; the per-call resource
    // table cap stops the flood long before the host runs short.
    let skill = hostile();
    let out = call(
        &skill,
        &Grants::default(),
        "resources",
        json!({"n": 1_000_000}),
    )
    .await;
    match &out.result {
        Err(CallError::Trap(m)) => assert!(
            m.contains("resource table") || m.contains("capacity"),
            "{m}"
        ),
        other => panic!("expected the resource flood to be stopped, got {other:?}"),
    }
    // A normal number of resources is fine.
    let out = call(&skill, &Grants::default(), "resources", json!({"n": 100})).await;
    assert_eq!(ok(&out), "holding 100 header maps");
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_log_lines_are_not_free() {
    let skill = hostile();
    let out = call(
        &skill,
        &with(Limits {
            log_kib: 4,
            ..Limits::default()
        }),
        "flood",
        json!({"n": 200_000, "text": ""}),
    )
    .await;
    assert_eq!(ok(&out), "flooded");
    assert!(
        out.logs.len() <= 4 * 1024 / chitin::capabilities::log::LINE_COST,
        "kept {} lines",
        out.logs.len()
    );
    assert!(out.logs_dropped >= 199_000, "dropped {}", out.logs_dropped);
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_one_budget_for_every_memory_of_a_component() {
    // A component with extra core instances, each with its own memory that
    // grows to 48 MiB: each is under the 64 MiB default, together they are not.
    let base = std::fs::read(component("hostile")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let build = |name: &str, count: usize, pages: u32| {
        let path = tmp.path().join(name);
        std::fs::write(&path, shapes::with_memory_hogs(&base, count, pages)).unwrap();
        host().load(&path).unwrap()
    };
    let hogs = build("hogs.wasm", 6, 768);
    let out = call(&hogs, &Grants::default(), "output", json!({"n": 3})).await;
    assert_eq!(out.limit, Some(LimitKind::Memory), "{:?}", out.result);
    assert!(
        matches!(out.result, Err(CallError::Limit(_))),
        "{:?}",
        out.result
    );
    assert_host_alive().await;

    // The same shape within the budget runs.
    let small = build("small.wasm", 3, 64);
    let out = call(&small, &Grants::default(), "output", json!({"n": 3})).await;
    assert_eq!(ok(&out), "AAA");

    // More memories than any real skill has are refused when loaded.
    let path = tmp.path().join("many.wasm");
    std::fs::write(&path, shapes::with_memory_hogs(&base, 16, 0)).unwrap();
    let err = host().load(&path).unwrap_err().to_string();
    assert!(err.contains("linear memories"), "{err}");
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_spent_inside_host_calls_is_metered() {
    // Random bytes are a cheap-looking import that costs the host real CPU.
    let skill = hostile();
    let rounds = |out: &chitin::CallOutcome| -> Vec<u64> {
        out.logs
            .iter()
            .filter_map(|l| {
                let mut w = l.message.split_whitespace();
                (w.next() == Some("round")).then(|| w.nth(1)?.parse().ok())?
            })
            .collect()
    };
    // One huge request (each would be ~100 ms of host CPU in one host call,
    // unseen by a meter that counts only time back in WebAssembly) is refused.
    let out = call(
        &skill,
        &with(Limits {
            memory_mib: 256,
            ..Limits::default()
        }),
        "random",
        json!({"n": 50, "len": 64 * 1024 * 1024}),
    )
    .await;
    assert!(out.result.is_err(), "{:?}", out.result);
    assert!(rounds(&out).is_empty(), "a 64 MiB request was served");
    assert_host_alive().await;

    // Many allowed ones: measure a round, give the call a budget of a few
    // rounds; it stops after about that many.
    let len = 1024 * 1024;
    let out = call(
        &skill,
        &Grants::default(),
        "random",
        json!({"n": 9, "len": len}),
    )
    .await;
    assert!(ok(&out).contains("9 rounds"));
    let mut per_round = rounds(&out);
    per_round.sort();
    let round_ms = (per_round[4] / 1_000_000).max(1);
    let budget = (4 * round_ms as u32).max(20);
    let capped = with(Limits {
        cpu_ms: budget,
        timeout_ms: 60_000,
        ..Limits::default()
    });
    let out = call(&skill, &capped, "random", json!({"n": 100_000, "len": len})).await;
    assert_eq!(out.limit, Some(LimitKind::Cpu), "{:?}", out.result);
    let done = rounds(&out).len() as u64;
    assert!(
        done <= 3 * (u64::from(budget) / round_ms) + 4,
        "{done} rounds of ~{round_ms} ms ran under a {budget} ms CPU budget"
    );
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_capped_like_outputs() {
    let skill = hostile();
    let out = call(
        &skill,
        &with(Limits {
            output_kib: 1,
            ..Limits::default()
        }),
        "fail",
        json!({"n": 8 * 1024 * 1024}),
    )
    .await;
    match &out.result {
        Err(CallError::Failed(m)) => {
            assert!(
                m.len() < 2048,
                "a {} byte error passed a 1 KiB cap",
                m.len()
            );
            assert!(
                m.contains("more bytes"),
                "says it was cut: {}",
                &m[m.len() - 40..]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_host_alive().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sandbox_makes_calls_wait_their_turn_fairly_instead_of_failing() {
    // 600 calls that each hold an instance for 50 ms: more than the pool's
    // 256 instances at once. Each waits for a slot; none fails. A caller
    // with a few calls is not stuck behind one with hundreds.
    let host = chitin::SkillHost::new(chitin::HostConfig::default()).unwrap();
    let skill = host.load(&component("hostile")).unwrap();
    let plan = host.prepare(&skill, &Grants::default(), &chitin::NoSecrets);
    let started = Instant::now();
    let call = |caller: String| {
        let (host, skill, plan) = (&host, &skill, &plan);
        async move {
            let out = host
                .call_as(&caller, skill, plan, "sleep", r#"{"n": 50}"#)
                .await;
            (caller, out.result, started.elapsed())
        }
    };
    let busy = (0..400).map(|_| call("busy".to_string()));
    let others = (0..200).map(|i| call(format!("session-{}", i % 20)));
    let late = (0..5).map(|_| call("late".to_string()));
    let all = futures_util::future::join_all(busy.chain(others).chain(late)).await;
    let failed: Vec<_> = all.iter().filter(|(_, r, _)| r.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed[0]
    );
    let last = |who: &str| {
        all.iter()
            .filter(|(c, _, _)| c == who)
            .map(|(_, _, t)| *t)
            .max()
            .unwrap()
    };
    assert!(
        last("late") < last("busy"),
        "late: {:?}, busy: {:?}",
        last("late"),
        last("busy")
    );
    assert_eq!(host.queue().running(), 0);
    assert_eq!(host.queue().waiting(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_waits_too_long_says_the_sandbox_is_busy() {
    let host = chitin::SkillHost::new(chitin::HostConfig {
        queue: chitin::queue::QueueConfig {
            slots: 1,
            per_caller: 1,
            max_waiting: 10,
            wait: Duration::from_millis(200),
        },
        ..chitin::HostConfig::default()
    })
    .unwrap();
    let skill = host.load(&component("hostile")).unwrap();
    let plan = host.prepare(&skill, &Grants::default(), &chitin::NoSecrets);
    let long = host.call_as("a", &skill, &plan, "sleep", r#"{"n": 1000}"#);
    let short = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        host.call_as("b", &skill, &plan, "output", "{}").await
    };
    let (long, short) = tokio::join!(long, short);
    assert_eq!(long.result.as_deref(), Ok("slept"));
    match short.result {
        Err(CallError::Busy(m)) => assert!(m.contains("busy") && m.contains("waited"), "{m}"),
        other => panic!("{other:?}"),
    }
}
