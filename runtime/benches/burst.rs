//! Benchmark: a burst of concurrent turns against a real `chitin daemon`.
//! Each turn is one sandboxed tool call (`files__list`) and an answer from a
//! zero-latency scripted model server on 127.0.0.1. The turns are posted
//! fire-and-forget (the client reads the status line and leaves; the turn
//! goes on in the daemon), so all of them run at once.
//!
//! Reported: failed turns and tool calls (must be 0), p50/p99 turn time as
//! ratios to a single turn measured in the same run, the burst's wall time,
//! and the daemon's RSS before, at its peak and settled after the burst.
//!
//! Run: `scripts/build-skills && cargo bench -p chitin --profile dev --bench burst`
//! (`-- --turns N` for another count; under `cargo test --benches` it runs
//! 300 turns as a test: none may fail, and the memory the burst took must
//! be given back once it is over).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../tests/support/model.rs"]
mod model;

use common::{chitin, pack_and_install, proc_status, root, spawn_daemon};
use model::{ModelServer, Reply};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Clients posting the burst's turns at once.
const POSTERS: usize = 96;

/// A home with `files` installed on an empty workspace and the provider
/// pointing at `server`.
fn home(tmp: &Path, server: &ModelServer) -> PathBuf {
    let home = tmp.join("home");
    let ws = tmp.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let public = chitin(&home, &["key", "generate"]);
    chitin(&home, &["trust", "add", "chitin", public.trim()]);
    pack_and_install(
        &home,
        &root().join("skills/files"),
        &tmp.join("files.wasm"),
        &ws,
    );
    std::fs::write(
        home.join("config/config.toml"),
        format!(
            "[provider]\nkind = \"openai\"\nbase_url = \"{}\"\nmodel = \"bench\"\ntimeout_secs = 60\n\n[agent]\nmax_tokens_per_day = 1000000000\n",
            server.base_url()
        ),
    )
    .unwrap();
    home
}

struct Daemon {
    child: Child,
    addr: String,
    token: String,
}

impl Daemon {
    fn start(home: &Path) -> Self {
        let token = chitin(home, &["daemon", "token"]).trim().to_string();
        let (child, addr) = spawn_daemon(home, "error");
        Daemon { child, addr, token }
    }

    /// Send a request; the status and (unless `leave`) the whole body.
    /// A connection closed before its status line is status 0.
    fn request(&self, method: &str, path: &str, body: &str, leave: bool) -> (u16, String) {
        let Ok(mut s) = TcpStream::connect(&self.addr) else {
            return (0, String::new());
        };
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.token,
            body.len()
        )
        .unwrap();
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        if reader.read_line(&mut status).is_err() {
            return (0, String::new());
        }
        let code = status
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if leave {
            return (code, String::new());
        }
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        (code, rest)
    }

    fn session(&self) -> String {
        let (code, body) = self.request("POST", "/api/sessions", "{}", false);
        assert_eq!(code, 201, "{body}");
        let json = body.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    fn rss_kib(&self, field: &str) -> u64 {
        proc_status(self.child.id(), field)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Per finished turn: (stop, duration in ms), from the session database.
fn finished(db: &Path) -> Vec<(String, i64)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut q = conn
        .prepare(
            "SELECT json_extract(d.data, '$.stop'), d.ts_ms - s.ts_ms
             FROM events d JOIN events s ON s.turn_id = d.turn_id AND s.kind = 'turn'
               AND json_extract(s.data, '$.event') = 'started'
             WHERE d.kind = 'turn' AND json_extract(d.data, '$.event') = 'done'",
        )
        .unwrap();
    q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Tool calls that ended in an error (a full pool among them).
fn failed_calls(db: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(
        "SELECT count(*) FROM events WHERE kind = 'tool_call'
           AND json_extract(data, '$.ok') = 0",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args().collect();
    let turns: usize = args
        .iter()
        .position(|a| a == "--turns")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full { 1000 } else { 300 });
    let server = ModelServer::agentic(Reply::tool("files__list", "{}"), Reply::text("done"));
    let tmp = tempfile::tempdir().unwrap();
    let home = home(tmp.path(), &server);
    let db = home.join("data/sessions.db");
    let daemon = Daemon::start(&home);

    // One turn at a time: the baseline.
    let single: Vec<Duration> = (0..20)
        .map(|_| {
            let id = daemon.session();
            let t = Instant::now();
            let (code, body) = daemon.request(
                "POST",
                &format!("/api/sessions/{id}/messages"),
                r#"{"text":"list my files"}"#,
                false,
            );
            assert_eq!(code, 200);
            assert!(body.contains(r#""stop":"answer""#), "{body}");
            t.elapsed()
        })
        .collect();
    let mut single_ms: Vec<f64> = single.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    single_ms.sort_by(f64::total_cmp);
    let one = single_ms[single_ms.len() / 2];
    let before_done = finished(&db).len();
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = daemon.rss_kib("VmRSS:");

    let sessions: Vec<String> = (0..turns).map(|_| daemon.session()).collect();
    let peak = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        let pid = daemon.child.id();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let rss = proc_status(pid, "VmRSS:");
                peak.fetch_max(rss, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let refused = AtomicU64::new(0);
    let t0 = Instant::now();
    // Posted from 96 clients at once (under the daemon's 128 connections),
    // faster than turns finish, so they pile up and run together.
    std::thread::scope(|scope| {
        for chunk in sessions.chunks(sessions.len().div_ceil(POSTERS)) {
            let (daemon, refused) = (&daemon, &refused);
            scope.spawn(move || {
                for id in chunk {
                    // A full daemon says 503 with Retry-After: retry, as a
                    // client should (bounded).
                    let mut code = 0;
                    for _ in 0..200 {
                        code = daemon
                            .request(
                                "POST",
                                &format!("/api/sessions/{id}/messages"),
                                r#"{"text":"list my files"}"#,
                                true,
                            )
                            .0;
                        if code != 503 && code != 0 {
                            break;
                        }
                        refused.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    assert_eq!(code, 200, "posting a turn");
                }
            });
        }
    });
    let posted = t0.elapsed();
    let running_at_post = turns.saturating_sub(finished(&db).len() - before_done);
    let deadline = Instant::now() + Duration::from_secs(600);
    let done = loop {
        let done = finished(&db);
        if done.len() >= before_done + turns || Instant::now() > deadline {
            break done;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let wall = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let burst: Vec<&(String, i64)> = done.iter().skip(before_done).collect();
    let failed_turns = burst.iter().filter(|(stop, _)| stop != "answer").count()
        + (turns - burst.len().min(turns));
    let failed_calls = failed_calls(&db);
    let mut ms: Vec<i64> = burst.iter().map(|(_, ms)| *ms).collect();
    ms.sort_unstable();
    let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
    // Smoke runs (cargo test --benches) wait a fifth as long: still past
    // the daemon's idle delay before memory is given back.
    let settle = |secs: u64| {
        std::thread::sleep(Duration::from_millis(secs * if full { 1000 } else { 200 }));
        daemon.rss_kib("VmRSS:")
    };
    let settled_2 = settle(2);
    let settled_10 = settle(8);
    let settled_30 = settle(20);
    let mib = |k: u64| k as f64 / 1024.0;
    let out = format!(
        "| {turns} concurrent turns (one `files__list` call each, zero-latency model) | value | ratio to one turn |\n|---|---|---|\n\
         | one turn alone (median of 20) | {one:.1} ms | 1.0× |\n\
         | failed turns / failed tool calls | {failed_turns} / {failed_calls} | |\n\
         | p50 turn time in the burst | {p50} ms | {:.1}× |\n\
         | p99 turn time in the burst | {p99} ms | {:.1}× |\n\
         | burst wall time (all posted in {:.2} s, {} posts answered 503 (or closed past 64 refusals at once) and retried; {running_at_post} turns still running then) | {:.2} s | {:.1}× per turn |\n\
         | daemon RSS before / peak / 2 s, 10 s, 30 s after | {:.1} / {:.1} / {:.1}, {:.1}, {:.1} MiB | peak {:.1}×, 30 s after {:.2}× before |\n",
        p50 as f64 / one,
        p99 as f64 / one,
        posted.as_secs_f64(),
        refused.load(Ordering::Relaxed),
        wall.as_secs_f64(),
        wall.as_secs_f64() * 1e3 / turns as f64 / one,
        mib(rss_before),
        mib(peak.load(Ordering::Relaxed)),
        mib(settled_2),
        mib(settled_10),
        mib(settled_30),
        peak.load(Ordering::Relaxed) as f64 / rss_before.max(1) as f64,
        settled_30 as f64 / rss_before.max(1) as f64,
    );
    println!("\n{out}");
    if full {
        let _ = std::fs::create_dir_all(root().join("target/criterion"));
        let _ = std::fs::write(root().join("target/criterion/burst-summary.md"), &out);
    }
    assert_eq!(failed_turns, 0, "turns failed in the burst");
    assert_eq!(failed_calls, 0, "tool calls failed in the burst");
    // What the burst took is given back once it is over: at most half of
    // the growth is kept (or 8 MiB, for a burst too small to tell).
    let grew = peak.load(Ordering::Relaxed).saturating_sub(rss_before);
    let kept = settled_30.saturating_sub(rss_before);
    assert!(
        kept * 2 <= grew.max(16 * 1024),
        "the burst's memory was not given back: {:.1} MiB before, {:.1} at the peak, {:.1} after",
        mib(rss_before),
        mib(rss_before + grew),
        mib(settled_30)
    );
}
