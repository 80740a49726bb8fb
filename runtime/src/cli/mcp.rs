//! `chitin mcp`: the installed skills' tools as an MCP server over stdio
//! (what desktop clients launch), and the remote MCP servers Chitin's own
//! agent uses (`add`, `list`, `accept`, `rm`; see [`super::mcp_remote`]).

use super::setup::{self, ProviderFlags};
use super::{EXIT_OK, Paths};
use clap::{Args, Subcommand};

const AFTER_HELP: &str = "\
Serve Chitin's sandboxed skills to another agent (stdio; the client starts it):

  Claude Desktop (claude_desktop_config.json) and Cursor (~/.cursor/mcp.json):
    { \"mcpServers\": { \"chitin\": { \"command\": \"chitin\", \"args\": [\"mcp\"] } } }
  Claude Code:
    claude mcp add chitin -- chitin mcp
  Codex CLI (~/.codex/config.toml):
    [mcp_servers.chitin]
    command = \"chitin\"
    args = [\"mcp\"]

Over HTTP, the running daemon serves the same tools at http://127.0.0.1:7878/mcp
(send `Authorization: Bearer $(chitin daemon token)`).

Tools keep the grants you gave at install; policies (`chitin tools policy`)
apply: `ask` tools are approved through the client's elicitation prompt, or
refused when the client cannot ask. Every call is recorded: `chitin sessions
list`, `chitin audit`.

Give Chitin's own agent a remote MCP server's tools:
    chitin secret set EXAMPLE_MCP_TOKEN
    chitin mcp add example https://mcp.example.com/mcp --secret EXAMPLE_MCP_TOKEN
";

/// `chitin mcp ...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = AFTER_HELP)]
pub struct McpArgs {
    #[command(subcommand)]
    command: Option<McpCommand>,
}

#[derive(Debug, Subcommand)]
enum McpCommand {
    /// Serve the installed skills' tools over stdio (the default).
    Serve,
    #[command(flatten)]
    Remote(super::mcp_remote::RemoteCommand),
}

/// Run `chitin mcp ...`.
pub async fn run(args: McpArgs, paths: &Paths) -> anyhow::Result<u8> {
    match args.command {
        None | Some(McpCommand::Serve) => serve_stdio(paths).await,
        Some(McpCommand::Remote(cmd)) => super::mcp_remote::run(cmd, paths).await,
    }
}

/// Serve over stdin/stdout until the client closes stdin. Only MCP goes
/// to stdout; warnings go to stderr (clients show it as the server's log).
async fn serve_stdio(paths: &Paths) -> anyhow::Result<u8> {
    let loaded = setup::load_config(paths, &ProviderFlags::default())?;
    let (agent, problems) = setup::build_agent(paths, &loaded)?;
    for p in &problems {
        eprintln!("warning: {}", chitin::text::clean(p));
    }
    eprintln!(
        "chitin mcp: {} tools from {} skills over stdio; calls are recorded in {}",
        agent.toolbox().entries().len(),
        agent.toolbox().skill_count(),
        agent.store().path().display()
    );
    chitin::mcp::server::stdio::serve(agent).await?;
    Ok(EXIT_OK)
}
