//! The channels' connections: HTTP through the providers' client (rustls
//! with ring and the web PKI, no proxy) and websockets with the same TLS
//! configuration, bounded in time and message size.

use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// A websocket to a platform.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Largest websocket message accepted from a platform.
pub const MAX_WS_MESSAGE: usize = 1 << 20;

/// An HTTP client for a platform's API: `timeout` per request.
pub fn http(timeout: Duration) -> Result<reqwest::Client, String> {
    crate::provider::http::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Open a websocket (`wss://` or, for tests, `ws://`) within 10 s.
pub async fn websocket(url: &str) -> Result<Socket, String> {
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_WS_MESSAGE);
    config.max_frame_size = Some(MAX_WS_MESSAGE);
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        url,
        Some(config),
        true,
        Some(Connector::Rustls(chitin_sandbox::tls::client_config())),
    );
    match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(e)) => Err(format!(
            "websocket connection failed: {}",
            chitin_sandbox::text::one_line(&e.to_string(), 200)
        )),
        Err(_) => Err("websocket connection timed out after 10 s".into()),
    }
}
