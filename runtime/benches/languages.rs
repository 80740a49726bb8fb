//! Benchmark: the cost of a skill by source language. The same notes skill
//! in Rust (`skills/files`), C, Python, JavaScript and Go (`skills/notes-*`):
//!
//! - cold compile: component bytes → native code (Cranelift), no cache;
//! - cache load: `SkillHost::load` with the compiled form in the cache (what
//!   the daemon and `chitin skill run` pay after the first time);
//! - warm call: a `read` tool call in a fresh Store (instantiate + call);
//!
//! against a process spawn (`cat` of the same file) measured in this run.
//!
//! Run: `scripts/build-skills && scripts/install-toolchains && cargo bench -p chitin --profile dev --bench languages`
//! (it builds the C, Python, JS and Go skills it is missing). Under
//! `cargo test --benches` it does one quick round of Rust and C only: the
//! Python, JS and Go builds take seconds to half a minute each and the
//! languages tests already build them.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chitin::capabilities::fs::{Access, FsGrant};
use chitin::{Grants, HostConfig, NoSecrets, SkillHost};
use common::{fmt, root};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One language's skill.
struct Lang {
    label: &'static str,
    dir: PathBuf,
    component: PathBuf,
    slow: bool,
}

fn langs() -> Vec<Lang> {
    let skills = root().join("skills");
    let notes = |name: &str| {
        (
            skills.join(name),
            skills.join(name).join(format!("{name}.wasm")),
        )
    };
    let (c_dir, c_wasm) = notes("notes-c");
    let (py_dir, py_wasm) = notes("notes-py");
    let (js_dir, js_wasm) = notes("notes-js");
    let (go_dir, go_wasm) = notes("notes-go");
    vec![
        Lang {
            label: "Rust",
            dir: skills.join("files"),
            component: root().join("target/wasm32-wasip2/release/skill_files.wasm"),
            slow: false,
        },
        Lang {
            label: "C",
            dir: c_dir,
            component: c_wasm,
            slow: false,
        },
        Lang {
            label: "Python",
            dir: py_dir,
            component: py_wasm,
            slow: true,
        },
        Lang {
            label: "JavaScript",
            dir: js_dir,
            component: js_wasm,
            slow: true,
        },
        Lang {
            label: "Go",
            dir: go_dir,
            component: go_wasm,
            slow: true,
        },
    ]
}

/// Build a missing component with `chitin skill build` and the toolchains
/// scripts/install-toolchains puts under target/.
fn ensure_built(lang: &Lang) {
    if lang.component.exists() {
        return;
    }
    assert!(
        lang.label != "Rust",
        "build the skills first: scripts/build-skills"
    );
    let tools = root().join("target/toolchains");
    eprintln!("building {} ({})", lang.dir.display(), lang.label);
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_chitin"))
        .args(["skill", "build"])
        .arg(&lang.dir)
        .env(
            "CHITIN_COMPONENTIZE_PY",
            tools.join("python/bin/componentize-py"),
        )
        .env(
            "CHITIN_COMPONENTIZE_JS",
            tools.join("js/node_modules/.bin/componentize-js"),
        )
        .env("CHITIN_GO", tools.join("go/goroot/bin/go"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "chitin skill build {}",
        lang.dir.display()
    );
}

/// Median of `f` over `n` runs, in ns.
fn median(n: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_nanos() as f64
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

/// As many runs of `f` as fit in `budget` (at least `min`), median in ns.
fn median_for(budget: Duration, min: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut t = Vec::new();
    while t.len() < min || start.elapsed() < budget {
        let s = Instant::now();
        f();
        t.push(s.elapsed().as_nanos() as f64);
    }
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("todo.txt"), "buy kumquats").unwrap();
    let grants = Grants {
        fs: vec![FsGrant::new(ws.path(), "/workspace", Access::ReadOnly).unwrap()],
        ..Grants::default()
    };
    let input = r#"{"path":"todo.txt"}"#;

    let file = ws.path().join("todo.txt");
    let spawn = median_for(Duration::from_secs(2), if bench { 50 } else { 3 }, || {
        let out = std::process::Command::new("cat")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"buy kumquats");
    });

    let mut table = format!(
        "| language | component | cold compile | cache load | warm call | warm call ÷ process spawn ({}) |\n|---|---|---|---|---|---|\n",
        fmt(spawn)
    );
    for lang in langs() {
        if lang.slow && !bench {
            continue;
        }
        ensure_built(&lang);
        let bytes = std::fs::read(&lang.component).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let host = SkillHost::new(HostConfig {
            cache_dir: Some(cache.path().to_path_buf()),
            ..HostConfig::default()
        })
        .unwrap();
        let engine = host.engine().engine().clone();
        let samples = match (bench, lang.slow) {
            (false, _) => 1,
            (true, false) => 10,
            (true, true) => 3,
        };
        let compile = median(samples, || {
            chitin::cache::compile(&engine, &bytes).unwrap();
        });
        // The first load fills the cache; the measured ones hit it.
        let skill = host.load(&lang.dir).unwrap();
        let load = median(if bench { 10 } else { 1 }, || {
            host.load(&lang.dir).unwrap();
        });
        let call = median_for(
            Duration::from_secs(if bench { 3 } else { 0 }),
            if bench { 20 } else { 2 },
            || {
                let out = rt.block_on(host.call(&skill, &grants, &NoSecrets, "read", input));
                assert_eq!(out.result.as_deref(), Ok("buy kumquats"), "{}", lang.label);
            },
        );
        table.push_str(&format!(
            "| {} | {:.1} MB | {} | {} | {} | {:.2}× |\n",
            lang.label,
            bytes.len() as f64 / 1e6,
            fmt(compile),
            fmt(load),
            fmt(call),
            call / spawn
        ));
    }
    println!("\n{table}");
    if bench {
        let dir = root().join("target/criterion");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("languages.md"), &table).unwrap();
    }
}
