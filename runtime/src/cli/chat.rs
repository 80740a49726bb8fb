//! `chitin ask` and `chitin chat`: turns through the running daemon, or
//! in-process with `--local` (or when no daemon runs).

use super::client::DaemonClient;
use super::setup::{self, ProviderFlags};
use super::{EXIT_FAILED, EXIT_OK, Paths, render};
use chitin::agent::Agent;
use chitin::agent::approvals::{ApprovalRequest, ApproveAll, Approver};
use chitin::agent::events::{Stop, TurnEvent};
use chitin::agent::turn::TurnIo;
use chitin::provider::BoxFuture;
use clap::Args;
use std::io::BufRead;
use tokio_util::sync::CancellationToken;

/// Options shared by `ask` and `chat`.
#[derive(Debug, Args)]
pub struct TurnArgs {
    /// Run the agent in this process instead of through the daemon.
    #[arg(long)]
    pub local: bool,
    /// Continue this session (see `chitin sessions list`).
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Approve every tool that asks, without asking (you decide this up front).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Exit 0 when the answer was cut at the output limit (`ask` exits 1 by
    /// default: a script must not take a cut answer for a whole one).
    #[arg(long)]
    pub accept_cut: bool,
    /// Show the model's reasoning (dimmed, on stderr) as it streams.
    #[arg(long)]
    pub show_reasoning: bool,
    #[command(flatten)]
    pub provider: ProviderFlags,
}

enum Backend {
    Daemon(DaemonClient),
    Local(Agent),
}

async fn backend(paths: &Paths, args: &TurnArgs) -> anyhow::Result<Backend> {
    let loaded = setup::load_config(paths, &args.provider)?;
    let overridden = args.provider.provider.is_some()
        || args.provider.base_url.is_some()
        || args.provider.model.is_some();
    if !args.local && !overridden {
        if let Some(c) = DaemonClient::find(paths).await? {
            return Ok(Backend::Daemon(c));
        }
        eprintln!(
            "(no daemon is running; running the agent in this process — start one with `chitin daemon`)"
        );
    }
    let (agent, problems) = setup::build_agent(paths, &loaded)?;
    for p in problems {
        eprintln!("warning: {}", chitin::text::clean(&p));
    }
    Ok(Backend::Local(agent))
}

struct TerminalApprover;

impl Approver for TerminalApprover {
    fn ask(&self, r: ApprovalRequest) -> BoxFuture<'_, Option<bool>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                render::prompt_approval(&r.tool, &r.input, &r.effects, r.timeout.as_secs())
            })
            .await
            .ok()
            .flatten()
        })
    }
}

/// One turn; returns how it stopped.
async fn one_turn(
    b: &Backend,
    session: &str,
    text: &str,
    yes: bool,
    view: render::View,
) -> anyhow::Result<Stop> {
    match b {
        Backend::Local(agent) => {
            let cancel = CancellationToken::new();
            let show = |e: TurnEvent| render::show(&e, &view);
            let approver: &dyn Approver = if yes { &ApproveAll } else { &TerminalApprover };
            let io = TurnIo {
                events: &show,
                approver,
                cancel: cancel.clone(),
            };
            let run = agent.run_turn(session, text, &io);
            tokio::pin!(run);
            let summary = tokio::select! {
                s = &mut run => s,
                _ = tokio::signal::ctrl_c() => { cancel.cancel(); run.await }
            };
            Ok(summary.stop)
        }
        Backend::Daemon(client) => {
            let run = client.turn(session, text, |e| {
                render::show(e, &view);
                match e {
                    TurnEvent::ApprovalRequested {
                        approval_id,
                        tool,
                        input,
                        effects,
                        timeout_secs,
                        ..
                    } => {
                        let approve = yes
                            || render::prompt_approval(tool, input, effects, *timeout_secs)
                                .unwrap_or(false);
                        Some((approval_id.clone(), approve))
                    }
                    _ => None,
                }
            });
            tokio::pin!(run);
            let last = tokio::select! {
                r = &mut run => r?,
                _ = tokio::signal::ctrl_c() => { client.cancel(session).await?; run.await? }
            };
            Ok(match last {
                Some(TurnEvent::Done { stop, .. }) => stop,
                _ => Stop::Error,
            })
        }
    }
}

async fn session_for(b: &Backend, given: &Option<String>) -> anyhow::Result<String> {
    if let Some(s) = given {
        return Ok(s.clone());
    }
    match b {
        Backend::Local(agent) => Ok(agent.store().create_session("")?.id),
        Backend::Daemon(c) => c.create_session().await,
    }
}

fn view(args: &TurnArgs, verbose: u8) -> render::View {
    render::View {
        verbose,
        reasoning: args.show_reasoning,
    }
}

/// `chitin ask "<message>"`: one turn, the answer on stdout.
pub async fn ask(
    paths: &Paths,
    args: TurnArgs,
    message: String,
    verbose: u8,
) -> anyhow::Result<u8> {
    let b = backend(paths, &args).await?;
    let session = session_for(&b, &args.session).await?;
    let stop = one_turn(&b, &session, &message, args.yes, view(&args, verbose)).await?;
    if verbose > 0 {
        eprintln!("(session {session})");
    }
    Ok(match stop {
        Stop::Answer => EXIT_OK,
        Stop::Cut if args.accept_cut => EXIT_OK,
        _ => EXIT_FAILED,
    })
}

/// `chitin chat`: a conversation on the terminal.
pub async fn chat(paths: &Paths, args: TurnArgs, verbose: u8) -> anyhow::Result<u8> {
    let b = backend(paths, &args).await?;
    let mut session = session_for(&b, &args.session).await?;
    match &b {
        Backend::Daemon(c) => eprintln!("chat via the daemon at {} — session {session}", c.addr),
        Backend::Local(_) => eprintln!("chat (in-process) — session {session}"),
    }
    eprintln!("/new starts a new session, /quit (or Ctrl-D) leaves; Ctrl-C cancels a running turn");
    loop {
        eprint!("\n> ");
        let line = tokio::task::spawn_blocking(|| {
            let mut l = String::new();
            std::io::stdin().lock().read_line(&mut l).map(|n| (n, l))
        })
        .await??;
        let (n, line) = line;
        let text = line.trim();
        if n == 0 || text == "/quit" || text == "/exit" {
            return Ok(EXIT_OK);
        }
        if text.is_empty() {
            continue;
        }
        if text == "/new" {
            session = session_for(&b, &None).await?;
            eprintln!("session {session}");
            continue;
        }
        one_turn(&b, &session, text, args.yes, view(&args, verbose)).await?;
    }
}
