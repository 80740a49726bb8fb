//! The model server's wire formats: a reply rendered as OpenAI Chat
//! Completions chunks or Anthropic Messages events, written as a chunked
//! `text/event-stream` response.

use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What a streamed answer needs besides the reply.
pub struct Render<'a> {
    /// The model name echoed back.
    pub model: &'a str,
    /// (input, output) tokens.
    pub usage: (u64, u64),
    /// Source of unique ids.
    pub ids: &'a AtomicUsize,
    /// The prompt cache's account of this request, when it has one.
    pub cached: Option<super::cache::CacheUsage>,
}

/// How a scripted answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// As the answer asks (`stop`/`end_turn`, or tool calls).
    Normal,
    /// Cut at the output limit (`length` / `max_tokens`).
    Length,
    /// The text is a refusal (OpenAI's `refusal` deltas; Anthropic's
    /// `stop_reason: "refusal"`).
    Refusal,
}

/// `s` in three pieces (on char boundaries; fewer when short).
fn pieces(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let size = chars.len().div_ceil(3).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// OpenAI `chat.completion.chunk`s: role, text deltas, tool-call deltas by
/// index, finish reason, a usage chunk with no choices, `[DONE]`.
pub fn openai_events(
    r: &Render,
    text: &str,
    calls: &[(String, String)],
    ending: Ending,
) -> Vec<String> {
    let id = format!("chatcmpl-{}", r.ids.fetch_add(1, Ordering::SeqCst));
    let frame = |choices: Value, usage: Value| {
        let chunk = json!({"id": id, "object": "chat.completion.chunk", "created": 0, "model": r.model,
            "choices": choices, "usage": usage});
        format!("data: {chunk}\n\n")
    };
    let chunk = |delta: Value, finish: Value| {
        frame(
            json!([{"index": 0, "delta": delta, "finish_reason": finish}]),
            Value::Null,
        )
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let field = if ending == Ending::Refusal {
        "refusal"
    } else {
        "content"
    };
    for p in pieces(text) {
        out.push(chunk(json!({ field: p }), Value::Null));
    }
    for (i, (name, args)) in calls.iter().enumerate() {
        let id = format!("call_{}", r.ids.fetch_add(1, Ordering::SeqCst));
        let function = json!({"name": name, "arguments": ""});
        let start = json!([{"index": i, "id": id, "type": "function", "function": function}]);
        out.push(chunk(json!({ "tool_calls": start }), Value::Null));
        for p in pieces(args) {
            let part = json!([{"index": i, "function": {"arguments": p}}]);
            out.push(chunk(json!({ "tool_calls": part }), Value::Null));
        }
    }
    let finish = match ending {
        Ending::Length => "length",
        _ if calls.is_empty() => "stop",
        _ => "tool_calls",
    };
    out.push(chunk(json!({}), json!(finish)));
    let (input, output) = r.usage;
    let usage = match r.cached {
        // DeepSeek's fields and OpenAI's, both.
        Some(c) => {
            json!({"prompt_tokens": c.total, "completion_tokens": output, "total_tokens": c.total + output,
            "prompt_tokens_details": {"cached_tokens": c.read},
            "prompt_cache_hit_tokens": c.read, "prompt_cache_miss_tokens": c.total - c.read})
        }
        None => {
            json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
        }
    };
    out.push(frame(json!([]), usage));
    out.push("data: [DONE]\n\n".into());
    out
}

/// Anthropic events: message_start, ping, a text block, tool_use blocks
/// with input_json_delta pieces, message_delta (stop reason, usage), message_stop.
pub fn anthropic_events(
    r: &Render,
    text: &str,
    calls: &[(String, String)],
    ending: Ending,
) -> Vec<String> {
    // Each event's JSON carries its name as `type`.
    let ev = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        format!("event: {name}\ndata: {data}\n\n")
    };
    let id = format!("msg_{}", r.ids.fetch_add(1, Ordering::SeqCst));
    let usage = match r.cached {
        Some(c) => {
            json!({"input_tokens": c.total - c.read - c.write, "cache_creation_input_tokens": c.write,
            "cache_read_input_tokens": c.read, "output_tokens": 1})
        }
        None => json!({"input_tokens": r.usage.0, "output_tokens": 1}),
    };
    let message = json!({"id": id, "type": "message", "role": "assistant", "model": r.model,
        "content": [], "stop_reason": null, "usage": usage});
    let mut out = vec![
        ev("message_start", json!({ "message": message })),
        ev("ping", json!({})),
    ];
    let mut blocks: Vec<(Value, &str, Vec<String>)> = Vec::new();
    if !text.is_empty() {
        blocks.push((
            json!({"type": "text", "text": ""}),
            "text_delta",
            pieces(text),
        ));
    }
    for (name, args) in calls {
        let id = format!("toolu_{}", r.ids.fetch_add(1, Ordering::SeqCst));
        let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
        blocks.push((block, "input_json_delta", pieces(args)));
    }
    for (index, (block, delta, parts)) in blocks.into_iter().enumerate() {
        out.push(ev(
            "content_block_start",
            json!({"index": index, "content_block": block}),
        ));
        for p in parts {
            let field = if delta == "text_delta" {
                "text"
            } else {
                "partial_json"
            };
            let delta = json!({"type": delta, field: p});
            out.push(ev(
                "content_block_delta",
                json!({"index": index, "delta": delta}),
            ));
        }
        out.push(ev("content_block_stop", json!({ "index": index })));
    }
    let stop = match ending {
        Ending::Length => "max_tokens",
        Ending::Refusal => "refusal",
        Ending::Normal if calls.is_empty() => "end_turn",
        Ending::Normal => "tool_use",
    };
    let delta = json!({"stop_reason": stop, "stop_sequence": null});
    out.push(ev(
        "message_delta",
        json!({"delta": delta, "usage": {"output_tokens": r.usage.1}}),
    ));
    out.push(ev("message_stop", json!({})));
    out
}

/// A chunked `text/event-stream` response: each event in two HTTP chunks,
/// split mid-line, to exercise reassembly; `delay` after each chunk.
pub fn write_stream(stream: &mut TcpStream, events: &[String], delay: Duration) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    for event in events {
        let cut = (0..=event.len() / 2)
            .rev()
            .find(|&i| event.is_char_boundary(i))
            .unwrap_or(0);
        for part in [&event[..cut], &event[cut..]]
            .into_iter()
            .filter(|p| !p.is_empty())
        {
            let frame = format!("{:x}\r\n{part}\r\n", part.len());
            if stream
                .write_all(frame.as_bytes())
                .and_then(|_| stream.flush())
                .is_err()
            {
                return;
            }
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let _ = stream.flush();
}

/// The start of a chunked `text/event-stream` response, then the connection
/// closed without the final chunk: a stream cut mid-answer.
pub fn write_cut(stream: &mut TcpStream, events: &[String]) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let mut out = head.to_string();
    for event in events {
        out.push_str(&format!("{:x}\r\n{event}\r\n", event.len()));
    }
    let _ = stream
        .write_all(out.as_bytes())
        .and_then(|_| stream.flush());
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
