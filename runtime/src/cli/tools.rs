//! `chitin tools`: the tools the agent offers the model, and the user's
//! approval policy for each (`allow`, `ask`, `deny`).

use super::setup::{self, ProviderFlags};
use super::{EXIT_OK, Paths};
use anyhow::bail;
use chitin::policy::Policy;
use clap::Subcommand;

/// Tool commands.
#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// List the tools with their declared effects and policies.
    List,
    /// Set a tool's policy: allow, ask, deny, or default (from its effects).
    Policy {
        /// Namespaced tool name, e.g. files__write.
        tool: String,
        /// allow | ask | deny | default.
        policy: String,
    },
}

/// Run a tools command.
pub fn run(cmd: ToolsCommand, paths: &Paths) -> anyhow::Result<u8> {
    let loaded = setup::load_config(paths, &ProviderFlags::default())?;
    let (agent, problems) = setup::build_agent(paths, &loaded)?;
    for p in problems {
        eprintln!("warning: {}", chitin::text::clean(&p));
    }
    match cmd {
        ToolsCommand::List => {
            let tools = agent.tools();
            if tools.is_empty() {
                eprintln!("no tools: install a skill with `chitin skill install <package>`");
            }
            for t in tools {
                let effects = if t.effects.is_empty() {
                    "-".to_string()
                } else {
                    t.effects.join(",")
                };
                println!(
                    "{:<32} {:<6} {:<28} {}",
                    chitin::text::clean(&t.name),
                    t.policy.as_str(),
                    chitin::text::clean(&effects),
                    chitin::text::one_line(&t.description, 120)
                );
            }
        }
        ToolsCommand::Policy { tool, policy } => {
            // Skills' tools, the host's own, and accepted remote tools.
            if !agent.tools().iter().any(|t| t.name == tool) {
                bail!("no tool `{tool}` (see `chitin tools list`)");
            }
            let p = match policy.as_str() {
                "default" => None,
                other => Some(Policy::parse(other).ok_or_else(|| {
                    anyhow::anyhow!("policy `{other}`: expected allow, ask, deny or default")
                })?),
            };
            agent.set_policy(&tool, p)?;
            eprintln!("{tool}: {}", agent.policy(&tool).as_str());
        }
    }
    Ok(EXIT_OK)
}
