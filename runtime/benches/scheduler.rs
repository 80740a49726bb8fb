//! Benchmark: the scheduler's overhead with 10,000 jobs in a real SQLite
//! store — the query the runner makes each tick (the due jobs, an index
//! range scan) and the next due time — as a ratio to one `Store::append` of
//! an event in the same run. Also prints the database's size and the
//! process's RSS growth for the 10,000 jobs.
//!
//! Run: `cargo bench -p chitin --profile dev --bench scheduler`
//! (under `cargo test --benches` it runs one quick round as a smoke test).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chitin::schedule::job::{NewJob, make};
use chitin::schedule::{Spec, next_after};
use chitin::store::{EventKind, Store};
use criterion::{Criterion, criterion_group};
use std::time::Duration;

const JOBS: usize = 10_000;

fn file_size(path: &std::path::Path) -> u64 {
    let wal = path.with_extension("db-wal");
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("sessions.db");
    let rss_before = common::proc_status(std::process::id(), "VmRSS:");
    let store = Store::open(&db).unwrap();
    let now = 1_780_000_000_000_i64;
    // A mix: daily crons in several zones, intervals, one-shots; none due
    // at `now` except the few made due below.
    let specs = [
        Spec::cron("0 7 * * *", "Europe/Paris").unwrap(),
        Spec::cron("*/15 9-17 * * 1-5", "America/New_York").unwrap(),
        Spec::every("30m").unwrap(),
        Spec::At(now + 86_400_000),
    ];
    for i in 0..JOBS {
        let spec = &specs[i % specs.len()];
        let mut job = make(
            &NewJob {
                name: &format!("job-{i}"),
                spec,
                prompt: "Summarise what changed since yesterday",
                deliver: Some("telegram:4242"),
                approvals: "deny",
                missed: "once",
                max_tokens: None,
                max_usd: None,
            },
            now,
        )
        .unwrap();
        job.next_due_ms = next_after(spec, now + (i as i64) * 1000);
        store.add_job(&job).unwrap();
    }
    for i in 0..3 {
        store
            .set_job_next(&format!("job-{i}"), Some(now - 1))
            .unwrap();
    }
    let rss_after = common::proc_status(std::process::id(), "VmRSS:");
    eprintln!(
        "scheduler: {JOBS} jobs: database {:.1} MiB on disk (with WAL); RSS +{} KiB for the store and jobs",
        file_size(&db) as f64 / (1 << 20) as f64,
        rss_after.saturating_sub(rss_before)
    );
    assert_eq!(store.due_jobs(now, 16).unwrap().len(), 3);

    let mut g = c.benchmark_group("scheduler");
    g.measurement_time(Duration::from_secs(3)).sample_size(50);
    g.bench_function("due_jobs_10k", |b| {
        b.iter(|| assert_eq!(store.due_jobs(now, 16).unwrap().len(), 3))
    });
    g.bench_function("next_due_10k", |b| {
        b.iter(|| assert!(store.next_due().unwrap().is_some()))
    });
    let other = Store::open(&tmp.path().join("append.db")).unwrap();
    let sid = other.create_session("bench").unwrap().id;
    let usage = serde_json::json!({"input_tokens": 10, "output_tokens": 5});
    g.bench_function("store_append", |b| {
        b.iter(|| {
            other
                .append(&sid, Some("t"), EventKind::Usage, &usage)
                .unwrap()
        })
    });
    g.finish();
}

fn summary() {
    common::ratio_table(
        ("scheduler", "store_append"),
        "one event append",
        &[
            (
                "scheduler",
                "store_append",
                "one event appended to SQLite (WAL, one transaction)",
            ),
            (
                "scheduler",
                "due_jobs_10k",
                "the runner's tick query: due jobs among 10,000",
            ),
            (
                "scheduler",
                "next_due_10k",
                "the next due time among 10,000 jobs",
            ),
        ],
        "scheduler-summary.md",
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
