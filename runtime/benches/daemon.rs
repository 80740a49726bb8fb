//! Benchmark: `chitin daemon` start-to-ready time and idle memory, with no
//! skills and with 10 installed skills, against the same binary's bare
//! process start (`chitin --version`) measured in the same run.
//!
//! "Ready" is the first successful authenticated `GET /api/health`.
//! Run: `scripts/build-skills && cargo bench -p chitin --profile dev --bench daemon`
//! (under `cargo test --benches` it runs one quick round as a smoke test).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{BIN, chitin, pack_and_install, proc_status, root, spawn_daemon};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A home with `n` copies of the files skill installed under different names.
fn home_with_skills(tmp: &Path, n: usize) -> PathBuf {
    let home = tmp.join(format!("home{n}"));
    let public = chitin(&home, &["key", "generate"]);
    chitin(&home, &["trust", "add", "chitin", public.trim()]);
    let manifest = std::fs::read_to_string(root().join("skills/files/skill.toml")).unwrap();
    let component = root().join("target/wasm32-wasip2/release/skill_files.wasm");
    assert!(
        component.exists(),
        "build the skills first: scripts/build-skills"
    );
    let ws = tmp.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    for i in 0..n {
        let src = tmp.join(format!("src{n}-{i}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::copy(&component, src.join("skill.wasm")).unwrap();
        let m = manifest
            .replace("name = \"files\"", &format!("name = \"files{i}\""))
            .replace(
                "component = \"../../target/wasm32-wasip2/release/skill_files.wasm\"",
                "component = \"skill.wasm\"",
            );
        std::fs::write(src.join("skill.toml"), m).unwrap();
        let pkg = tmp.join(format!("files{n}-{i}.wasm"));
        pack_and_install(&home, &src, &pkg, &ws);
    }
    home
}

fn health(addr: &str, token: &str) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = write!(
        s,
        "GET /api/health HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// (start-to-ready, idle RSS in KiB after `idle`).
fn start_daemon(home: &Path, idle: Duration) -> (Duration, u64) {
    let token = chitin(home, &["daemon", "token"]).trim().to_string();
    let t0 = Instant::now();
    let (mut child, addr) = spawn_daemon(home, "warn");
    let mut ready = false;
    for _ in 0..2000 {
        if health(&addr, &token) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = t0.elapsed();
    assert!(ready, "the daemon never became ready");
    std::thread::sleep(idle);
    let rss = proc_status(child.id(), "VmRSS:");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    (elapsed, rss)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { 15 } else { 1 };
    let idle = if full {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(100)
    };
    let tmp = tempfile::tempdir().unwrap();
    let spawn: Vec<Duration> = (0..rounds.max(5))
        .map(|_| {
            let t = Instant::now();
            assert!(
                Command::new(BIN)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .unwrap()
                    .success()
            );
            t.elapsed()
        })
        .collect();
    let spawn = median(spawn);
    let mut out = format!(
        "| daemon | start to ready (median of {rounds}) | ratio to `chitin --version` | idle RSS |\n|---|---|---|---|\n| (`chitin --version`, process start) | {:.1} ms | 1.0× | |\n",
        spawn.as_secs_f64() * 1e3
    );
    for n in [0usize, 10] {
        let home = home_with_skills(tmp.path(), n);
        let runs: Vec<(Duration, u64)> = (0..rounds).map(|_| start_daemon(&home, idle)).collect();
        let rss = runs.iter().map(|r| r.1).max().unwrap();
        let t = median(runs.into_iter().map(|r| r.0).collect());
        out.push_str(&format!(
            "| {n} installed skills | {:.1} ms | {:.1}× | {:.1} MiB |\n",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() / spawn.as_secs_f64(),
            rss as f64 / 1024.0
        ));
    }
    println!("\n{out}");
    if full {
        let _ = std::fs::write(root().join("target/criterion/daemon-summary.md"), &out);
    }
}
