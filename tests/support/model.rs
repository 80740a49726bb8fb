//! A scripted model server for tests and benchmarks: a real HTTP/1.1 server
//! on 127.0.0.1 that plays back [`Reply`]s in OpenAI (`POST
//! /v1/chat/completions`) or Anthropic (`POST /v1/messages`) streaming format,
//! lists models (`GET /v1/models`) and records every request.
//! Self-contained: std and serde_json only.

#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

pub use cache::CacheMode;
use cache::PromptCache;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use wire::Ending;
use wire::{Render, anthropic_events, openai_events, write_cut, write_stream};

#[path = "model_cache.rs"]
mod cache;
#[path = "model_wire.rs"]
mod wire;

/// Connections served at once; more get a 503.
const MAX_CONNECTIONS: usize = 1200;
/// Requests kept for `requests()` (the count goes on).
const MAX_RECORDED: usize = 10_000;
/// How long `Reply::Hang` holds a connection at most.
const HANG_FOR: Duration = Duration::from_secs(30);

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A final text answer.
    Text(String),
    /// Tool calls: (name, arguments JSON text).
    ToolCalls(Vec<(String, String)>),
    /// Text, then tool calls.
    TextAndTools(String, Vec<(String, String)>),
    /// An error status with this body.
    Status(u16, String),
    /// An error status with `Retry-After: secs`.
    StatusRetryAfter(u16, u64),
    /// Read the request and never answer.
    Hang,
    /// Stream this text, then close the connection mid-answer (no end
    /// events, no final chunk).
    Cut(String),
    /// Text and tool calls that end another way (cut at the output limit,
    /// or a refusal).
    Ended(String, Vec<(String, String)>, Ending),
    /// A recorded `text/event-stream` body, played as it is (events split
    /// across chunks like the others).
    Raw(String),
}

impl Reply {
    /// `Reply::Text` from a `&str`.
    pub fn text(t: &str) -> Self {
        Reply::Text(t.to_string())
    }

    /// One tool call.
    pub fn tool(name: &str, arguments: &str) -> Self {
        Reply::ToolCalls(vec![(name.to_string(), arguments.to_string())])
    }

    /// Text cut at the output limit.
    pub fn cut_at_limit(text: &str) -> Self {
        Reply::Ended(text.to_string(), Vec::new(), Ending::Length)
    }

    /// A tool call whose arguments were cut at the output limit.
    pub fn tool_cut_at_limit(name: &str, partial_arguments: &str) -> Self {
        Reply::Ended(
            String::new(),
            vec![(name.to_string(), partial_arguments.to_string())],
            Ending::Length,
        )
    }

    /// A refusal.
    pub fn refusal(text: &str) -> Self {
        Reply::Ended(text.to_string(), Vec::new(), Ending::Refusal)
    }

    /// The stream in `tests/fixtures/providers/NAME`.
    pub fn fixture(name: &str) -> Self {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/providers")
            .join(name);
        Reply::Raw(
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub method: String,
    /// Path and query, e.g. `/v1/messages`.
    pub path: String,
    /// Header names lowercase.
    pub headers: HashMap<String, String>,
    /// The JSON body (`Null` when absent or not JSON).
    pub body: Value,
}

impl ModelRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

struct State {
    script: VecDeque<Reply>,
    repeat: Option<Reply>,
    /// (first, after a tool result): answers by the conversation's state.
    pair: Option<(Reply, Reply)>,
    requests: Vec<ModelRequest>,
    count: usize,
    models: Vec<String>,
    usage: (u64, u64),
    chunk_delay: Duration,
    /// A prompt cache whose hits the usage reports.
    cache: Option<(CacheMode, PromptCache)>,
}

/// The running server; it stops when dropped.
pub struct ModelServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl ModelServer {
    /// Serve `script`, one reply per model call, in order.
    pub fn start(script: Vec<Reply>) -> Self {
        Self::spawn(script.into(), None)
    }

    /// Answer every model call with `reply` (for benchmarks).
    pub fn repeat(reply: Reply) -> Self {
        Self::spawn(VecDeque::new(), Some(reply))
    }

    /// Answer every model call by what the conversation asks for: `first`
    /// after the user's message, `then` after a tool result (for load:
    /// concurrent turns, each a tool call and an answer).
    pub fn agentic(first: Reply, then: Reply) -> Self {
        let server = Self::spawn(VecDeque::new(), None);
        server.state.lock().unwrap().pair = Some((first, then));
        server
    }

    fn spawn(script: VecDeque<Reply>, repeat: Option<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script,
            repeat,
            pair: None,
            requests: Vec::new(),
            count: 0,
            models: Vec::new(),
            usage: (10, 5),
            chunk_delay: Duration::ZERO,
            cache: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2) = (state.clone(), stop.clone());
        let active = Arc::new(AtomicUsize::new(0));
        let ids = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::SeqCst);
                    let body = error_body("model server: too many connections");
                    respond(&mut stream, 503, &[], &body);
                    continue;
                }
                let (state, stop, active, ids) =
                    (state2.clone(), stop2.clone(), active.clone(), ids.clone());
                std::thread::spawn(move || {
                    handle(stream, &state, &stop, &ids);
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        ModelServer { addr, state, stop }
    }

    /// Model names listed by `GET /v1/models`.
    pub fn with_models(self, models: &[&str]) -> Self {
        self.state.lock().unwrap().models = models.iter().map(|m| m.to_string()).collect();
        self
    }

    /// Token usage reported with every answer (default 10 in, 5 out).
    pub fn with_usage(self, input: u64, output: u64) -> Self {
        self.state.lock().unwrap().usage = (input, output);
        self
    }

    /// A pause between streamed chunks (default none).
    pub fn with_prompt_cache(self, mode: CacheMode) -> Self {
        self.state.lock().unwrap().cache = Some((mode, PromptCache::default()));
        self
    }

    pub fn with_chunk_delay(self, delay: Duration) -> Self {
        self.state.lock().unwrap().chunk_delay = delay;
        self
    }

    /// `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far (the first 10 000).
    pub fn requests(&self) -> Vec<ModelRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.state.lock().unwrap().count
    }

    /// Scripted replies not yet played.
    pub fn remaining(&self) -> usize {
        self.state.lock().unwrap().script.len()
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn error_body(message: &str) -> Vec<u8> {
    json!({"error": {"message": message, "type": "server_error"}})
        .to_string()
        .into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn read_request(stream: &TcpStream) -> Option<ModelRequest> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(16 << 20)];
    reader.read_exact(&mut body).ok()?;
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Some(ModelRequest {
        method,
        path,
        headers,
        body,
    })
}

fn handle(mut stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool, ids: &AtomicUsize) {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    stream.set_nodelay(true).ok();
    let Some(req) = read_request(&stream) else {
        return;
    };
    let route = req.path.split('?').next().unwrap_or("").to_string();
    let model = req.body["model"].as_str().unwrap_or("").to_string();
    let (method, path) = (req.method.clone(), req.path.clone());
    let is_call = method == "POST"
        && matches!(
            route.as_str(),
            "/v1/chat/completions" | "/v1/messages" | "/v1/responses"
        );
    let (reply, n, models, usage, delay, cached) = {
        let after_tool = after_tool_result(&req.body);
        let mut s = state.lock().unwrap();
        let cached = match &mut s.cache {
            Some((mode, cache)) if is_call => Some(cache.request(*mode, &req.body)),
            _ => None,
        };
        s.count += 1;
        if s.requests.len() < MAX_RECORDED {
            s.requests.push(req);
        }
        let reply = if is_call {
            s.script
                .pop_front()
                .or_else(|| s.repeat.clone())
                .or_else(|| {
                    s.pair.as_ref().map(|(first, then)| {
                        if after_tool {
                            then.clone()
                        } else {
                            first.clone()
                        }
                    })
                })
        } else {
            None
        };
        (
            reply,
            s.count,
            s.models.clone(),
            s.usage,
            s.chunk_delay,
            cached,
        )
    };
    if method == "GET" && route == "/v1/models" {
        let data: Vec<Value> = models
            .iter()
            .map(|m| json!({"id": m, "object": "model", "type": "model", "display_name": m}))
            .collect();
        let body = json!({"object": "list", "data": data, "has_more": false});
        return respond(&mut stream, 200, &[], body.to_string().as_bytes());
    }
    if !is_call {
        let body = error_body(&format!("model server: no route for {method} {path}"));
        return respond(&mut stream, 404, &[], &body);
    }
    let (text, calls, ending) = match reply {
        None => {
            let msg = format!(
                "model server: the script has no reply left for request #{n} ({method} {path})"
            );
            return respond(&mut stream, 500, &[], &error_body(&msg));
        }
        Some(Reply::Status(status, body)) => {
            return respond(&mut stream, status, &[], body.as_bytes());
        }
        Some(Reply::StatusRetryAfter(status, secs)) => {
            let body = error_body("scripted: slow down");
            return respond(
                &mut stream,
                status,
                &[("Retry-After", secs.to_string())],
                &body,
            );
        }
        Some(Reply::Hang) => {
            let since = Instant::now();
            while !stop.load(Ordering::SeqCst) && since.elapsed() < HANG_FOR {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        Some(Reply::Cut(text)) => {
            let r = Render {
                model: &model,
                usage,
                ids,
                cached,
            };
            let mut events = if route == "/v1/messages" {
                anthropic_events(&r, &text, &[], Ending::Normal)
            } else {
                openai_events(&r, &text, &[], Ending::Normal)
            };
            // Keep the start and the text deltas; drop the three events
            // that end the answer (both formats end with three).
            events.truncate(events.len().saturating_sub(3));
            return write_cut(&mut stream, &events);
        }
        Some(Reply::Raw(body)) => {
            let events: Vec<String> = body.split_inclusive("\n\n").map(str::to_string).collect();
            return write_stream(&mut stream, &events, delay);
        }
        Some(Reply::Text(text)) => (text, Vec::new(), Ending::Normal),
        Some(Reply::ToolCalls(calls)) => (String::new(), calls, Ending::Normal),
        Some(Reply::TextAndTools(text, calls)) => (text, calls, Ending::Normal),
        Some(Reply::Ended(text, calls, ending)) => (text, calls, ending),
    };
    let r = Render {
        model: &model,
        usage,
        ids,
        cached,
    };
    let events = if route == "/v1/messages" {
        anthropic_events(&r, &text, &calls, ending)
    } else {
        openai_events(&r, &text, &calls, ending)
    };
    write_stream(&mut stream, &events, delay);
}

/// Whether the request's last message is a tool result (OpenAI: role
/// `tool`; Anthropic: a user message with a `tool_result` block).
fn after_tool_result(body: &Value) -> bool {
    let Some(last) = body["messages"].as_array().and_then(|m| m.last()) else {
        return false;
    };
    last["role"] == "tool"
        || last["content"]
            .as_array()
            .is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"))
}
