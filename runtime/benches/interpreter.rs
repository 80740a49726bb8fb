//! Benchmark: the code interpreters (target/interpreters/{python,js}.wasm,
//! from scripts/build-interpreters). One `run` call in a fresh instance
//! (what the agent pays per snippet) against the same work done by spawning
//! `python3 -c` / `node -e` on the host, measured in the same run:
//!
//! - `1+1`: the fixed cost (instantiate CPython/SpiderMonkey, call, JSON);
//! - `sum(range(10**6))` (a 10⁶-step loop in JS): interpreter speed.
//!
//! Run: `cargo bench -p chitin --profile dev --bench interpreter`. Under
//! `cargo test --benches` it does one call of each. Compiled components are
//! cached in target/interpreters/cache, so only the first run compiles.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chitin::{Grants, HostConfig, NoSecrets, SkillHost};
use common::{fmt, root};
use std::process::Command;
use std::time::{Duration, Instant};

/// As many runs of `f` as fit in `budget` (at least `min`), median in ns.
fn median_for(budget: Duration, min: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut t = Vec::new();
    while t.len() < min || (start.elapsed() < budget && t.len() < 1000) {
        let s = Instant::now();
        f();
        t.push(s.elapsed().as_nanos() as f64);
    }
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

/// One interpreter: its component, the host program, and the work.
struct Lang {
    label: &'static str,
    component: &'static str,
    program: &'static str,
    flag: &'static str,
    /// (label, code for the component, code for the host program, result)
    work: [(&'static str, &'static str, &'static str, &'static str); 2],
}

const LANGS: [Lang; 2] = [
    Lang {
        label: "Python",
        component: "python.wasm",
        program: "python3",
        flag: "-c",
        work: [
            ("1+1", "1+1", "print(1+1)", "2"),
            (
                "sum(range(10**6))",
                "sum(range(10**6))",
                "print(sum(range(10**6)))",
                "499999500000",
            ),
        ],
    },
    Lang {
        label: "JavaScript",
        component: "js.wasm",
        program: "node",
        flag: "-e",
        work: [
            ("1+1", "1+1", "console.log(1+1)", "2"),
            (
                "10⁶-step sum loop",
                "let s = 0; for (let i = 0; i < 1e6; i++) s += i; s",
                "let s = 0; for (let i = 0; i < 1e6; i++) s += i; console.log(s)",
                "499999500000",
            ),
        ],
    },
];

fn build() {
    let out = Command::new(root().join("scripts/build-interpreters"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/build-interpreters: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    build();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = root().join("target/interpreters");
    let host = SkillHost::new(HostConfig {
        cache_dir: Some(dir.join("cache")),
        ..HostConfig::default()
    })
    .unwrap();
    let mut grants = Grants::default();
    grants.limits.memory_mib = 256;
    grants.limits.cpu_ms = 10_000;
    let (budget, min) = if bench {
        (Duration::from_secs(5), 10)
    } else {
        (Duration::ZERO, 1)
    };

    let mut table = String::from(
        "| interpreter | work | component call | host process | call ÷ process |\n|---|---|---|---|---|\n",
    );
    for lang in LANGS {
        let path = dir.join(lang.component);
        let size = std::fs::metadata(&path).unwrap().len();
        let skill = host.load(&path).unwrap();
        let has_program = Command::new(lang.program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        for (label, code, host_code, want) in lang.work {
            let input = serde_json::json!({ "code": code }).to_string();
            let call = median_for(budget, min, || {
                let out = rt.block_on(host.call(&skill, &grants, &NoSecrets, "run", &input));
                let v: serde_json::Value =
                    serde_json::from_str(out.result.as_deref().unwrap()).unwrap();
                assert_eq!(v["result"], want, "{} {label}: {v}", lang.label);
            });
            let spawn = has_program.then(|| {
                median_for(budget, min, || {
                    let out = Command::new(lang.program)
                        .args([lang.flag, host_code])
                        .output()
                        .unwrap();
                    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
                })
            });
            table.push_str(&format!(
                "| {} ({:.1} MB) | `{label}` | {} | {} | {} |\n",
                lang.label,
                size as f64 / 1e6,
                fmt(call),
                spawn.map_or("—".into(), fmt),
                spawn.map_or("—".into(), |s| format!("{:.2}×", call / s)),
            ));
        }
    }
    println!("\n{table}");
    if bench {
        let out = root().join("target/criterion");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("interpreter.md"), &table).unwrap();
    }
}
