//! A fake Slack server on 127.0.0.1 speaking the platform's wire format:
//! the Web API methods the adapter calls (`auth.test`,
//! `apps.connections.open`, `chat.postMessage`, `chat.update`,
//! `chat.postEphemeral`), every request recorded (method, headers, JSON
//! body) and failures scriptable per method (429 with `Retry-After`, a 5xx,
//! an `ok:false` error); and the Socket Mode websocket, which says hello,
//! takes envelopes the tests push (built from the documented shapes in
//! tests/fixtures/slack) and records what the client sends back (acks).
//!
//! It runs on a thread of its own with its own runtime, so sync and async
//! tests use it alike; dropping it stops it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// The bot's user id (the one in Slack's documented examples).
pub const BOT_USER: &str = "U0LAN0Z89";
/// The app-level token the fake accepts for `apps.connections.open`.
pub const APP_TOKEN: &str = "xapp-1-A0TEST-1234567890-fakeapptoken";
/// The bot token the fake accepts for everything else.
pub const BOT_TOKEN: &str = "xoxb-1234567890-fakebottoken";

const HELLO: &str = include_str!("../fixtures/slack/hello.json");
const DISCONNECT: &str = include_str!("../fixtures/slack/disconnect.json");
const IM: &str = include_str!("../fixtures/slack/events_api_message_im.json");
const MENTION: &str = include_str!("../fixtures/slack/events_api_app_mention.json");
const BUTTON: &str = include_str!("../fixtures/slack/interactive_block_actions.json");
const SLASH: &str = include_str!("../fixtures/slack/slash_commands.json");
const AUTH_TEST: &str = include_str!("../fixtures/slack/auth_test.json");
const POSTED: &str = include_str!("../fixtures/slack/chat_postMessage.json");

/// One Web API request.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// `chat.postMessage`, …
    pub method: String,
    /// Headers, names lower-cased.
    pub headers: HashMap<String, String>,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
    /// The `ts` the fake gave the message it made, if any.
    pub ts: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// Whether the answer was `ok: true`.
    pub ok: bool,
    /// When it came, on the clock [`FakeSlack::received`] shares.
    pub seq: u64,
}

/// A frame the client sent on the websocket.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Parsed (`Null` when not JSON).
    pub json: Value,
    /// When it came, on the clock [`ApiCall::seq`] shares.
    pub seq: u64,
}

/// A scripted failure for the next call of a method.
#[derive(Debug, Clone)]
pub enum Failure {
    /// HTTP 429 with `Retry-After: secs`.
    RateLimited(u64),
    /// This HTTP status, a non-JSON body.
    Status(u16),
    /// HTTP 200 with `{"ok":false,"error":code}`.
    Error(String),
}

#[derive(Default)]
struct Shared {
    ws_addr: Mutex<Option<SocketAddr>>,
    calls: Mutex<Vec<ApiCall>>,
    failures: Mutex<HashMap<String, VecDeque<Failure>>>,
    sockets: Mutex<Vec<(usize, UnboundedSender<Message>)>>,
    pending: Mutex<Vec<Message>>,
    received: Mutex<Vec<Frame>>,
    connections: AtomicUsize,
    ts: AtomicU64,
    clock: AtomicU64,
}

/// The running fake.
pub struct FakeSlack {
    /// The Web API's address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeSlack {
    /// Start on two free ports (HTTP and websocket).
    pub fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let stop = CancellationToken::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn({
            let shared = shared.clone();
            let stop = stop.clone();
            move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    *lock(&shared.ws_addr) = Some(ws.local_addr().unwrap());
                    tx.send(http.local_addr().unwrap()).unwrap();
                    let app = axum::Router::new()
                        .route("/api/{method}", axum::routing::post(api))
                        .with_state(shared.clone());
                    let serve = axum::serve(http, app)
                        .with_graceful_shutdown(stop.clone().cancelled_owned());
                    tokio::spawn(accept(ws, shared.clone(), stop.clone()));
                    let _ = serve.await;
                });
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        FakeSlack {
            addr,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    /// `api_url` for `[channels.slack]`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Every Web API request so far.
    pub fn calls(&self) -> Vec<ApiCall> {
        lock(&self.shared.calls).clone()
    }

    /// The requests to `method` that were answered `ok`.
    pub fn ok_calls(&self, method: &str) -> Vec<ApiCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.ok)
            .collect()
    }

    /// Messages posted to `channel` (answered `ok`).
    pub fn posted_to(&self, channel: &str) -> Vec<ApiCall> {
        self.ok_calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body["channel"] == channel)
            .collect()
    }

    /// Fail the next call of `method` this way (queued, in order).
    pub fn fail(&self, method: &str, failure: Failure) {
        lock(&self.shared.failures)
            .entry(method.to_string())
            .or_default()
            .push_back(failure);
    }

    /// Websocket connections made so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open_sockets(&self) -> usize {
        lock(&self.shared.sockets).len()
    }

    /// Send a frame to the newest connection (or the next one, when none is
    /// open).
    pub fn push_raw(&self, text: &str) {
        let sockets = lock(&self.shared.sockets);
        let msg = Message::text(text.to_string());
        if let Some((_, tx)) = sockets.last()
            && tx.send(msg.clone()).is_ok()
        {
            return;
        }
        lock(&self.shared.pending).push(msg);
    }

    /// Push an envelope; its `envelope_id`.
    pub fn push(&self, envelope: &Value) -> String {
        self.push_raw(&envelope.to_string());
        envelope["envelope_id"].as_str().unwrap_or("").to_string()
    }

    /// Send the documented `disconnect` frame (`reason`), then close.
    pub fn disconnect(&self, reason: &str) {
        let mut frame: Value = serde_json::from_str(DISCONNECT).unwrap();
        frame["reason"] = json!(reason);
        let sockets = lock(&self.shared.sockets);
        if let Some((_, tx)) = sockets.last() {
            let _ = tx.send(Message::text(frame.to_string()));
            let _ = tx.send(Message::Close(None));
        }
    }

    /// Frames the client sent.
    pub fn received(&self) -> Vec<Frame> {
        lock(&self.shared.received).clone()
    }

    /// The client's acknowledgements of `envelope_id`.
    pub fn acks_of(&self, envelope_id: &str) -> Vec<Frame> {
        self.received()
            .into_iter()
            .filter(|f| f.json["envelope_id"] == envelope_id)
            .collect()
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Poll `f` every 50 ms until it gives something, for at most `within`;
/// panics naming `what` when it never does.
pub fn wait_for<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn api(
    State(shared): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut call = ApiCall {
        method: method.clone(),
        headers: headers.clone(),
        body: body.clone(),
        ts: None,
        status: 200,
        ok: false,
        seq: shared.clock.fetch_add(1, Ordering::SeqCst),
    };
    let failure = lock(&shared.failures)
        .get_mut(&method)
        .and_then(VecDeque::pop_front);
    let response = match failure {
        Some(Failure::RateLimited(secs)) => {
            call.status = 429;
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                axum::Json(json!({ "ok": false, "error": "ratelimited" })),
            )
                .into_response()
        }
        Some(Failure::Status(code)) => {
            call.status = code;
            (StatusCode::from_u16(code).unwrap(), "upstream trouble").into_response()
        }
        Some(Failure::Error(code)) => {
            axum::Json(json!({ "ok": false, "error": code })).into_response()
        }
        None => {
            let (answer, ts) = answer(&shared, &method, &headers, &body);
            call.ts = ts;
            call.ok = answer["ok"] == true;
            axum::Json(answer).into_response()
        }
    };
    lock(&shared.calls).push(call);
    response
}

/// The documented answers, filled in for this request.
fn answer(
    shared: &Shared,
    method: &str,
    headers: &HashMap<String, String>,
    body: &Value,
) -> (Value, Option<String>) {
    let token = headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = if method == "apps.connections.open" {
        APP_TOKEN
    } else {
        BOT_TOKEN
    };
    if token != expected {
        return (json!({ "ok": false, "error": "invalid_auth" }), None);
    }
    let next_ts = || {
        let n = shared.ts.fetch_add(1, Ordering::SeqCst) + 1;
        format!("1700000000.{n:06}")
    };
    match method {
        "auth.test" => {
            let mut v: Value = serde_json::from_str(AUTH_TEST).unwrap();
            v["user_id"] = json!(BOT_USER);
            (v, None)
        }
        "apps.connections.open" => {
            let ws = lock(&shared.ws_addr).unwrap();
            let n = shared.connections.load(Ordering::SeqCst);
            (
                json!({ "ok": true, "url": format!("ws://{ws}/link/?ticket=t{n}&app_id=A0TEST") }),
                None,
            )
        }
        "chat.postMessage" => {
            if body["channel"].as_str().unwrap_or("").is_empty() || body["text"].is_null() {
                return (json!({ "ok": false, "error": "invalid_arguments" }), None);
            }
            let ts = next_ts();
            let mut v: Value = serde_json::from_str(POSTED).unwrap();
            v["channel"] = body["channel"].clone();
            v["ts"] = json!(ts);
            v["message"]["ts"] = json!(ts);
            v["message"]["text"] = body["text"].clone();
            if let Some(t) = body.get("thread_ts") {
                v["message"]["thread_ts"] = t.clone();
            }
            (v, Some(ts))
        }
        "chat.update" => (
            json!({ "ok": true, "channel": body["channel"], "ts": body["ts"], "text": body["text"] }),
            body["ts"].as_str().map(str::to_string),
        ),
        "chat.postEphemeral" => {
            let ts = next_ts();
            (json!({ "ok": true, "message_ts": ts }), Some(ts))
        }
        _ => (json!({ "ok": false, "error": "unknown_method" }), None),
    }
}

async fn accept(listener: tokio::net::TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let tcp = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
        };
        tokio::spawn(connection(tcp, shared.clone(), stop.clone()));
    }
}

async fn connection(tcp: tokio::net::TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = unbounded_channel();
    let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
    {
        // Hello first, then what was pushed while nobody was connected.
        let mut sockets = lock(&shared.sockets);
        let _ = tx.send(Message::text(HELLO.to_string()));
        for m in lock(&shared.pending).drain(..) {
            let _ = tx.send(m);
        }
        sockets.push((id, tx));
    }
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            m = rx.recv() => match m {
                Some(Message::Close(f)) => {
                    let _ = sink.send(Message::Close(f)).await;
                    break;
                }
                Some(m) => {
                    if sink.send(m).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            m = stream.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let json = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                    let seq = shared.clock.fetch_add(1, Ordering::SeqCst);
                    lock(&shared.received).push(Frame { json, seq });
                }
                Some(Ok(Message::Ping(p))) => {
                    let _ = sink.send(Message::Pong(p)).await;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    lock(&shared.sockets).retain(|(i, _)| *i != id);
}

static NEXT: AtomicU64 = AtomicU64::new(1);

fn next() -> u64 {
    NEXT.fetch_add(1, Ordering::SeqCst)
}

fn envelope(fixture: &str) -> (Value, u64) {
    let mut v: Value = serde_json::from_str(fixture).unwrap();
    let n = next();
    v["envelope_id"] = json!(format!("0000{n:04}-e2e2-4223-8a9e-2c803925bf02"));
    (v, n)
}

/// An `events_api` envelope from `fixture` with its event's fields set.
fn event(fixture: &str, user: &str, channel: &str, text: String) -> Value {
    let (mut v, n) = envelope(fixture);
    let e = &mut v["payload"]["event"];
    e["user"] = json!(user);
    e["channel"] = json!(channel);
    e["text"] = json!(text);
    e["ts"] = json!(format!("1600000000.{n:06}"));
    e["event_ts"] = e["ts"].clone();
    v["payload"]["event_id"] = json!(format!("Ev{n:08}"));
    v
}

/// An `events_api` envelope: a direct message (`message`, `channel_type`
/// `im`) from `user` in DM `channel`.
pub fn dm(user: &str, channel: &str, text: &str) -> Value {
    event(IM, user, channel, text.to_string())
}

/// An `events_api` envelope: `app_mention` of the bot by `user` in
/// `channel`.
pub fn mention(user: &str, channel: &str, text: &str) -> Value {
    event(MENTION, user, channel, format!("<@{BOT_USER}> {text}"))
}

/// An `interactive` envelope: `block_actions` for the approval button
/// (`approve` or deny) on the bot's message `posted`, pressed by `user`.
pub fn press(user: &str, posted: &ApiCall, approve: bool) -> Value {
    let (mut v, n) = envelope(BUTTON);
    let channel = posted.body["channel"].clone();
    let p = &mut v["payload"];
    p["user"]["id"] = json!(user);
    p["user"]["username"] = json!(format!("user-{user}"));
    p["channel"]["id"] = channel.clone();
    p["container"]["channel_id"] = channel;
    p["container"]["message_ts"] = json!(posted.ts);
    p["message"]["ts"] = json!(posted.ts);
    p["message"]["text"] = posted.body["text"].clone();
    if let Some(t) = posted.body.get("thread_ts") {
        p["container"]["thread_ts"] = t.clone();
        p["message"]["thread_ts"] = t.clone();
    }
    let a = &mut p["actions"][0];
    a["action_id"] = json!(if approve {
        "chitin_approve"
    } else {
        "chitin_deny"
    });
    a["value"] = approval_id(posted).map(Value::from).unwrap_or(Value::Null);
    a["action_ts"] = json!(format!("1600000001.{n:06}"));
    v
}

/// A `slash_commands` envelope: `command` (`/new`, …) by `user` in `channel`.
pub fn slash(user: &str, channel: &str, command: &str, text: &str) -> Value {
    let (mut v, n) = envelope(SLASH);
    let p = &mut v["payload"];
    p["user_id"] = json!(user);
    p["channel_id"] = json!(channel);
    p["command"] = json!(command);
    p["text"] = json!(text);
    p["trigger_id"] = json!(format!("{n}.738474920.8088930838d88f008e0"));
    v
}

/// The approval id on a posted message's Approve button, if it has one.
pub fn approval_id(posted: &ApiCall) -> Option<String> {
    posted.body["blocks"]
        .as_array()?
        .iter()
        .find(|b| b["type"] == "actions")?["elements"]
        .as_array()?
        .iter()
        .find(|e| e["action_id"] == "chitin_approve")?["value"]
        .as_str()
        .map(str::to_string)
}
