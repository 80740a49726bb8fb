//! A fake Discord on 127.0.0.1 speaking the platform's wire format: the
//! REST endpoints the adapter calls (`GET /gateway/bot`, `POST
//! /channels/{id}/messages`, `POST /channels/{id}/typing`, `POST
//! /interactions/{id}/{token}/callback`, `PUT
//! /applications/{id}/commands`), every request recorded (method,
//! path, headers, JSON body) and failures scriptable per route (429 with
//! `retry_after`, a 5xx); and the gateway websocket, which says Hello,
//! checks the token in Identify (close 4004 when wrong), answers READY,
//! acknowledges heartbeats (or not: a zombie), replays missed dispatches on
//! Resume, takes the dispatches the tests push (built from the documented
//! shapes in tests/fixtures/discord) and can drop the connection.
//!
//! It runs on a thread of its own with its own runtime, so sync and async
//! tests use it alike; dropping it stops it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

mod gateway;
use gateway::{accept, flush};

/// The bot's user id (the application id of Discord's examples).
pub const BOT_ID: &str = "290926444748734465";
/// The bot token the fake accepts (the one in Discord's documentation).
pub const BOT_TOKEN: &str = "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs";
/// A person (Mason of the examples) and their direct-message channel.
pub const OWNER: &str = "53908232506183680";
pub const OWNER_DM: &str = "319674150115610528";
/// Someone else (Nelly of the examples).
pub const OTHER: &str = "80351110224678912";
/// A guild and one of its text channels.
pub const GUILD: &str = "290926798626357999";
pub const GUILD_CHANNEL: &str = "645027906669510667";

const GATEWAY_BOT: &str = include_str!("../fixtures/discord/gateway_bot.json");
const HELLO: &str = include_str!("../fixtures/discord/hello.json");
const READY: &str = include_str!("../fixtures/discord/ready.json");
const MESSAGE_CREATE: &str = include_str!("../fixtures/discord/message_create.json");
const BUTTON: &str = include_str!("../fixtures/discord/interaction_button.json");
const COMMAND: &str = include_str!("../fixtures/discord/interaction_command.json");
const RATE_LIMITED: &str = include_str!("../fixtures/discord/rate_limited.json");
const MESSAGE: &str = include_str!("../fixtures/discord/message.json");

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// One REST request.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// The path under `/api/v10`, e.g. `/channels/1/messages`.
    pub path: String,
    /// Names lower-cased.
    pub headers: HashMap<String, String>,
    /// `Null` when not JSON.
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// When it came.
    pub at: Instant,
}

/// A scripted failure for the next request to a route.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 429 with `{"retry_after": secs, "global": false}` and `Retry-After`.
    RateLimited(f64),
    /// This status, with Discord's `{"message", "code"}` body.
    Status(u16),
}

/// What a connection task is told to do.
enum Ctl {
    Send(Message),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Close with this code.
    Close(u16),
}

#[derive(Default)]
struct Shared {
    gateway: Mutex<Option<SocketAddr>>,
    calls: Mutex<Vec<Call>>,
    failures: Mutex<HashMap<String, VecDeque<Failure>>>,
    /// The live, identified connection.
    live: Mutex<Option<UnboundedSender<Ctl>>>,
    /// Dispatches waiting for a live connection: (t, d).
    pending: Mutex<VecDeque<(String, Value)>>,
    /// The session: its id, last sequence number and every dispatch sent
    /// (for replay on Resume).
    session: Mutex<Option<(String, u64, Vec<Value>)>>,
    /// What the clients sent on the gateway.
    frames: Mutex<Vec<Value>>,
    connections: AtomicUsize,
    no_ack: AtomicBool,
    no_content: AtomicBool,
    ids: AtomicU64,
    heartbeat_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running fake.
pub struct FakeDiscord {
    /// The REST API's address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDiscord {
    /// Start on two free ports (REST and gateway), with heartbeats every
    /// second.
    pub fn start() -> Self {
        let shared = Arc::new(Shared {
            heartbeat_ms: AtomicU64::new(1000),
            ids: AtomicU64::new(1_100_000_000_000_000_000),
            ..Shared::default()
        });
        let stop = CancellationToken::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn({
            let (shared, stop) = (shared.clone(), stop.clone());
            move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    *lock(&shared.gateway) = Some(ws.local_addr().unwrap());
                    tx.send(http.local_addr().unwrap()).unwrap();
                    let app = axum::Router::new()
                        .fallback(rest)
                        .with_state(shared.clone());
                    tokio::spawn(accept(ws, shared.clone(), stop.clone()));
                    let _ = axum::serve(http, app)
                        .with_graceful_shutdown(stop.cancelled_owned())
                        .await;
                });
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        FakeDiscord {
            addr,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// `api_url` for `[channels.discord]`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    /// Every REST request so far.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.shared.calls).clone()
    }

    /// The messages posted to `channel` that were accepted (their bodies).
    pub fn messages(&self, channel: &str) -> Vec<Value> {
        let path = format!("/channels/{channel}/messages");
        self.calls()
            .into_iter()
            .filter(|c| c.method == "POST" && c.path == path && c.status == 200)
            .map(|c| c.body)
            .collect()
    }

    /// The interaction callbacks answered so far: (interaction id, body).
    pub fn callbacks(&self) -> Vec<(String, Value)> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.starts_with("/interactions/") && c.path.ends_with("/callback"))
            .map(|c| (c.path.split('/').nth(2).unwrap_or("").to_string(), c.body))
            .collect()
    }

    /// Fail the next request to `route` (`messages`, `typing`, `callback`,
    /// `gateway`, `commands`) this way (queued, in order).
    pub fn fail(&self, route: &str, failure: Failure) {
        lock(&self.shared.failures)
            .entry(route.to_string())
            .or_default()
            .push_back(failure);
    }

    /// Gateway connections made so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// What the clients sent on the gateway (Identify, Resume, heartbeats),
    /// in order.
    pub fn frames(&self) -> Vec<Value> {
        lock(&self.shared.frames).clone()
    }

    /// The frames with opcode `op`.
    pub fn frames_with(&self, op: u64) -> Vec<Value> {
        self.frames()
            .into_iter()
            .filter(|f| f["op"].as_u64() == Some(op))
            .collect()
    }

    /// Whether a connection is identified (or resumed) and serving.
    pub fn is_live(&self) -> bool {
        lock(&self.shared.live).is_some()
    }

    /// The session's id and last sequence number.
    pub fn session(&self) -> Option<(String, u64)> {
        lock(&self.shared.session)
            .as_ref()
            .map(|(id, s, _)| (id.clone(), *s))
    }

    /// The data of the dispatch in this session whose `d.id` is `id` (to
    /// deliver it again, as Discord may after a Resume).
    pub fn dispatched(&self, id: &str) -> Option<Value> {
        lock(&self.shared.session)
            .as_ref()
            .and_then(|(_, _, sent)| sent.iter().find(|f| f["d"]["id"] == id))
            .map(|f| f["d"].clone())
    }

    /// The heartbeat interval the next connections' Hello asks for.
    pub fn set_heartbeat_ms(&self, ms: u64) {
        self.shared.heartbeat_ms.store(ms, Ordering::SeqCst);
    }

    /// Whether the bot may have the Message Content intent (when not,
    /// Identify asking for it is closed with 4014).
    pub fn allow_message_content(&self, allowed: bool) {
        self.shared.no_content.store(!allowed, Ordering::SeqCst);
    }

    /// Stop acknowledging heartbeats (the connection becomes a zombie).
    pub fn set_ack(&self, ack: bool) {
        self.shared.no_ack.store(!ack, Ordering::SeqCst);
    }

    /// Drop the live connection without a close frame.
    pub fn drop_connection(&self) {
        if let Some(tx) = lock(&self.shared.live).take() {
            let _ = tx.send(Ctl::Drop);
        }
    }

    /// Close the live connection with `code` (e.g. 4004: authentication
    /// failed).
    pub fn close_live(&self, code: u16) {
        if let Some(tx) = lock(&self.shared.live).take() {
            let _ = tx.send(Ctl::Close(code));
        }
    }

    /// Send a text frame as it is (not a dispatch; no sequence number).
    pub fn push_text(&self, text: &str) {
        if let Some(tx) = lock(&self.shared.live).as_ref() {
            let _ = tx.send(Ctl::Send(Message::text(text.to_string())));
        }
    }

    /// Dispatch event `t` with data `d` (now, or once a connection is live).
    pub fn dispatch(&self, t: &str, d: Value) {
        lock(&self.shared.pending).push_back((t.to_string(), d));
        flush(&self.shared);
    }

    /// A fresh snowflake.
    pub fn id(&self) -> String {
        self.shared.ids.fetch_add(1, Ordering::SeqCst).to_string()
    }

    /// A `MESSAGE_CREATE` from `author` in `channel` (a direct message
    /// unless `guild`); the message id.
    pub fn message(
        &self,
        channel: &str,
        guild: bool,
        author: &str,
        name: &str,
        content: &str,
    ) -> String {
        let id = self.id();
        let mut d = fixture(MESSAGE_CREATE);
        d["id"] = json!(id);
        d["channel_id"] = json!(channel);
        d["author"]["id"] = json!(author);
        d["author"]["username"] = json!(name);
        d["content"] = json!(content);
        if guild {
            d["guild_id"] = json!(GUILD);
            d["member"] = json!({"roles": [], "joined_at": "2017-03-13T19:19:14.040000+00:00", "deaf": false, "mute": false});
            if content.contains(&format!("<@{BOT_ID}>")) {
                d["mentions"] = json!([{"id": BOT_ID, "username": "chitin", "bot": true, "discriminator": "0"}]);
            }
        }
        self.dispatch("MESSAGE_CREATE", d);
        id
    }

    /// A direct message from the owner.
    pub fn dm(&self, content: &str) -> String {
        self.message(OWNER_DM, false, OWNER, "Mason", content)
    }

    /// `user` presses the button `custom_id` on a message with `content`
    /// in `channel`; the interaction id.
    pub fn press(
        &self,
        channel: &str,
        guild: bool,
        user: &str,
        custom_id: &str,
        content: &str,
    ) -> String {
        let id = self.id();
        let mut d = fixture(BUTTON);
        d["id"] = json!(id);
        d["token"] = json!(format!("aW50ZXJhY3Rpb246{id}"));
        d["channel_id"] = json!(channel);
        d["data"]["custom_id"] = json!(custom_id);
        d["message"]["content"] = json!(content);
        d["message"]["channel_id"] = json!(channel);
        d["message"]["author"]["id"] = json!(BOT_ID);
        let user_obj = json!({"id": user, "username": if user == OWNER { "Mason" } else { "Nelly" }, "discriminator": "0"});
        if guild {
            d["member"]["user"] = user_obj;
        } else {
            d.as_object_mut().unwrap().remove("member");
            d.as_object_mut().unwrap().remove("guild_id");
            d["user"] = user_obj;
        }
        self.dispatch("INTERACTION_CREATE", d);
        id
    }

    /// The owner runs slash command `name` in their direct messages; the
    /// interaction id.
    pub fn command(&self, name: &str) -> String {
        let id = self.id();
        let mut d = fixture(COMMAND);
        d["id"] = json!(id);
        d["token"] = json!(format!("aW50ZXJhY3Rpb246{id}"));
        d["channel_id"] = json!(OWNER_DM);
        d["data"]["name"] = json!(name);
        d["data"]["options"] = json!([]);
        let user = d["member"]["user"].clone();
        d.as_object_mut().unwrap().remove("member");
        d.as_object_mut().unwrap().remove("guild_id");
        d["user"] = user;
        self.dispatch("INTERACTION_CREATE", d);
        id
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn rest(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/api/v10")
        .unwrap_or(uri.path())
        .to_string();
    let (status, answer) = answer(&shared, method.as_str(), &path, &headers, &body);
    lock(&shared.calls).push(Call {
        method: method.to_string(),
        path,
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        status: status.as_u16(),
        at: Instant::now(),
    });
    answer
}

fn answer(
    shared: &Shared,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, Response) {
    let error = |status: StatusCode, message: &str, code: u64| {
        (
            status,
            (
                status,
                axum::Json(json!({"message": message, "code": code})),
            )
                .into_response(),
        )
    };
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bot {BOT_TOKEN}")) {
        return error(StatusCode::UNAUTHORIZED, "401: Unauthorized", 0);
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let route = match (method, parts.as_slice()) {
        ("GET", ["gateway", "bot"]) => "gateway",
        ("POST", ["channels", _, "messages"]) => "messages",
        ("POST", ["channels", _, "typing"]) => "typing",
        ("POST", ["interactions", _, _, "callback"]) => "callback",
        ("PUT", ["applications", _, "commands"]) => "commands",
        _ => return error(StatusCode::NOT_FOUND, "404: Not Found", 0),
    };
    let failure = lock(&shared.failures)
        .get_mut(route)
        .and_then(VecDeque::pop_front);
    match failure {
        Some(Failure::RateLimited(secs)) => {
            let mut b = fixture(RATE_LIMITED);
            b["retry_after"] = json!(secs);
            let headers = [
                ("retry-after", format!("{}", secs.ceil() as u64)),
                ("x-ratelimit-scope", "user".to_string()),
            ];
            return (
                StatusCode::TOO_MANY_REQUESTS,
                (StatusCode::TOO_MANY_REQUESTS, headers, axum::Json(b)).into_response(),
            );
        }
        Some(Failure::Status(s)) => {
            let status = StatusCode::from_u16(s).unwrap();
            return error(status, status.canonical_reason().unwrap_or("error"), 0);
        }
        None => {}
    }
    match route {
        "gateway" => {
            let mut b = fixture(GATEWAY_BOT);
            b["url"] = json!(format!("ws://{}", lock(&shared.gateway).unwrap()));
            (StatusCode::OK, axum::Json(b).into_response())
        }
        "messages" => {
            let Ok(sent) = serde_json::from_slice::<Value>(body) else {
                return error(StatusCode::BAD_REQUEST, "400: Bad Request", 50109);
            };
            let content = sent["content"].as_str().unwrap_or("");
            if content.chars().count() > 2000 {
                return error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
            }
            let mut m = fixture(MESSAGE);
            m["id"] = json!(shared.ids.fetch_add(1, Ordering::SeqCst).to_string());
            m["channel_id"] = json!(parts[1]);
            m["content"] = json!(content);
            m["components"] = sent["components"].clone();
            (StatusCode::OK, axum::Json(m).into_response())
        }
        "commands" => {
            let mut set = serde_json::from_slice::<Value>(body).unwrap_or(json!([]));
            for c in set.as_array_mut().into_iter().flatten() {
                c["id"] = json!(shared.ids.fetch_add(1, Ordering::SeqCst).to_string());
                c["application_id"] = json!(parts[1]);
                c["version"] = json!("1");
            }
            (StatusCode::OK, axum::Json(set).into_response())
        }
        _ => (
            StatusCode::NO_CONTENT,
            StatusCode::NO_CONTENT.into_response(),
        ),
    }
}
