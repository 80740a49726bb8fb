//! Accepting connections with limits `axum::serve` does not offer: at most
//! [`MAX_CONNECTIONS`] open at once (the next is closed at once), and a
//! deadline for a request's headers ([`HEADER_READ_TIMEOUT`]), so a client
//! that connects and sends nothing, or trickles a header, cannot pin the
//! daemon's memory or its connection slots (slowloris).

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

/// Open connections at most; one more is closed without a reply.
pub const MAX_CONNECTIONS: usize = 128;

/// Time a client has to send a request's headers, from connecting or from
/// the end of its previous request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve `app` on `listener` until `stop`; then stop accepting, ask open
/// connections to finish their request in flight, and wait up to `grace`.
pub async fn serve(listener: TcpListener, app: Router, stop: CancellationToken, grace: Duration) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
            drop(stream);
            continue;
        };
        let app = app.clone();
        let closing = closing.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                app.clone().call(req)
            });
            let conn = http1::Builder::new()
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
