//! Talking to a running daemon: find it (`daemon.json`, else the configured
//! address), authenticate with the token file, stream turns over SSE.

use super::Paths;
use anyhow::{Context, bail};
use bytes::Bytes;
use chitin::agent::events::TurnEvent;
use chitin::provider::http::{HttpClient, HttpResponse};
use chitin::provider::sse::SseParser;
use http::Method;
use std::time::Duration;

/// A connection to the daemon.
pub struct DaemonClient {
    http: HttpClient,
    token: String,
    /// The daemon's address.
    pub addr: String,
}

/// Turns can wait minutes for an approval; the stream timeout is generous.
const STREAM_TIMEOUT: Duration = Duration::from_secs(3600);

impl DaemonClient {
    /// The running daemon, or None if none runs.
    ///
    /// Only the address a live daemon of this user wrote to `daemon.json`
    /// is trusted: the token is never sent to whatever happens to listen on
    /// the configured port (another local user could bind it while no
    /// daemon runs and collect the token).
    pub async fn find(paths: &Paths) -> anyhow::Result<Option<Self>> {
        let dirs = paths.dirs()?;
        let Some(addr) = live_daemon(&dirs.daemon_state()) else {
            return Ok(None);
        };
        let Ok(token) = std::fs::read_to_string(dirs.daemon_token()) else {
            return Ok(None);
        };
        let http = HttpClient::new(&format!("http://{addr}"), STREAM_TIMEOUT)?;
        let client = DaemonClient {
            http,
            token: token.trim().to_string(),
            addr,
        };
        match client.request(Method::GET, "/api/health", None).await {
            Ok(_) => Ok(Some(client)),
            Err(_) => Ok(None),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<HttpResponse> {
        let auth = format!("Bearer {}", self.token);
        let resp = self
            .http
            .send(
                method,
                path,
                &[("authorization", &auth)],
                body.map(|b| Bytes::from(b.to_string())),
            )
            .await?;
        if resp.status >= 300 {
            let status = resp.status;
            let text = resp.bytes(64 * 1024).await.unwrap_or_default();
            let msg = serde_json::from_slice::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&text).into_owned());
            bail!("the daemon answered {status}: {msg}");
        }
        Ok(resp)
    }

    /// A request whose answer is JSON (or empty).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let resp = self.send(method, path, body).await?;
        let bytes = resp.bytes(16 << 20).await?;
        if bytes.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).context("the daemon's answer is not JSON")
    }

    /// Start a session.
    pub async fn create_session(&self) -> anyhow::Result<String> {
        let v = self
            .request(Method::POST, "/api/sessions", Some(serde_json::json!({})))
            .await?;
        v["id"]
            .as_str()
            .map(str::to_string)
            .context("the daemon did not return a session id")
    }

    /// Run a turn; `on_event` sees each event and may return an approval
    /// answer `(approval_id, approve)` to send.
    pub async fn turn(
        &self,
        session: &str,
        text: &str,
        mut on_event: impl FnMut(&TurnEvent) -> Option<(String, bool)>,
    ) -> anyhow::Result<Option<TurnEvent>> {
        let mut resp = self
            .send(
                Method::POST,
                &format!("/api/sessions/{session}/messages"),
                Some(serde_json::json!({ "text": text })),
            )
            .await?;
        let mut parser = SseParser::new();
        let mut last = None;
        while let Some(chunk) = resp.chunk().await? {
            for ev in parser.feed(&chunk)? {
                let event: TurnEvent = serde_json::from_str(&ev.data)
                    .with_context(|| format!("unexpected event from the daemon: {}", ev.data))?;
                if let Some((id, approve)) = on_event(&event) {
                    self.request(
                        Method::POST,
                        &format!("/api/sessions/{session}/approvals/{id}"),
                        Some(serde_json::json!({ "approve": approve })),
                    )
                    .await?;
                }
                last = Some(event);
            }
        }
        Ok(last)
    }

    /// Cancel the session's running turn.
    pub async fn cancel(&self, session: &str) -> anyhow::Result<()> {
        self.request(
            Method::POST,
            &format!("/api/sessions/{session}/cancel"),
            None,
        )
        .await?;
        Ok(())
    }
}

/// The loopback address in `daemon.json`, if the process that wrote it is
/// alive and runs as this user.
pub(super) fn live_daemon(state: &std::path::Path) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state).ok()?).ok()?;
    let mut addr: std::net::SocketAddr = v["addr"].as_str()?.parse().ok()?;
    let pid = v["pid"].as_u64()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    if !addr.ip().is_loopback() {
        return None;
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let proc_uid = std::fs::metadata(format!("/proc/{pid}")).ok()?.uid();
        let my_uid = std::fs::metadata("/proc/self").ok()?.uid();
        if proc_uid != my_uid {
            return None;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pid;
    Some(addr.to_string())
}
