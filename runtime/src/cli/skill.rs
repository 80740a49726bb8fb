//! `chitin skill run|tools`.

use super::grants::{self, GrantFlags};
use super::{EXIT_DENIED, EXIT_FAILED, EXIT_LIMIT, EXIT_OK, EXIT_USAGE, Paths, report, secret};
use anyhow::{Context, bail};
use chitin::capabilities::id::CapabilityId;
use chitin::capabilities::secrets::SecretStore;
use chitin::package::state::{Installed, Record};
use chitin::skill::loader::SkillSource;
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
        /// An installed skill's name, a component (.wasm) or a skill directory.
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
    /// Create a skill project with one example tool.
    New {
        /// Skill name (lowercase letters, digits, `-`).
        name: String,
        /// Language: rust, python, js (JavaScript), c or go.
        #[arg(long, default_value = "rust")]
        lang: String,
        /// Directory to create [default: ./NAME].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build a skill project into a component with its language's toolchain.
    Build {
        /// The project directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Pack a skill directory into one signed package file.
    Pack(super::package::PackArgs),
    /// Check a package's signature; report publisher, key fingerprint and digest.
    Verify {
        /// The package file.
        package: PathBuf,
    },
    /// Install a signed package (file or https:// URL), reviewing what it asks for.
    Install(super::package::InstallArgs),
    /// List installed skills.
    List,
    /// Show an installed skill: version, publisher, digest, tools and grants.
    Info {
        /// Installed skill name.
        name: String,
    },
    /// Grant an installed skill one capability it requests (ID as `skill info` shows).
    Grant {
        /// Installed skill name.
        name: String,
        /// Capability ID, e.g. `net:https://api.github.com` or `fs:/workspace`.
        #[arg(value_parser = CapabilityId::parse)]
        id: CapabilityId,
        /// Host directory for an fs grant: GUEST=PATH.
        #[arg(long, value_name = "GUEST=PATH")]
        dir: Vec<String>,
    },
    /// Revoke one capability from an installed skill.
    Revoke {
        /// Installed skill name.
        name: String,
        /// Capability ID.
        #[arg(value_parser = CapabilityId::parse)]
        id: CapabilityId,
    },
    /// Uninstall a skill.
    #[command(alias = "rm")]
    Remove {
        /// Installed skill name.
        name: String,
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

/// A host with the configured cache.
pub fn host(paths: &Paths) -> anyhow::Result<SkillHost> {
    Ok(SkillHost::new(HostConfig {
        cache_dir: paths.cache()?,
        cache_key_file: Some(paths.dirs()?.cache_key()),
        protected: paths.protected()?,
        ..HostConfig::default()
    })?)
}

fn load(host: &SkillHost, path: &Path) -> anyhow::Result<LoadedSkill> {
    let what = format!(
        "compiling {} for this machine (once per version)",
        grants::shown(path)
    );
    let skill = super::progress::during(&what, || host.load(path))?;
    tracing::info!(skill = %skill.name, cache = ?skill.cache, ms = skill.load_time.as_secs_f64() * 1e3, "loaded {}", grants::shown(&skill.component_path));
    Ok(skill)
}

/// An installed skill called `arg`, when `arg` is a bare name and not a path.
fn installed_by_name(paths: &Paths, arg: &Path) -> anyhow::Result<Option<(Installed, Record)>> {
    let Some(name) = arg
        .to_str()
        .filter(|n| !n.contains(['/', '.']) && !arg.exists())
    else {
        return Ok(None);
    };
    let inst = Installed::new(&paths.dirs()?.skills());
    Ok(inst.get(name)?.map(|r| (inst, r)))
}

/// If `arg` names an Agent Skill (installed, a folder or a package file),
/// what to say instead of loading it as a component (it has none to run).
fn agent_skill_note(paths: &Paths, arg: &Path) -> anyhow::Result<Option<String>> {
    use super::package::agentskill::{describe_path, not_runnable};
    if let Some((_, record)) = installed_by_name(paths, arg)? {
        if !record.manifest.is_agent_skill() {
            return Ok(None);
        }
        let scripts = record
            .tools
            .first()
            .and_then(|t| {
                t.input_schema["properties"]["script"]["enum"]
                    .as_array()
                    .map(Vec::len)
            })
            .unwrap_or(0);
        return Ok(Some(not_runnable(&record.name, scripts)));
    }
    Ok(describe_path(arg))
}

/// The tools an Agent Skill's package declares (`run_script`, or none).
fn agent_skill_tools(
    paths: &Paths,
    arg: &Path,
) -> anyhow::Result<Vec<chitin::skill::tools::ToolInfo>> {
    if let Some((_, record)) = installed_by_name(paths, arg)? {
        return Ok(record.tools);
    }
    if super::package::agentskill::is_folder(arg) {
        return Ok(chitin_agent::agentskill::AgentSkill::load_dir(arg)?.tools());
    }
    let bytes = std::fs::read(arg).with_context(|| format!("reading {}", arg.display()))?;
    Ok(chitin::package::format::parse(bytes, chitin::package::format::DEFAULT_MAX_BYTES)?.tools)
}

/// Exit code for a call error.
fn exit_code(e: &CallError) -> u8 {
    match e {
        CallError::Denied(_) => EXIT_DENIED,
        CallError::Limit(_) => EXIT_LIMIT,
        CallError::InvalidInput(_) | CallError::UnknownTool(_) => EXIT_USAGE,
        CallError::Failed(_) | CallError::Trap(_) | CallError::Host(_) | CallError::Busy(_) => {
            EXIT_FAILED
        }
    }
}

/// Run a skill command.
pub async fn run(cmd: SkillCommand, paths: &Paths, verbose: u8) -> anyhow::Result<u8> {
    match cmd {
        SkillCommand::New { name, lang, dir } => {
            let lang = chitin::build::Lang::parse(&lang).with_context(|| {
                let all: Vec<&str> = chitin::build::Lang::ALL
                    .iter()
                    .map(|l| l.as_str())
                    .collect();
                format!("--lang {lang}: expected one of {}", all.join(", "))
            })?;
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            chitin::build::scaffold::create(&dir, &name, lang)?;
            eprintln!(
                "created {} ({}); build it with `chitin skill build {}`",
                dir.display(),
                lang.as_str(),
                dir.display()
            );
            Ok(EXIT_OK)
        }
        SkillCommand::Build { dir } => {
            // Each step is shown while it runs (a Rust build takes a minute).
            let current = std::cell::RefCell::new(None);
            let built = chitin::build::build(&dir, &|step| {
                current.replace(None);
                eprintln!("  {}", chitin::text::clean(step));
                current.replace(Some(super::progress::start(step)));
            });
            current.replace(None);
            let built = built?;
            eprintln!(
                "built {} ({}, {} KiB in {:.1} s)",
                built.component.display(),
                built.lang.as_str(),
                built.bytes / 1024,
                built.elapsed.as_secs_f64()
            );
            Ok(EXIT_OK)
        }
        SkillCommand::Pack(args) => super::package::pack(args, paths).await,
        SkillCommand::Verify { package } => super::package::verify(&package, paths),
        SkillCommand::Install(args) => super::package::install(args, paths).await,
        SkillCommand::List => super::installed::list(paths),
        SkillCommand::Info { name } => super::installed::info(paths, &name),
        SkillCommand::Grant { name, id, dir } => super::installed::grant(paths, &name, &id, &dir),
        SkillCommand::Revoke { name, id } => super::installed::revoke(paths, &name, &id),
        SkillCommand::Remove { name } => super::installed::remove(paths, &name),
        SkillCommand::Tools { skill, json } => {
            if let Some(note) = agent_skill_note(paths, &skill)? {
                eprintln!("{note}");
                let tools = agent_skill_tools(paths, &skill)?;
                if json {
                    println!(
                        "{}",
                        chitin::text::clean_json(&serde_json::to_string_pretty(&tools)?)
                    );
                } else {
                    for t in &tools {
                        println!("{}", chitin::text::clean(&t.name));
                        println!("  {}", chitin::text::one_line(&t.description, 2000));
                    }
                }
                return Ok(EXIT_OK);
            }
            let host = host(paths)?;
            let skill = load(&host, &skill)?;
            let tools = host.tools(&skill).await?;
            if json {
                println!(
                    "{}",
                    chitin::text::clean_json(&serde_json::to_string_pretty(&tools)?)
                );
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
            if let Some(note) = agent_skill_note(paths, &skill)? {
                eprintln!("{note}");
                return Ok(EXIT_USAGE);
            }
            let parsed: serde_json::Value = serde_json::from_str(&input)
                .with_context(|| format!("--input is not valid JSON: `{input}`"))?;
            let host = host(paths)?;
            let installed = installed_by_name(paths, &skill)?.is_some();
            let (skill, grants) = match installed_by_name(paths, &skill)? {
                Some((inst, record)) => {
                    if flags.any() {
                        bail!(
                            "{} is installed: it runs with exactly its recorded grants; change them with `chitin skill grant|revoke`",
                            record.name
                        );
                    }
                    let source = SkillSource {
                        manifest: Some(record.manifest.clone()),
                        component: inst.package_path(&record),
                    };
                    let skill = host.load_source(source)?;
                    if skill.digest != record.provenance.digest {
                        bail!(
                            "the package file of {} changed on disk since it was installed (sha256 {} instead of {}); refusing to run it, reinstall the skill",
                            record.name,
                            &skill.digest[..16],
                            &record.provenance.digest[..16]
                        );
                    }
                    (skill, record.grants)
                }
                None => {
                    let skill = load(&host, &skill)?;
                    let grants = grants::build(&flags, skill.manifest.as_ref())?;
                    (skill, grants)
                }
            };
            host.check_grants(&grants)?;
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
                println!(
                    "{}",
                    chitin::text::clean_json(&serde_json::to_string_pretty(&outcome)?)
                );
            } else {
                report::print_outcome(&skill, &tool, &outcome, verbose, installed);
            }
            Ok(match &outcome.result {
                Ok(_) => EXIT_OK,
                Err(e) => exit_code(e),
            })
        }
    }
}
