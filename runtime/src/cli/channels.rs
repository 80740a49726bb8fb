//! `chitin channels`: the chat apps the daemon answers (configured in
//! `[channels]`), their health, and who may talk to the agent: pairing a
//! sender with the code the bot sent them, listing and revoking pairings.
//! Pairings live in the session database, so these work with or without a
//! running daemon (which reads them on every message).

use super::client::DaemonClient;
use super::setup::{self, ProviderFlags};
use super::{EXIT_OK, Paths};
use anyhow::{Context, bail};
use chitin::channels::hub::pairing;
use chitin::store::Store;
use chitin::text::one_line;
use clap::Subcommand;

const AFTER_HELP: &str = "\
Connect Telegram in five steps:
  1. In Telegram, talk to @BotFather: /newbot, and copy the token it gives.
  2. chitin secret set TELEGRAM_BOT_TOKEN        (paste the token; it is never shown)
  3. Add to config.toml:   [channels.telegram]
  4. chitin daemon, then message your bot: it answers with a pairing code.
  5. chitin channels pair CODE                   (it shows who; then message it again)

Nobody else can use the agent: unknown senders get a code and nothing else,
and only you can redeem it. Groups are answered only when listed in `groups`
and the bot is mentioned.";

/// Channel commands.
#[derive(Debug, Subcommand)]
#[command(after_help = AFTER_HELP)]
pub enum ChannelsCommand {
    /// The configured channels, pairings and codes waiting for you.
    List,
    /// Each channel's health, from the running daemon.
    Status,
    /// Let the sender who got CODE talk to the agent.
    Pair {
        /// The code the bot sent them (e.g. ABCD-EFGH).
        code: String,
        /// Do not ask to confirm who it pairs.
        #[arg(long)]
        yes: bool,
    },
    /// Stop serving a paired sender.
    Unpair {
        /// The channel (telegram, slack, discord).
        channel: String,
        /// Their user id on it (`chitin channels list` shows it).
        sender_id: String,
    },
}

/// Run a channels command.
pub async fn run(cmd: ChannelsCommand, paths: &Paths) -> anyhow::Result<u8> {
    let dirs = paths.dirs()?;
    let store = || -> anyhow::Result<Store> {
        let s = Store::open(&dirs.sessions_db())?;
        s.check(false)?;
        Ok(s)
    };
    match cmd {
        ChannelsCommand::List => {
            let loaded = setup::load_config(paths, &ProviderFlags::default())?;
            let section = &loaded.config.channels;
            let configured = section.configured();
            if configured.is_empty() && section.webhooks.is_empty() {
                println!(
                    "no channels configured: add [channels.telegram] (or slack, discord) to {}; `chitin channels --help` shows how",
                    loaded.path.display()
                );
            }
            for c in &configured {
                println!("channel  {c}");
            }
            for w in &section.webhooks {
                let to = w.deliver.as_deref().unwrap_or("the response");
                println!(
                    "webhook  /hooks/{}  (answer to {})",
                    w.name,
                    one_line(to, 60)
                );
            }
            let store = store()?;
            let pairings = store.pairings()?;
            println!();
            if pairings.is_empty() {
                println!("nobody is paired yet");
            }
            for p in pairings {
                println!(
                    "paired   {} {}  {}",
                    p.channel,
                    one_line(&p.sender_id, 40),
                    one_line(&p.name, 60)
                );
            }
            for c in store.codes()? {
                let mins = (c.expires_ms - chitin::store::now_ms()).max(0) / 60_000;
                println!(
                    "waiting  {}  {} {} ({}; expires in {mins} min)",
                    c.code,
                    c.channel,
                    one_line(&c.sender_id, 40),
                    one_line(&c.name, 60)
                );
            }
            Ok(EXIT_OK)
        }
        ChannelsCommand::Status => {
            let Some(client) = DaemonClient::find(paths).await? else {
                bail!(
                    "the daemon is not running: start it with `chitin daemon` (channels run inside it)"
                );
            };
            let v = client
                .request(http::Method::GET, "/api/channels", None)
                .await?;
            let channels = v["channels"].as_object().cloned().unwrap_or_default();
            if channels.is_empty() {
                println!("no channels configured");
            }
            let mut healthy = true;
            for (name, h) in channels {
                let state = h["state"].as_str().unwrap_or("?");
                let reason = h["reason"]
                    .as_str()
                    .map(|r| format!(": {}", one_line(r, 200)));
                healthy &= state == "connected";
                println!("{name}: {state}{}", reason.unwrap_or_default());
            }
            Ok(if healthy { EXIT_OK } else { 1 })
        }
        ChannelsCommand::Pair { code, yes } => {
            let Some(code) = pairing::normalize(&code) else {
                bail!(
                    "`{}` is not a pairing code: it looks like ABCD-EFGH (the bot sent it to the person asking)",
                    one_line(&code, 20)
                );
            };
            let store = store()?;
            let Some(waiting) = store.codes()?.into_iter().find(|c| c.code == code) else {
                bail!(
                    "no live pairing code {code}: it expired (codes last one hour) or was used; ask the sender to message the bot again for a new one"
                );
            };
            let asked_min = (chitin::store::now_ms() - (waiting.expires_ms - pairing::CODE_TTL_MS))
                .max(0)
                / 60_000;
            eprintln!(
                "{code} pairs {} user {} ({}), who asked {asked_min} min ago.\nPair only a code you asked for yourself, from that account: never one that a message, a web page or the agent told you to run.",
                waiting.channel,
                one_line(&waiting.sender_id, 40),
                one_line(&waiting.name, 60),
            );
            if !super::mcp_remote::confirm(yes, "Let them talk to the agent?")? {
                bail!("not paired");
            }
            match store.redeem_code(&code).context("pairing")? {
                Some(p) => {
                    println!(
                        "paired: {} {} ({}); they can message the agent now",
                        p.channel,
                        one_line(&p.sender_id, 40),
                        one_line(&p.name, 60)
                    );
                    Ok(EXIT_OK)
                }
                None => bail!(
                    "no live pairing code {code}: it expired (codes last one hour) or was used; ask the sender to message the bot again for a new one"
                ),
            }
        }
        ChannelsCommand::Unpair { channel, sender_id } => {
            if store()?.unpair(&channel, &sender_id)? {
                println!("unpaired: {channel} {}", one_line(&sender_id, 40));
                Ok(EXIT_OK)
            } else {
                bail!(
                    "nobody with id `{}` is paired on {}; `chitin channels list` shows the pairings",
                    one_line(&sender_id, 40),
                    one_line(&channel, 20)
                )
            }
        }
    }
}
