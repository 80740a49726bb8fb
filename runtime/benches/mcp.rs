//! Benchmark: one MCP `tools/call` round trip (`files__read` of a small
//! file) over stdio (`chitin mcp`, JSON lines on its pipes) and over
//! Streamable HTTP (the daemon's `/mcp`, one session, one kept-alive
//! connection), against the bare sandboxed call of the same tool through
//! the same toolbox in this process, measured in the same run.
//!
//! Run: `scripts/build-skills && cargo bench -p chitin --profile dev --bench mcp`
//! (under `cargo test --benches` it runs one quick round as a smoke test).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use chitin::agent::toolbox::Toolbox;
use chitin::package::state::Installed;
use chitin::{HostConfig, SkillHost};
use common::{BIN, chitin, pack_and_install, ratio_table, root, spawn_daemon};
use criterion::{Criterion, criterion_group};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;

const ARGS: &str = r#"{"path":"hello.txt"}"#;

/// A home with `files` installed, `/workspace` granted on `ws`.
fn home(tmp: &Path) -> PathBuf {
    let home = tmp.join("home");
    let ws = tmp.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("hello.txt"), "hello").unwrap();
    let public = chitin(&home, &["key", "generate"]);
    chitin(&home, &["trust", "add", "chitin", public.trim()]);
    let src = root().join("skills/files");
    assert!(
        root()
            .join("target/wasm32-wasip2/release/skill_files.wasm")
            .exists(),
        "build the skills first: scripts/build-skills"
    );
    pack_and_install(&home, &src, &tmp.join("files.wasm"), &ws);
    home
}

struct Stdio_ {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    id: u64,
}

impl Stdio_ {
    fn start(home: &Path) -> Self {
        let mut child = Command::new(BIN)
            .arg("mcp")
            .env("CHITIN_HOME", home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Stdio_ {
            child,
            stdin,
            stdout,
            id: 0,
        };
        s.request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
        );
        writeln!(
            s.stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        s
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params});
        writeln!(self.stdin, "{msg}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        for _ in 0..100 {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "chitin mcp closed"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == json!(self.id) {
                return v;
            }
        }
        panic!("no answer to {method}");
    }
}

impl Drop for Stdio_ {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Http<'a> {
    runtime: &'a tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
    token: String,
    session: String,
    id: u64,
}

impl<'a> Http<'a> {
    fn start(runtime: &'a tokio::runtime::Runtime, addr: &str, token: &str) -> Self {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(chitin::tls::client_config().as_ref().clone())
            .build()
            .unwrap();
        let mut h = Http {
            runtime,
            client,
            url: format!("http://{addr}/mcp"),
            token: token.to_string(),
            session: String::new(),
            id: 0,
        };
        let r = h.post(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}));
        h.session = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let _ = runtime.block_on(r.text());
        let r = h.post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        let _ = runtime.block_on(r.text());
        h
    }

    fn post(&self, body: Value) -> reqwest::Response {
        let mut req = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if !self.session.is_empty() {
            req = req
                .header("Mcp-Session-Id", &self.session)
                .header("MCP-Protocol-Version", "2025-11-25");
        }
        self.runtime.block_on(req.send()).unwrap()
    }

    fn call(&mut self) -> String {
        self.id += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.id, "method": "tools/call", "params": {"name": "files__read", "arguments": {"path": "hello.txt"}}});
        let r = self.post(body);
        self.runtime.block_on(r.text()).unwrap()
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let home = home(tmp.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // The floor: the same call through the same toolbox, no MCP.
    let host = Arc::new(SkillHost::new(HostConfig::default()).unwrap());
    let (toolbox, problems) = Toolbox::load(
        host,
        &Installed::new(&home.join("data/skills")),
        home.join("config/secrets.json"),
    );
    assert!(problems.is_empty(), "{problems:?}");
    let entry = toolbox.get("files__read").expect("files__read is served");
    let mut g = c.benchmark_group("mcp");
    g.bench_function("sandboxed_call", |b| {
        b.iter(|| {
            let out = runtime
                .block_on(toolbox.call("bench", &entry, ARGS))
                .unwrap();
            assert!(out.result.is_ok());
        })
    });

    let mut stdio = Stdio_::start(&home);
    g.bench_function("stdio_tools_call", |b| {
        b.iter(|| {
            let r = stdio.request(
                "tools/call",
                json!({"name": "files__read", "arguments": {"path": "hello.txt"}}),
            );
            assert_eq!(r["result"]["isError"], false, "{r}");
        })
    });
    drop(stdio);

    let token = chitin(&home, &["daemon", "token"]).trim().to_string();
    let (mut daemon, addr) = spawn_daemon(&home, "warn");
    let mut http = Http::start(&runtime, &addr, &token);
    g.bench_function("http_tools_call", |b| {
        b.iter(|| {
            let text = http.call();
            assert!(text.contains("hello"), "{text}");
        })
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    g.finish();

    ratio_table(
        ("mcp", "sandboxed_call"),
        "the bare sandboxed call",
        &[
            (
                "mcp",
                "sandboxed_call",
                "sandboxed call (toolbox, in process)",
            ),
            ("mcp", "stdio_tools_call", "MCP tools/call over stdio"),
            ("mcp", "http_tools_call", "MCP tools/call over HTTP (/mcp)"),
        ],
        "mcp.md",
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
