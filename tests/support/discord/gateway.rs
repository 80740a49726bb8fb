//! The fake's gateway side: Hello, Identify (token checked: close 4004),
//! READY, heartbeat ACKs (unless the test made a zombie), Resume with the
//! missed dispatches replayed, and the dispatches the tests push.

use super::{BOT_TOKEN, Ctl, HELLO, READY, Shared, fixture, lock};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc::unbounded_channel;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_util::sync::CancellationToken;

/// Send what is pending, if a connection is live.
pub(super) fn flush(shared: &Shared) {
    let live = lock(&shared.live);
    let Some(tx) = live.as_ref() else { return };
    let mut session = lock(&shared.session);
    let Some((_, seq, sent)) = session.as_mut() else {
        return;
    };
    let mut pending = lock(&shared.pending);
    while let Some((t, d)) = pending.pop_front() {
        *seq += 1;
        let frame = json!({"op": 0, "t": t, "s": *seq, "d": d});
        sent.push(frame.clone());
        let _ = tx.send(Ctl::Send(Message::text(frame.to_string())));
    }
}

pub(super) async fn accept(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            got = listener.accept() => if let Ok((stream, _)) = got {
                tokio::spawn(connection(stream, shared.clone(), stop.clone()));
            }
        }
    }
}

/// One gateway connection.
async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    shared.connections.fetch_add(1, Ordering::SeqCst);
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = unbounded_channel::<Ctl>();
    let mut hello = fixture(HELLO);
    hello["d"]["heartbeat_interval"] = json!(shared.heartbeat_ms.load(Ordering::SeqCst));
    if sink.send(Message::text(hello.to_string())).await.is_err() {
        return;
    }
    let close = |code: u16, reason: &str| {
        Message::Close(Some(CloseFrame {
            code: code.into(),
            reason: reason.to_string().into(),
        }))
    };
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => return,
            ctl = rx.recv() => match ctl {
                Some(Ctl::Send(m)) => {
                    if sink.send(m).await.is_err() { return; }
                    continue;
                }
                Some(Ctl::Close(code)) => {
                    let _ = sink.send(close(code, "closed by the test")).await;
                    return;
                }
                Some(Ctl::Drop) | None => return,
            },
            f = source.next() => f,
        };
        let text = match frame {
            Some(Ok(Message::Text(t))) => t.to_string(),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                let mut live = lock(&shared.live);
                if live.as_ref().is_some_and(|l| l.same_channel(&tx)) {
                    *live = None;
                }
                return;
            }
            Some(Ok(_)) => continue,
        };
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        lock(&shared.frames).push(v.clone());
        match v["op"].as_u64() {
            Some(1) if !shared.no_ack.load(Ordering::SeqCst) => {
                let _ = sink
                    .send(Message::text(json!({"op": 11}).to_string()))
                    .await;
            }
            Some(2 | 6) if v["d"]["token"] != BOT_TOKEN => {
                let _ = sink.send(close(4004, "Authentication failed.")).await;
                return;
            }
            Some(2)
                if shared.no_content.load(Ordering::SeqCst)
                    && v["d"]["intents"].as_u64().unwrap_or(0) & (1 << 15) != 0 =>
            {
                let _ = sink.send(close(4014, "Disallowed intent(s).")).await;
                return;
            }
            Some(2) => {
                let id = format!("{:032x}", shared.ids.fetch_add(1, Ordering::SeqCst));
                let mut ready = fixture(READY);
                ready["d"]["session_id"] = json!(id);
                ready["d"]["resume_gateway_url"] =
                    json!(format!("ws://{}", lock(&shared.gateway).unwrap()));
                *lock(&shared.session) = Some((id, 1, vec![ready.clone()]));
                let _ = sink.send(Message::text(ready.to_string())).await;
                *lock(&shared.live) = Some(tx.clone());
                flush(&shared);
            }
            Some(6) => {
                let known = {
                    let session = lock(&shared.session);
                    match session.as_ref() {
                        Some((id, _, sent)) if v["d"]["session_id"] == id.as_str() => {
                            let after = v["d"]["seq"].as_u64().unwrap_or(0);
                            Some(
                                sent.iter()
                                    .filter(|f| f["s"].as_u64().unwrap_or(0) > after)
                                    .cloned()
                                    .collect::<Vec<_>>(),
                            )
                        }
                        _ => None,
                    }
                };
                let Some(missed) = known else {
                    let _ = sink
                        .send(Message::text(json!({"op": 9, "d": false}).to_string()))
                        .await;
                    continue;
                };
                for f in missed {
                    let _ = sink.send(Message::text(f.to_string())).await;
                }
                let seq = {
                    let mut session = lock(&shared.session);
                    let (_, seq, _) = session.as_mut().unwrap();
                    *seq += 1;
                    *seq
                };
                let resumed = json!({"op": 0, "t": "RESUMED", "s": seq, "d": {}});
                let _ = sink.send(Message::text(resumed.to_string())).await;
                *lock(&shared.live) = Some(tx.clone());
                flush(&shared);
            }
            _ => {}
        }
    }
}
