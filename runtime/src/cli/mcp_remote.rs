//! `chitin mcp add|list|accept|rm`: the remote MCP servers whose tools
//! Chitin's agent may use. Adding one lists its tools and pins them once
//! you accept them; their secret stays in the secret store (config.toml
//! names it). Only Streamable HTTP servers: a local stdio MCP server is a
//! native program with the user's full privileges, which is exactly what
//! Chitin exists not to run.

use super::{EXIT_OK, EXIT_USAGE, Paths};
use anyhow::Context;
use chitin::agent::config::{Config, McpSection, McpServerSection};
use chitin::mcp::remote::pins::Verdict;
use chitin::mcp::remote::source::{Listed, RemoteSource};
use chitin::text::clean;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal, Write};

/// Remote MCP server commands.
#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Add a remote MCP server (Streamable HTTP): list its tools, accept them, save it.
    Add {
        /// Its name: its tools appear to the agent as NAME__tool.
        name: String,
        /// Its endpoint, e.g. https://mcp.example.com/mcp (stdio commands are refused).
        url: String,
        /// The secret-store name of its token (`chitin secret set NAME` first).
        #[arg(long)]
        secret: Option<String>,
        /// The header the token goes in [default: Authorization, as "Bearer <token>"].
        #[arg(long)]
        header: Option<String>,
        /// Accept the listed tools without asking.
        #[arg(long)]
        yes: bool,
    },
    /// The configured remote servers and their tools' state.
    List,
    /// Review a server's new or changed tools and accept them.
    Accept {
        /// The server.
        name: String,
        /// Accept without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Remove a server (from config.toml, with its accepted tools).
    Rm {
        /// The server.
        name: String,
    },
}

/// Run a remote-server command.
pub async fn run(cmd: RemoteCommand, paths: &Paths) -> anyhow::Result<u8> {
    let path = paths.dirs()?.config_file();
    let config = Config::load_or_create(&path)?;
    match cmd {
        RemoteCommand::Add {
            name,
            url,
            secret,
            header,
            yes,
        } => {
            let section = McpServerSection {
                name: name.clone(),
                url,
                secret,
                header,
                prefix: None,
                timeout_secs: None,
            };
            if let Some(p) = section.problem() {
                eprintln!("error: {p}");
                return Ok(EXIT_USAGE);
            }
            if config.mcp.servers.iter().any(|s| s.name == name) {
                eprintln!(
                    "error: an MCP server named {name} is already configured; `chitin mcp rm {name}` first, or `chitin mcp accept {name}` to review its tools"
                );
                return Ok(EXIT_USAGE);
            }
            let only = McpSection {
                servers: vec![section.clone()],
                nameservers: config.mcp.nameservers.clone(),
            };
            let source = source(paths, &only)?;
            eprintln!("listing the tools of {} ...", clean(&section.url));
            let listed = source
                .list(&name)
                .await
                .with_context(|| format!("MCP server {name} was not added"))?;
            show(&listed);
            if !confirm(
                yes,
                &format!("accept these {} tools of {name}?", listed.len()),
            )? {
                eprintln!("not added");
                return Ok(EXIT_USAGE);
            }
            source.accept(&name, &listed)?;
            edit(&path, |doc| add_server(doc, &section))?;
            eprintln!(
                "added MCP server {name}: {} tools, offered as {name}__TOOL (they ask before each call: `chitin tools policy` changes that)",
                listed.len()
            );
        }
        RemoteCommand::List => {
            if config.mcp.servers.is_empty() {
                eprintln!("no remote MCP servers (add one with `chitin mcp add NAME URL`)");
            }
            let source = source(paths, &config.mcp)?;
            for s in &config.mcp.servers {
                let state = match source.list(&s.name).await {
                    Ok(listed) => {
                        let held = listed
                            .iter()
                            .filter(|l| l.verdict != Verdict::Accepted)
                            .count();
                        if held == 0 {
                            format!("{} tools accepted", listed.len())
                        } else {
                            format!(
                                "{} tools accepted, {held} held back (`chitin mcp accept {}`)",
                                listed.len() - held,
                                s.name
                            )
                        }
                    }
                    Err(e) => format!("unreachable: {e}"),
                };
                let secret = s
                    .secret
                    .as_deref()
                    .map(|n| format!(" secret {n}"))
                    .unwrap_or_default();
                println!(
                    "{}\t{}{}\t{}",
                    s.name,
                    clean(&s.url),
                    clean(&secret),
                    clean(&state)
                );
            }
        }
        RemoteCommand::Accept { name, yes } => {
            let source = source(paths, &config.mcp)?;
            let listed = source.list(&name).await?;
            let changed: Vec<&Listed> = listed
                .iter()
                .filter(|l| l.verdict != Verdict::Accepted)
                .collect();
            if changed.is_empty() {
                eprintln!(
                    "every tool of {name} is accepted as it is ({})",
                    listed.len()
                );
                return Ok(EXIT_OK);
            }
            for l in &changed {
                let why = if l.verdict == Verdict::New {
                    "new"
                } else {
                    "changed"
                };
                eprintln!(
                    "  {why:<8} {}: {}",
                    clean(&l.tool),
                    clean(&l.shape.description)
                );
                eprintln!(
                    "           input schema: {}",
                    clean(&l.shape.input_schema.to_string())
                );
            }
            if !confirm(
                yes,
                &format!("accept {} new or changed tools of {name}?", changed.len()),
            )? {
                eprintln!("nothing accepted; those tools stay held back");
                return Ok(EXIT_USAGE);
            }
            source.accept(&name, &listed)?;
            eprintln!("accepted {} tools of {name}", listed.len());
        }
        RemoteCommand::Rm { name } => {
            if !config.mcp.servers.iter().any(|s| s.name == name) {
                eprintln!("error: no MCP server named {} is configured", clean(&name));
                return Ok(EXIT_USAGE);
            }
            edit(&path, |doc| remove_server(doc, &name))?;
            let (source, _) =
                RemoteSource::new(&config.mcp, &paths.dirs()?.mcp_pins(), paths.secrets()?);
            source.forget(&name)?;
            eprintln!("removed MCP server {name}");
        }
    }
    Ok(EXIT_OK)
}

fn source(paths: &Paths, section: &McpSection) -> anyhow::Result<RemoteSource> {
    let (source, problems) =
        RemoteSource::new(section, &paths.dirs()?.mcp_pins(), paths.secrets()?);
    for p in problems {
        eprintln!("warning: {}", clean(&p));
    }
    Ok(source)
}

/// The server's tools, as it describes them (its words: cleaned, capped).
fn show(listed: &[Listed]) {
    for l in listed {
        // All of what the model will read: the description and the schema.
        eprintln!("  {}: {}", clean(&l.tool), clean(&l.shape.description));
        eprintln!(
            "    input schema: {}",
            clean(&l.shape.input_schema.to_string())
        );
    }
    if listed.is_empty() {
        eprintln!("  (the server lists no tools)");
    }
}

/// Ask `question` on the terminal (yes with `--yes`; refused without a terminal).
pub(super) fn confirm(yes: bool, question: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("{question} There is no terminal to ask on; pass --yes to accept");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Edit config.toml in place (comments kept), checked before it is written
/// (whole, then renamed), so a failed edit leaves the file as it was.
fn edit(
    path: &std::path::Path,
    change: impl FnOnce(&mut toml_edit::DocumentMut),
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    change(&mut doc);
    let out = doc.to_string();
    Config::parse(&out, path)
        .context("the edited configuration does not check; nothing was changed")?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, &out).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

fn add_server(doc: &mut toml_edit::DocumentMut, s: &McpServerSection) {
    let mcp = doc.entry("mcp").or_insert_with(|| {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        toml_edit::Item::Table(t)
    });
    let Some(mcp) = mcp.as_table_like_mut() else {
        return;
    };
    let servers = mcp
        .entry("servers")
        .or_insert(toml_edit::Item::ArrayOfTables(
            toml_edit::ArrayOfTables::new(),
        ));
    let Some(servers) = servers.as_array_of_tables_mut() else {
        return;
    };
    let mut t = toml_edit::Table::new();
    t["name"] = toml_edit::value(&s.name);
    t["url"] = toml_edit::value(&s.url);
    if let Some(secret) = &s.secret {
        t["secret"] = toml_edit::value(secret);
    }
    if let Some(h) = &s.header {
        t["header"] = toml_edit::value(h);
    }
    servers.push(t);
}

fn remove_server(doc: &mut toml_edit::DocumentMut, name: &str) {
    if let Some(servers) = doc
        .get_mut("mcp")
        .and_then(|m| m.as_table_like_mut())
        .and_then(|m| m.get_mut("servers"))
        .and_then(|s| s.as_array_of_tables_mut())
    {
        servers.retain(|t| t.get("name").and_then(|n| n.as_str()) != Some(name));
    }
}
