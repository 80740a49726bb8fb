//! `chitin skill run|tools`.

use super::grants::{self, GrantFlags};
use super::{EXIT_DENIED, EXIT_FAILED, EXIT_LIMIT, EXIT_OK, EXIT_USAGE, Paths, report, secret};
use anyhow::Context;
use chitin::capabilities::secrets::SecretStore;
use chitin::{CallError, HostConfig, LoadedSkill, SkillHost};
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// Skill commands.
#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Run one tool of a skill in the sandbox.
    ///
    /// Nothing is granted unless you pass it (--allow-*) or accept the
    /// skill's requests (--grant-requested). The output goes to stdout;
    /// denials and hints to stderr. Exit codes: 0 ok, 1 tool failed,
    /// 2 usage, 3 denied by the sandbox, 4 limit hit.
    Run {
        /// A component (.wasm) or a skill directory with skill.toml.
        skill: PathBuf,
        /// Tool name (see `chitin skill tools`).
        tool: String,
        /// Tool input as JSON.
        #[arg(short, long, default_value = "{}", value_name = "JSON")]
        input: String,
        #[command(flatten)]
        grants: GrantFlags,
        /// Print the whole outcome (result, audit events, logs) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List a skill's tools with their input schemas and declared effects.
    Tools {
        /// A component (.wasm) or a skill directory with skill.toml.
        skill: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn host(paths: &Paths) -> anyhow::Result<SkillHost> {
    let cache_dir = if paths.no_cache {
        None
    } else {
        paths
            .cache_dir
            .clone()
            .or_else(|| HostConfig::with_default_cache().cache_dir)
    };
    Ok(SkillHost::new(HostConfig {
        cache_dir,
        ..HostConfig::default()
    })?)
}

fn load(host: &SkillHost, path: &Path) -> anyhow::Result<LoadedSkill> {
    let skill = host.load(path)?;
    tracing::info!(skill = %skill.name, cache = ?skill.cache, ms = skill.load_time.as_secs_f64() * 1e3, "loaded {}", grants::shown(&skill.component_path));
    Ok(skill)
}

/// Exit code for a call error.
fn exit_code(e: &CallError) -> u8 {
    match e {
        CallError::Denied(_) => EXIT_DENIED,
        CallError::Limit(_) => EXIT_LIMIT,
        CallError::InvalidInput(_) | CallError::UnknownTool(_) => EXIT_USAGE,
        CallError::Failed(_) | CallError::Trap(_) | CallError::Host(_) => EXIT_FAILED,
    }
}

/// Run a skill command.
pub async fn run(cmd: SkillCommand, paths: &Paths, verbose: u8) -> anyhow::Result<u8> {
    match cmd {
        SkillCommand::Tools { skill, json } => {
            let host = host(paths)?;
            let skill = load(&host, &skill)?;
            let tools = host.tools(&skill).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tools)?);
            } else {
                report::print_tools(&skill, &tools);
            }
            Ok(EXIT_OK)
        }
        SkillCommand::Run {
            skill,
            tool,
            input,
            grants: flags,
            json,
        } => {
            let parsed: serde_json::Value = serde_json::from_str(&input)
                .with_context(|| format!("--input is not valid JSON: `{input}`"))?;
            let host = host(paths)?;
            let skill = load(&host, &skill)?;
            let grants = grants::build(&flags, skill.manifest.as_ref())?;
            if flags.grant_requested || verbose > 0 {
                for line in grants::describe(&grants) {
                    eprintln!("granted: {line}");
                }
            }
            let store = if grants.secrets.is_empty() {
                None
            } else {
                Some(SecretStore::open(&secret::store_path(paths)?)?)
            };
            let outcome = match &store {
                Some(s) => {
                    host.call(&skill, &grants, s, &tool, &parsed.to_string())
                        .await
                }
                None => {
                    host.call(
                        &skill,
                        &grants,
                        &chitin::NoSecrets,
                        &tool,
                        &parsed.to_string(),
                    )
                    .await
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&outcome)?);
            } else {
                report::print_outcome(&skill, &tool, &outcome, verbose);
            }
            Ok(match &outcome.result {
                Ok(_) => EXIT_OK,
                Err(e) => exit_code(e),
            })
        }
    }
}
