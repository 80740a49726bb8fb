//! Benchmark: a Telegram message to its answer, through a real `chitin
//! daemon` long-polling a fake Bot API on 127.0.0.1 (tests/support/
//! telegram.rs) with a zero-latency scripted model, as a ratio to the same
//! turn through the web API (`POST /api/sessions/{id}/messages`, read to
//! `done`) measured in the same run. Then 100 paired chats message at
//! once: the wall time, and every chat answered exactly once (none lost).
//!
//! Run: `cargo bench -p chitin --profile dev --bench channels`
//! (under `cargo test --benches` it runs one quick round as a smoke test,
//! the 100 chats included).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../tests/support/model.rs"]
mod model;
#[path = "../../tests/support/telegram.rs"]
mod telegram;

use common::{chitin, fmt, ratio_table, root, spawn_daemon};
use criterion::{Criterion, criterion_group};
use model::{ModelServer, Reply};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use telegram::FakeTelegram;

const TOKEN: &str = "1:bench-token";
const CHATS: i64 = 100;
const WAIT: Duration = Duration::from_secs(120);

fn home(tmp: &Path, model: &ModelServer, fake: &FakeTelegram) -> PathBuf {
    let home = tmp.join("home");
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(
        home.join("config/config.toml"),
        format!(
            "[provider]\nkind = \"openai\"\nbase_url = \"{}\"\nmodel = \"bench\"\ntimeout_secs = 60\n\n[agent]\nmax_tokens_per_day = 1000000000\n\n[channels]\nrate_per_minute = 100000\n\n[channels.telegram]\napi_url = \"{}\"\n",
            model.base_url(),
            fake.base
        ),
    )
    .unwrap();
    let mut secrets =
        chitin::capabilities::secrets::SecretStore::open(&home.join("config/secrets.json"))
            .unwrap();
    secrets.set("TELEGRAM_BOT_TOKEN", TOKEN).unwrap();
    home
}

/// Pair `user`: their first message gets a code, redeemed in the store.
fn pair(home: &Path, fake: &FakeTelegram, user: i64) {
    fake.push(telegram::text(user, "U", "hi"));
    let sent = fake.wait_sent(user, 1, WAIT);
    let text = sent[0]["text"].as_str().unwrap();
    let at = text.find("pair ").unwrap() + 5;
    let store = chitin::store::Store::open(&home.join("data/sessions.db")).unwrap();
    assert!(store.redeem_code(&text[at..at + 9]).unwrap().is_some());
}

/// One web-API turn in `session`, read to its `done` event.
fn web_turn(addr: &str, token: &str, session: &str) {
    let body = r#"{"text":"ping"}"#;
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /api/sessions/{session}/messages HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    let mut seen = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the stream ended before done: {seen}"
        );
        seen.push_str(&line);
        if line.contains("\"type\":\"done\"") {
            return;
        }
    }
}

fn session(addr: &str, token: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /api/sessions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let json = answer.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let model = ModelServer::repeat(Reply::text("pong"));
    let fake = FakeTelegram::start(TOKEN);
    let home = home(tmp.path(), &model, &fake);
    let token = chitin(&home, &["daemon", "token"]).trim().to_string();
    let (mut child, addr) = spawn_daemon(&home, "error");
    for user in 1..=CHATS {
        pair(&home, &fake, user);
    }
    let web = session(&addr, &token);

    let mut g = c.benchmark_group("channels");
    g.sample_size(20);
    g.bench_function("web_api_turn", |b| b.iter(|| web_turn(&addr, &token, &web)));
    g.bench_function("telegram_message_to_answer", |b| {
        b.iter(|| {
            let n = fake.sent_to(1).len();
            fake.push(telegram::text(1, "U", "ping"));
            fake.wait_sent(1, n + 1, WAIT);
        })
    });
    g.finish();

    // 100 chats at once.
    let before: Vec<usize> = (1..=CHATS).map(|u| fake.sent_to(u).len()).collect();
    let t0 = Instant::now();
    for user in 1..=CHATS {
        fake.push(telegram::text(user, "U", "all at once"));
    }
    for user in 1..=CHATS {
        fake.wait_sent(user, before[(user - 1) as usize] + 1, WAIT);
    }
    let wall = t0.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let answered: Vec<usize> = (1..=CHATS)
        .map(|u| fake.sent_to(u).len() - before[(u - 1) as usize])
        .collect();
    let lost = answered.iter().filter(|n| **n == 0).count();
    let repeated = answered.iter().filter(|n| **n > 1).count();
    assert_eq!((lost, repeated), (0, 0), "every chat answered exactly once");
    let out = format!(
        "{CHATS} chats messaging at once: all answered once (lost 0, repeated 0) in {} wall time ({} per message)\n",
        fmt(wall.as_nanos() as f64),
        fmt(wall.as_nanos() as f64 / CHATS as f64)
    );
    println!("\n{out}");
    let _ = std::fs::create_dir_all(root().join("target/criterion"));
    let _ = std::fs::write(root().join("target/criterion/channels-burst.md"), out);

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    ratio_table(
        ("channels", "web_api_turn"),
        "a web-API turn",
        &[
            (
                "channels",
                "web_api_turn",
                "web API turn (POST messages, SSE to done)",
            ),
            (
                "channels",
                "telegram_message_to_answer",
                "Telegram message → answer (long poll, sendMessage)",
            ),
        ],
        "channels.md",
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
