//! Accepting connections with limits `axum::serve` does not offer: at most
//! [`MAX_CONNECTIONS`] open at once (the next is answered `503` with
//! `Retry-After` and closed), a deadline for a request's headers
//! ([`HEADER_READ_TIMEOUT`]) and for its body
//! ([`super::body::BODY_READ_TIMEOUT`]), so a client that connects and sends
//! nothing, or trickles a header or a body, cannot pin the daemon's memory
//! or its connection slots (slowloris). A client that leaves, or stops
//! reading, frees its slot at once ([`super::peer`]).

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

/// Open connections at most; one more is answered 503.
pub const MAX_CONNECTIONS: usize = 128;

/// Refusals being written at once; past that a connection is just closed
/// (a flood cannot make the refusals themselves pile up).
const MAX_REFUSALS: usize = 64;

/// The answer when every slot is taken.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: 71\r\nConnection: close\r\n\r\n{\"error\":\"the daemon has too many open connections; retry in a second\"}";

/// Time a client has to send a request's headers, from connecting or from
/// the end of its previous request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `app` on `listener` until `stop`; then stop accepting, ask open
/// connections to finish their request in flight, and wait up to `grace`.
pub async fn serve(listener: TcpListener, app: Router, stop: CancellationToken, grace: Duration) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Answers stream as server-sent events: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!("{peer}: refused, {MAX_CONNECTIONS} connections already open");
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let _refusal = refusal;
                    let mut stream = stream;
                    // Answer, then drain what the client sent (briefly and
                    // boundedly): closing with unread data would reset the
                    // connection before the client reads the answer.
                    let answer = async {
                        stream.write_all(BUSY).await?;
                        stream.shutdown().await?;
                        let mut sink = [0u8; 4096];
                        for _ in 0..16 {
                            if stream.read(&mut sink).await? == 0 {
                                break;
                            }
                        }
                        Ok::<_, std::io::Error>(())
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
                });
            }
            continue;
        };
        let stream = super::peer::StallGuard::new(stream, super::peer::WRITE_STALL_TIMEOUT);
        let app = app.clone();
        let closing = closing.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let req = req.map(|b| axum::body::Body::new(super::body::TimedBody::new(b)));
                app.clone().call(req)
            });
            let conn = http1::Builder::new()
                // A client that closes its side is gone: its slot is freed
                // then, not when the turn it was streaming ends.
                .half_close(false)
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = closing.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!("{peer}: connection ended: {e}");
            }
        });
    }
    drop(listener);
    closing.cancel();
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {grace:?}");
    }
}
