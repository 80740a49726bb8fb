//! Benchmark: the token bill of a 20-step tool-using turn with prompt
//! caching on and off. `chitin ask` reads 19 files through the sandboxed
//! `files` skill, one per step, then answers; the scripted model server
//! keeps a prompt cache and reports its hits the way each provider does
//! (Anthropic: `cache_read_input_tokens` / `cache_creation_input_tokens`
//! for the prefix up to each `cache_control` breakpoint; DeepSeek:
//! `prompt_cache_hit_tokens` for the longest prefix shared with an earlier
//! prompt). The figures come from `chitin usage --json`, i.e. from what
//! Chitin recorded.
//!
//! Reported per configuration: input tokens sent over the turn, the part
//! read from / written to the cache, and the input billed in units of
//! uncached tokens (cache reads at 0.1×, Anthropic cache writes at 1.25×,
//! the providers' list multipliers), as a ratio to caching off.
//!
//! Run: `scripts/build-skills && cargo bench -p chitin --profile dev --bench caching`
//! (under `cargo test --benches` it runs a 5-step turn as a smoke test).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../tests/support/model.rs"]
mod model;

use common::{chitin, pack_and_install, root};
use model::{CacheMode, ModelServer, Reply};
use std::path::Path;

struct Run {
    label: &'static str,
    input: u64,
    read: u64,
    write: u64,
    calls: u64,
}

impl Run {
    /// Input in units of an uncached token.
    fn billed(&self) -> f64 {
        let uncached = self.input - self.read - self.write;
        uncached as f64 + 0.1 * self.read as f64 + 1.25 * self.write as f64
    }
}

/// One turn of `steps` model calls against a fresh server; its usage.
fn run(
    home: &Path,
    label: &'static str,
    kind: &str,
    cache: CacheMode,
    prompt_cache: bool,
    steps: usize,
) -> Run {
    let mut script: Vec<Reply> = (1..steps)
        .map(|i| Reply::tool("files__read", &format!(r#"{{"path":"f{i:02}.txt"}}"#)))
        .collect();
    script.push(Reply::text("I read them all."));
    let server = ModelServer::start(script).with_prompt_cache(cache);
    let model = label.replace([' ', ','], "-");
    std::fs::write(
        home.join("config/config.toml"),
        format!(
            "[provider]\nkind = \"{kind}\"\nbase_url = \"{}\"\nmodel = \"{model}\"\nprompt_cache = {prompt_cache}\n\n[agent]\nmax_steps = {}\nmax_tokens_per_day = 1000000000\n",
            server.base_url(),
            steps + 1
        ),
    )
    .unwrap();
    let out = chitin(
        home,
        &[
            "ask",
            "--local",
            "--yes",
            "read f01.txt to the last file, one at a time",
        ],
    );
    assert!(out.contains("I read them all."), "{out}");
    assert_eq!(server.request_count(), steps, "{label}");
    let usage = chitin(home, &["usage", "--json"]);
    let row: serde_json::Value = usage
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["model"] == model.as_str())
        .unwrap();
    let n = |k: &str| row["usage"][k].as_u64().unwrap_or(0);
    Run {
        label,
        input: n("input_tokens"),
        read: n("cache_read_tokens"),
        write: n("cache_write_tokens"),
        calls: row["calls"].as_u64().unwrap(),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let steps = if full { 20 } else { 5 };
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    for i in 1..steps {
        // ~2 KB of distinct text per file.
        let line = format!("file {i:02}: the quick brown fox jumps over the lazy dog {i}\n");
        std::fs::write(
            ws.join(format!("f{i:02}.txt")),
            line.repeat(2048 / line.len()),
        )
        .unwrap();
    }
    let public = chitin(&home, &["key", "generate"]);
    chitin(&home, &["trust", "add", "chitin", public.trim()]);
    pack_and_install(
        &home,
        &root().join("skills/files"),
        &tmp.path().join("files.wasm"),
        &ws,
    );

    let runs = [
        run(
            &home,
            "Anthropic, caching off",
            "anthropic",
            CacheMode::Anthropic,
            false,
            steps,
        ),
        run(
            &home,
            "Anthropic, caching on",
            "anthropic",
            CacheMode::Anthropic,
            true,
            steps,
        ),
        run(
            &home,
            "DeepSeek, no cache",
            "openai",
            CacheMode::Off,
            true,
            steps,
        ),
        run(
            &home,
            "DeepSeek, automatic cache",
            "openai",
            CacheMode::DeepSeek,
            true,
            steps,
        ),
    ];
    for r in &runs {
        assert_eq!(r.calls, steps as u64, "{}", r.label);
    }
    let mut out = format!(
        "{steps}-step turn ({} tool calls):\n\n| configuration | input tokens sent | read from cache | written to cache | billed input (uncached units) | ratio to off |\n|---|---|---|---|---|---|\n",
        steps - 1
    );
    for (i, r) in runs.iter().enumerate() {
        let off = &runs[i - i % 2];
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.2}× |\n",
            r.label,
            r.input,
            r.read,
            r.write,
            r.billed(),
            r.billed() / off.billed()
        ));
    }
    println!("\n{out}");
    let dir = root().join("target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("caching.md"), &out);
    // Caching must pay for itself even in the smoke run.
    assert!(runs[1].billed() < runs[0].billed(), "{out}");
    assert!(runs[3].billed() < runs[2].billed(), "{out}");
}
