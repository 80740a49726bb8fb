//! `chitin daemon` (serve the API and web chat) and `chitin daemon token`.

use super::setup::{self, ProviderFlags};
use super::{EXIT_OK, Paths};
use chitin::daemon::{Daemon, DaemonOptions, auth};
use clap::{Args, Subcommand};
use std::io::{IsTerminal, Write};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// `chitin daemon`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DaemonArgs {
    #[command(subcommand)]
    command: Option<DaemonCommand>,
    /// Address to listen on [default: [daemon] listen in config.toml, else 127.0.0.1:7878].
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<String>,
    /// Allow listening on a non-loopback address (the token is still required).
    #[arg(long)]
    allow_remote: bool,
    #[command(flatten)]
    provider: ProviderFlags,
}

#[derive(Debug, Subcommand)]
enum DaemonCommand {
    /// Print the bearer token clients must send (creates it if needed).
    Token,
    /// Print the web chat's link, token included (open it in a browser; keep it private).
    Link,
}

/// Run `chitin daemon ...`.
pub async fn run(args: DaemonArgs, paths: &Paths) -> anyhow::Result<u8> {
    let dirs = paths.dirs()?;
    let token = auth::load_or_create_token(&dirs.daemon_token())?;
    if let Some(DaemonCommand::Token) = args.command {
        println!("{token}");
        return Ok(EXIT_OK);
    }
    let started = std::time::Instant::now();
    let mut loaded = setup::load_config(paths, &args.provider)?;
    if let Some(l) = &args.listen {
        loaded.config.daemon.listen = Some(l.clone());
    }
    let listen = loaded.config.listen()?;
    if let Some(DaemonCommand::Link) = args.command {
        println!("http://{listen}/#token={token}");
        return Ok(EXIT_OK);
    }
    let (agent, problems) = setup::build_agent(paths, &loaded)?;
    for p in &problems {
        eprintln!("warning: {}", chitin::text::clean(p));
    }
    match agent.provider() {
        Ok(p) => eprintln!("provider: {}", p.describe()),
        Err(e) => eprintln!(
            "warning: {e}\n         the daemon runs, but turns fail until a provider is configured (`chitin doctor` explains)"
        ),
    }
    let daemon = Daemon::bind(
        agent.clone(),
        DaemonOptions {
            listen,
            allow_remote: args.allow_remote,
            token: token.clone(),
            state_file: dirs.daemon_state(),
            grace: Duration::from_secs(10),
            channels: loaded.config.channels.clone(),
            secrets: paths.secrets()?,
            heartbeat: (loaded.config.heartbeat.clone(), dirs.heartbeat_file()),
        },
    )
    .await?;
    let addr = daemon.addr();
    if !addr.ip().is_loopback() {
        eprintln!(
            "\n!!! WARNING: listening on {addr}, which other machines can reach.\n!!! Anyone with the token can run your skills. Prefer 127.0.0.1 and an SSH tunnel.\n"
        );
    }
    eprintln!(
        "skills: {} ({} tools); sessions: {}",
        agent.toolbox().skill_count(),
        agent.toolbox().entries().len(),
        agent.store().path().display()
    );
    // The link carries the token: only to a terminal, never into log files.
    if std::io::stderr().is_terminal() {
        eprintln!("web chat: http://{addr}/#token={token}");
    } else {
        eprintln!("web chat: http://{addr}/ (`chitin daemon link` prints the link with its token)");
    }
    // Handlers first, then "ready": a SIGTERM right after the announcement
    // must stop the daemon cleanly, not kill it.
    let signals = Signals::install();
    eprintln!(
        "ready in {} ms; Ctrl-C stops",
        started.elapsed().as_millis()
    );
    println!("chitin daemon listening on http://{addr}/");
    let _ = std::io::stdout().flush();
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        signals.wait().await;
        eprintln!("shutting down: cancelling running turns");
        signal.cancel();
    });
    daemon.serve(stop).await?;
    eprintln!("stopped");
    Ok(EXIT_OK)
}

/// SIGTERM and SIGINT, registered when installed (not when first awaited).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let (Some(mut term), Some(mut int)) = (self.term, self.int) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
