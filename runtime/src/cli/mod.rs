//! Command-line interface: argument definitions and dispatch.

mod channels;
mod chat;
mod client;
mod cron;
mod daemon;
mod doctor;
mod first_run;
mod grants;
mod installed;
mod interpreter;
mod keys;
mod mcp;
mod mcp_remote;
mod memory;
mod package;
mod progress;
mod render;
mod report;
mod secret;
mod sessions;
mod setup;
mod skill;
mod tools;
mod usage;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Success.
pub const EXIT_OK: u8 = 0;
/// The tool ran and failed (or crashed).
pub const EXIT_FAILED: u8 = 1;
/// Bad usage, bad input, or a skill that cannot be loaded.
pub const EXIT_USAGE: u8 = 2;
/// The sandbox refused something the tool needed.
pub const EXIT_DENIED: u8 = 3;
/// A resource limit stopped the call.
pub const EXIT_LIMIT: u8 = 4;

/// Chitin: a hardened shell for AI agent skills.
///
/// Skills are WebAssembly components that get nothing by default: every
/// directory, host and secret is granted by you, per skill, and enforced by
/// the host on every call.
#[derive(Debug, Parser)]
#[command(name = "chitin", version, propagate_version = true)]
pub struct Cli {
    /// More output on stderr (-v: audit events, -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(flatten)]
    pub paths: Paths,

    #[command(subcommand)]
    pub command: Command,
}

/// Where Chitin keeps its state.
#[derive(Debug, Args)]
pub struct Paths {
    /// Keep all of Chitin's files (config, installed skills, cache) under DIR.
    #[arg(long, env = "CHITIN_HOME", global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Compiled-component cache directory [default: <user cache dir>/chitin/components].
    #[arg(long, env = "CHITIN_CACHE_DIR", global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Do not read or write the compiled-component cache.
    #[arg(long, global = true)]
    pub no_cache: bool,

    /// Secret store file [default: <user config dir>/chitin/secrets.json].
    #[arg(long, env = "CHITIN_SECRETS", global = true, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// First run: your key, the first-party skills, the provider (asks; starts nothing).
    Setup(first_run::SetupArgs),
    /// Serve the agent: HTTP API and web chat on 127.0.0.1 (token required).
    Daemon(daemon::DaemonArgs),
    /// Ask one question; prints the answer (exit 1 if the turn fails).
    Ask {
        /// The message.
        message: String,
        #[command(flatten)]
        args: chat::TurnArgs,
    },
    /// Chat on the terminal (through the daemon, or --local).
    Chat(chat::TurnArgs),
    /// Check configuration, provider, skills and daemon; say what to fix.
    Doctor(setup::ProviderFlags),
    /// Past sessions: list, show, export (JSONL).
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
    /// Recent capability uses and denials by skills.
    Audit {
        /// Only this session.
        #[arg(long)]
        session: Option<String>,
        /// Only denials.
        #[arg(long)]
        denied: bool,
        /// How many events.
        #[arg(long, short = 'n', default_value_t = 50)]
        limit: u32,
    },
    /// MCP: serve the skills' tools to other agents (stdio), and remote MCP servers for Chitin's agent.
    Mcp(mcp::McpArgs),
    /// Chat apps (Telegram, Slack, Discord) and webhooks: health, pairing, who may talk to the agent.
    #[command(subcommand)]
    Channels(channels::ChannelsCommand),
    /// Scheduled jobs: add, list, show, pause, resume, rm, run-now, confirm.
    #[command(subcommand)]
    Cron(cron::CronCommand),
    /// Tokens used per day, session or job and model (cached input apart), and their cost.
    Usage(usage::UsageArgs),
    /// The agent's memory (Markdown files you can read and edit): show, search, edit.
    #[command(subcommand)]
    Memory(memory::MemoryCommand),
    /// The agent's tools and their approval policies.
    #[command(subcommand)]
    Tools(tools::ToolsCommand),
    /// Run and inspect skills.
    #[command(subcommand)]
    Skill(skill::SkillCommand),
    /// The sandboxed interpreters (Python, JavaScript) for the code tools and Agent Skills' scripts.
    #[command(subcommand)]
    Interpreter(interpreter::InterpreterCommand),
    /// Manage secrets in the host's secret store (values are never printed).
    #[command(subcommand)]
    Secret(secret::SecretCommand),
    /// Publisher keys for signing skill packages.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// The publishers you trust to sign skills.
    #[command(subcommand)]
    Trust(keys::TrustCommand),
}

impl Paths {
    /// Chitin's directories (from --home / CHITIN_HOME, or the platform's).
    pub fn dirs(&self) -> anyhow::Result<chitin::dirs::ChitinDirs> {
        Ok(chitin::dirs::ChitinDirs::resolve(self.home.as_deref())?)
    }

    /// The compiled-component cache, unless disabled.
    pub fn cache(&self) -> anyhow::Result<Option<PathBuf>> {
        if self.no_cache {
            return Ok(None);
        }
        match &self.cache_dir {
            Some(d) => Ok(Some(d.clone())),
            None => Ok(Some(self.dirs()?.component_cache())),
        }
    }

    /// Everything of Chitin's own that no skill may be granted: config
    /// (keys, trust store, secrets, token, cache key), data (install records,
    /// sessions), the cache, and the secret store and cache wherever they are.
    pub fn protected(&self) -> anyhow::Result<Vec<PathBuf>> {
        let dirs = self.dirs()?;
        let mut out = vec![dirs.config, dirs.data, dirs.cache, self.secrets()?];
        out.extend(self.cache_dir.clone());
        Ok(out)
    }

    /// The secret store file.
    pub fn secrets(&self) -> anyhow::Result<PathBuf> {
        match &self.secrets_file {
            Some(p) => Ok(p.clone()),
            None => Ok(self.dirs()?.secrets_file()),
        }
    }
}

/// Run a parsed command; returns the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Setup(args) => first_run::run(args, &cli.paths).await,
        Command::Daemon(args) => daemon::run(args, &cli.paths).await,
        Command::Ask { message, args } => chat::ask(&cli.paths, args, message, cli.verbose).await,
        Command::Chat(args) => chat::chat(&cli.paths, args, cli.verbose).await,
        Command::Doctor(flags) => doctor::run(&cli.paths, flags).await,
        Command::Sessions(cmd) => sessions::run(cmd, &cli.paths),
        Command::Audit {
            session,
            denied,
            limit,
        } => sessions::audit(&cli.paths, session, denied, limit),
        Command::Usage(args) => usage::run(&cli.paths, args),
        Command::Memory(cmd) => memory::run(cmd, &cli.paths),
        Command::Mcp(args) => mcp::run(args, &cli.paths).await,
        Command::Channels(cmd) => channels::run(cmd, &cli.paths).await,
        Command::Cron(cmd) => cron::run(cmd, &cli.paths),
        Command::Tools(cmd) => tools::run(cmd, &cli.paths),
        Command::Skill(cmd) => skill::run(cmd, &cli.paths, cli.verbose).await,
        Command::Interpreter(cmd) => interpreter::run(cmd, &cli.paths).await,
        Command::Secret(cmd) => secret::run(cmd, &cli.paths),
        Command::Key(cmd) => keys::run_key(cmd, &cli.paths),
        Command::Trust(cmd) => keys::run_trust(cmd, &cli.paths),
    }
}
