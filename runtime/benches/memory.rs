//! Benchmark: memory search over 10,000 notes (Markdown entries spread over
//! `notes.md` and 300 daily logs, indexed in SQLite FTS5) as the
//! `memory_search` tool runs it — the check of every file against the index
//! included — as a ratio to one `Store::append` of an event in the same
//! run. Also prints how long the first indexing of the 10,000 took.
//!
//! Run: `cargo bench -p chitin --profile dev --bench memory`
//! (under `cargo test --benches` it runs one quick round as a smoke test).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chitin::memory::Memory;
use chitin::store::{EventKind, Store};
use criterion::{Criterion, criterion_group};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const NOTES: usize = 10_000;
const DAILY_FILES: usize = 300;

/// A deterministic vocabulary of 3,000 made-up words.
fn word(n: u64) -> String {
    const SYL: [&str; 20] = [
        "ka", "lo", "mi", "ten", "ra", "vo", "shi", "pe", "dun", "sa", "qui", "bel", "nor", "fi",
        "gu", "zan", "te", "mor", "li", "ax",
    ];
    let n = n % 3000;
    format!(
        "{}{}{}",
        SYL[(n % 20) as usize],
        SYL[((n / 20) % 20) as usize],
        SYL[((n / 400) % 20) as usize]
    )
}

/// One note of 8–20 words.
fn note(seed: &mut u64) -> String {
    let mut next = || {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    };
    let len = 8 + next() % 13;
    let mut out = String::from("- ");
    for i in 0..len {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&word(next()));
    }
    out.push('\n');
    out
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("memory");
    std::fs::create_dir_all(dir.join("daily")).unwrap();
    let mut seed = 7u64;
    let per_file = NOTES / (DAILY_FILES + 1);
    let mut written = 0;
    for f in 0..=DAILY_FILES {
        let mut text = String::from("# Notes\n\n");
        let n = if f == DAILY_FILES {
            NOTES - written
        } else {
            per_file
        };
        for _ in 0..n {
            text.push_str(&note(&mut seed));
        }
        written += n;
        let path = if f == DAILY_FILES {
            dir.join("notes.md")
        } else {
            let mut name = String::new();
            write!(name, "2026-{:02}-{:02}.md", 1 + f / 28, 1 + f % 28).unwrap();
            dir.join("daily").join(name)
        };
        std::fs::write(path, text).unwrap();
    }
    let memory = Memory::open_at(&dir, &tmp.path().join("memory-index.db")).unwrap();
    let started = Instant::now();
    assert_eq!(memory.entries().unwrap(), NOTES);
    eprintln!(
        "memory: first indexing of {NOTES} notes in {} files: {}",
        DAILY_FILES + 1,
        common::fmt(started.elapsed().as_nanos() as f64)
    );
    let query = format!("{} {} please", word(17), word(1234));
    assert!(!memory.search(&query, 8).unwrap().is_empty());

    let mut g = c.benchmark_group("memory");
    g.measurement_time(Duration::from_secs(3)).sample_size(30);
    g.bench_function("search_10k", |b| {
        b.iter(|| assert!(!memory.search(&query, 8).unwrap().is_empty()))
    });
    g.bench_function("recall_10k", |b| {
        b.iter(|| assert!(memory.recall(&query, 1000).unwrap().is_some()))
    });
    let store = Store::open(&tmp.path().join("sessions.db")).unwrap();
    let sid = store.create_session("bench").unwrap().id;
    let usage = serde_json::json!({"input_tokens": 10, "output_tokens": 5});
    g.bench_function("store_append", |b| {
        b.iter(|| {
            store
                .append(&sid, Some("t"), EventKind::Usage, &usage)
                .unwrap()
        })
    });
    g.finish();
}

fn summary() {
    common::ratio_table(
        ("memory", "store_append"),
        "one event append",
        &[
            (
                "memory",
                "store_append",
                "one event appended to SQLite (WAL, one transaction)",
            ),
            (
                "memory",
                "search_10k",
                "memory_search over 10,000 notes in 301 files (files checked against the index, BM25 top 8)",
            ),
            (
                "memory",
                "recall_10k",
                "the recall at a session's start (profile + best entries, 1,000-token budget)",
            ),
        ],
        "memory-summary.md",
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
