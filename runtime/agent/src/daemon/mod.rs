//! `chitin daemon`: the agent behind an authenticated HTTP API on loopback
//! ([`auth`]), the API and web chat ([`api`]), MCP at `/mcp`
//! ([`crate::mcp::server::http`]), the chat channels
//! ([`crate::channels`]), signed webhooks ([`hooks`]), the
//! OpenAI-compatible endpoint ([`openai`]), connection limits
//! ([`listener`]) and the running turns ([`turns`]). Shutdown cancels turns and waits for them to record their
//! end, so the database is never left mid-turn.

pub mod api;
pub mod auth;
pub mod body;
pub mod hooks;
pub mod listener;
pub mod memory;
pub mod openai;
pub mod peer;
pub mod turns;

use crate::agent::Agent;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// Daemon errors.
#[derive(Debug, Error)]
pub enum DaemonError {
    /// The address is not loopback and remote access was not allowed.
    #[error(
        "refusing to listen on {0}: it is reachable from other machines; pass --allow-remote if you really mean it (the token is still required)"
    )]
    NotLoopback(SocketAddr),
    /// Bind or serve failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The runtime file cannot be written.
    #[error("cannot write {path}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// How to serve.
pub struct DaemonOptions {
    /// Address to bind.
    pub listen: SocketAddr,
    /// Allow a non-loopback address.
    pub allow_remote: bool,
    /// The bearer token.
    pub token: String,
    /// Where to write `{"addr":..,"pid":..}` for clients (removed at exit).
    pub state_file: PathBuf,
    /// How long shutdown waits for running turns.
    pub grace: Duration,
    /// `[channels]`: chat apps and webhooks.
    pub channels: crate::agent::config::ChannelsSection,
    /// The secret store (bot tokens, webhook keys).
    pub secrets: PathBuf,
    /// `[heartbeat]`, and the default checklist file.
    pub heartbeat: (crate::agent::config::HeartbeatSection, PathBuf),
}

/// A bound daemon, ready to serve.
pub struct Daemon {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    opts: DaemonOptions,
    agent: Agent,
}

impl Daemon {
    /// Bind the address (refusing non-loopback unless allowed).
    pub async fn bind(agent: Agent, opts: DaemonOptions) -> Result<Self, DaemonError> {
        if !opts.listen.ip().is_loopback() && !opts.allow_remote {
            return Err(DaemonError::NotLoopback(opts.listen));
        }
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| DaemonError::Bind {
                addr: opts.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| DaemonError::Bind {
            addr: opts.listen,
            source,
        })?;
        let state = serde_json::json!({ "addr": addr.to_string(), "pid": std::process::id() });
        std::fs::write(&opts.state_file, state.to_string()).map_err(|source| {
            DaemonError::State {
                path: opts.state_file.clone(),
                source,
            }
        })?;
        Ok(Daemon {
            listener,
            addr,
            opts,
            agent,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve until `stop` is cancelled, then shut down gracefully.
    pub async fn serve(self, stop: CancellationToken) -> Result<(), DaemonError> {
        let shutdown = CancellationToken::new();
        let turns = Arc::new(turns::Turns::new(self.agent.clone(), shutdown.clone()));
        let guard = Arc::new(auth::Guard::new(self.opts.token.clone(), self.addr));
        // MCP at `/mcp`, behind the same guard as the rest of the API.
        let mcp = crate::mcp::server::http::service(self.agent.clone(), shutdown.clone());
        let (adapters, failed) = crate::channels::build(&self.opts.channels, &self.opts.secrets);
        for (name, reason) in &failed {
            tracing::warn!("channel {name} cannot start: {reason}");
        }
        let hub =
            crate::channels::Hub::new(turns.clone(), adapters, failed, self.opts.channels.clone());
        let channels_stop = CancellationToken::new();
        hub.start(channels_stop.clone());
        // Scheduled jobs and the heartbeat, on the system clock.
        let mut runner = crate::schedule::Runner::new(
            turns.clone(),
            Some(hub.clone()),
            Arc::new(crate::schedule::SystemClock),
        );
        if let Some(h) =
            crate::schedule::Heartbeat::new(&self.opts.heartbeat.0, self.opts.heartbeat.1.clone())
        {
            runner = runner.with_heartbeat(h);
        }
        let schedule_stop = CancellationToken::new();
        let scheduling = tokio::spawn(Arc::new(runner).serve(schedule_stop.clone()));
        let app = api::routes(turns.clone())
            .merge(api::channels::routes(hub.clone()))
            .merge(openai::routes(turns.clone()))
            .route_service("/mcp", mcp)
            .layer(axum::middleware::from_fn_with_state(guard, auth::check))
            .merge(hooks::routes(
                hub.clone(),
                &self.opts.channels.webhooks,
                &self.opts.secrets,
            ));
        let grace = self.opts.grace;
        let connections_stop = CancellationToken::new();
        let serving = tokio::spawn(listener::serve(
            self.listener,
            app,
            connections_stop.clone(),
            grace,
        ));
        stop.cancelled().await;
        // Stop receiving first: nothing new is accepted while turns end.
        channels_stop.cancel();
        schedule_stop.cancel();
        hub.stop_taking();
        // Cancel turns first: their streams end, so connections can close.
        if !turns.shut_down(grace).await {
            tracing::warn!("some turns did not finish within {grace:?}");
        }
        hub.shut_down(grace).await;
        if let Err(e) = scheduling.await {
            tracing::warn!("the scheduler ended abnormally: {e}");
        }
        connections_stop.cancel();
        if let Err(e) = serving.await {
            tracing::warn!("the connection loop ended abnormally: {e}");
        }
        let _ = std::fs::remove_file(&self.opts.state_file);
        Ok(())
    }
}
