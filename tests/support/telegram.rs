//! A fake Telegram Bot API on 127.0.0.1: `POST /bot<TOKEN>/<method>` with
//! JSON bodies and the `{"ok":true,"result":…}` / `{"ok":false,
//! "error_code":…,"description":…,"parameters":{"retry_after":…}}`
//! envelopes of https://core.telegram.org/bots/api#making-requests.
//! `getUpdates` long-polls and honours `offset` (an update is confirmed by
//! asking for a later one), so redelivery after a restart is real.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bot as `getMe` describes it.
pub const BOT_ID: u64 = 7_000_000_001;
/// Its username (mention it as `@chitin_test_bot`).
pub const BOT_USERNAME: &str = "chitin_test_bot";

/// A call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    token: String,
    updates: Vec<Value>,
    /// The highest offset a `getUpdates` asked for.
    confirmed: i64,
    next_update: i64,
    next_message: i64,
    calls: Vec<Call>,
    /// Scripted failures: (method, status, retry_after).
    failures: VecDeque<(String, u16, Option<u64>)>,
}

/// The state, woken pollers, and a signal on every call (for waiters).
type Shared = Arc<(Mutex<Inner>, tokio::sync::Notify, std::sync::Condvar)>;

/// The running fake; stops with the test process.
pub struct FakeTelegram {
    pub base: String,
    state: Shared,
}

impl FakeTelegram {
    /// Serve a bot whose token is `token`.
    pub fn start(token: &str) -> Self {
        let state: Shared = Arc::default();
        {
            let mut s = state.0.lock().unwrap();
            s.token = token.to_string();
            s.next_update = 500_000;
            s.next_message = 100;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/{bot}/{method}", axum::routing::post(handle))
            .with_state(state.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        FakeTelegram { base, state }
    }

    /// Queue an update (its `update_id` is assigned); returns the id.
    pub fn push(&self, mut update: Value) -> i64 {
        let id = {
            let mut s = self.state.0.lock().unwrap();
            s.next_update += 1;
            let id = s.next_update;
            update["update_id"] = json!(id);
            s.updates.push(update);
            id
        };
        self.state.1.notify_waiters();
        id
    }

    /// Queue an update exactly as given (its own `update_id`, maybe one
    /// delivered before, or none at all).
    pub fn push_raw(&self, update: Value) {
        self.state.0.lock().unwrap().updates.push(update);
        self.state.1.notify_waiters();
    }

    /// Forget what was confirmed: the next poll without an offset gets
    /// every update again (as after Telegram lost its confirmation).
    pub fn unconfirm(&self) {
        self.state.0.lock().unwrap().confirmed = 0;
    }

    /// Answer the next call to `method` with `status` (and `retry_after`).
    pub fn fail_next(&self, method: &str, status: u16, retry_after: Option<u64>) {
        self.state
            .0
            .lock()
            .unwrap()
            .failures
            .push_back((method.to_string(), status, retry_after));
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.0.lock().unwrap().calls.clone()
    }

    /// The `sendMessage` calls to `chat`, in order.
    pub fn sent_to(&self, chat: i64) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "sendMessage" && c.body["chat_id"] == json!(chat))
            .map(|c| c.body)
            .collect()
    }

    /// Wait (bounded) until `sendMessage` to `chat` was called `n` times.
    pub fn wait_sent(&self, chat: i64, n: usize, within: Duration) -> Vec<Value> {
        let end = Instant::now() + within;
        let mut s = self.state.0.lock().unwrap();
        loop {
            let sent: Vec<Value> = s
                .calls
                .iter()
                .filter(|c| c.method == "sendMessage" && c.body["chat_id"] == json!(chat))
                .map(|c| c.body.clone())
                .collect();
            if sent.len() >= n {
                return sent;
            }
            let now = Instant::now();
            assert!(
                now < end,
                "expected {n} message(s) to chat {chat} within {within:?}; got {sent:#?}\nall calls: {:#?}",
                s.calls.iter().map(|c| &c.method).collect::<Vec<_>>()
            );
            s = self.state.2.wait_timeout(s, end - now).unwrap().0;
        }
    }

    /// How many `sendMessage` calls there were, to any chat.
    pub fn sent_count(&self) -> usize {
        let s = self.state.0.lock().unwrap();
        s.calls.iter().filter(|c| c.method == "sendMessage").count()
    }

    /// Wait (bounded) for a call to `method` satisfying `pred`.
    pub fn wait_call(
        &self,
        method: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let end = Instant::now() + within;
        loop {
            if let Some(c) = self
                .calls()
                .into_iter()
                .find(|c| c.method == method && pred(&c.body))
            {
                return c.body;
            }
            assert!(
                Instant::now() < end,
                "no matching {method} within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A private-chat text message from `user` (the documented `Update` with
/// a `Message`; the chat id of a private chat is the user's id).
pub fn text(user: i64, name: &str, text: &str) -> Value {
    json!({
        "message": {
            "message_id": 1, "date": 1_700_000_000,
            "chat": {"id": user, "type": "private", "first_name": name},
            "from": {"id": user, "is_bot": false, "first_name": name, "language_code": "en"},
            "text": text
        }
    })
}

/// A message in a group chat.
pub fn group_text(chat: i64, user: i64, name: &str, text: &str) -> Value {
    json!({
        "message": {
            "message_id": 2, "date": 1_700_000_000,
            "chat": {"id": chat, "type": "supergroup", "title": "Team"},
            "from": {"id": user, "is_bot": false, "first_name": name},
            "text": text
        }
    })
}

/// A press of an inline-keyboard button (a `CallbackQuery`) by `user` on
/// the bot's message `message_id` in `chat`.
pub fn press(chat: i64, user: i64, message_id: i64, data: &str) -> Value {
    json!({
        "callback_query": {
            "id": format!("cb{user}{message_id}"),
            "from": {"id": user, "is_bot": false, "first_name": "Presser"},
            "message": {
                "message_id": message_id, "date": 1_700_000_000,
                "chat": {"id": chat, "type": "private", "first_name": "Owner"},
                "from": {"id": BOT_ID, "is_bot": true, "first_name": "Chitin", "username": BOT_USERNAME},
                "text": "Approve?"
            },
            "chat_instance": "42",
            "data": data
        }
    })
}

fn envelope(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

fn error(status: u16, description: &str, retry_after: Option<u64>) -> Response {
    let mut body = json!({"ok": false, "error_code": status, "description": description});
    if let Some(r) = retry_after {
        body["parameters"] = json!({"retry_after": r});
    }
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn handle(
    State(state): State<Shared>,
    Path((bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    {
        let mut s = state.0.lock().unwrap();
        if bot != format!("bot{}", s.token) {
            return error(401, "Unauthorized", None);
        }
        s.calls.push(Call {
            method: method.clone(),
            body: body.clone(),
        });
        state.2.notify_all();
        if let Some(pos) = s.failures.iter().position(|f| f.0 == method) {
            let (_, status, retry) = s.failures.remove(pos).unwrap();
            let description = match status {
                429 => format!("Too Many Requests: retry after {}", retry.unwrap_or(1)),
                _ => "Internal Server Error".to_string(),
            };
            return error(status, &description, retry);
        }
    }
    match method.as_str() {
        "getMe" => envelope(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Chitin", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false
        })),
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let wait = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0).min(30));
            let end = tokio::time::Instant::now() + wait;
            loop {
                let notified = state.1.notified();
                let ready: Vec<Value> = {
                    let mut s = state.0.lock().unwrap();
                    if offset > s.confirmed {
                        s.confirmed = offset;
                    }
                    let from = s.confirmed;
                    s.updates
                        .iter()
                        .filter(|u| u["update_id"].as_i64().is_none_or(|id| id >= from))
                        .take(body["limit"].as_u64().unwrap_or(100) as usize)
                        .cloned()
                        .collect()
                };
                if !ready.is_empty() || tokio::time::Instant::now() >= end {
                    // Updates without an id are delivered once.
                    state
                        .0
                        .lock()
                        .unwrap()
                        .updates
                        .retain(|u| u.get("update_id").is_some());
                    return envelope(json!(ready));
                }
                let _ = tokio::time::timeout_at(end, notified).await;
            }
        }
        "sendMessage" => {
            let id = {
                let mut s = state.0.lock().unwrap();
                s.next_message += 1;
                s.next_message
            };
            if body["text"]
                .as_str()
                .is_none_or(|t| t.is_empty() || t.chars().count() > 4096)
            {
                return error(400, "Bad Request: message text is empty or too long", None);
            }
            envelope(json!({
                "message_id": id, "date": 1_700_000_000,
                "chat": {"id": body["chat_id"], "type": "private", "first_name": "Owner"},
                "from": {"id": BOT_ID, "is_bot": true, "first_name": "Chitin", "username": BOT_USERNAME},
                "text": body["text"]
            }))
        }
        "sendChatAction" | "answerCallbackQuery" | "editMessageReplyMarkup" => {
            envelope(json!(true))
        }
        _ => error(404, "Not Found: method not found", None),
    }
}
