//! Installed Agent Skills at run time: the signed package read back (its
//! SKILL.md, references and scripts), its files on disk for the read-only
//! `/skill` mount, and its `run_script` tool, which runs a Python or
//! JavaScript script in the matching interpreter component under exactly
//! the grants the user gave that skill. Nothing here runs a host program.

use crate::agentskill::{AgentSkill, Runner, extract};
use crate::interpreter::{Interpreters, Lang, RunFor, RunInput};
use crate::package::format;
use crate::package::state::{Installed, Record};
use chitin_sandbox::capabilities::Grants;
use chitin_sandbox::capabilities::secrets::SecretSource;
use chitin_sandbox::skill::manifest::Manifest;
use chitin_sandbox::{CallError, CallOutcome};
use serde::Deserialize;
use std::path::PathBuf;

/// The tool an Agent Skill with scripts offers.
pub const RUN_SCRIPT: &str = "run_script";

/// Arguments longer than this are refused (the interpreter caps output,
/// the host caps what it passes in).
const MAX_ARGS_BYTES: usize = 256 * 1024;

/// An installed Agent Skill, as its signed package describes it.
#[derive(Debug)]
pub struct InstalledAgentSkill {
    /// The skill (SKILL.md, files, scripts).
    pub skill: AgentSkill,
    /// Its manifest (requests).
    pub manifest: Manifest,
    /// Its files, extracted read-only (mounted at `/skill`).
    pub files: PathBuf,
}

impl InstalledAgentSkill {
    /// Read `record`'s package back (checking it is the one installed)
    /// and make sure its files are on disk.
    pub fn load(installed: &Installed, record: &Record) -> Result<Self, String> {
        let name = &record.name;
        let path = installed.package_path(record);
        let bytes = std::fs::read(&path).map_err(|e| {
            format!(
                "skill {name} not loaded: cannot read {}: {e}",
                path.display()
            )
        })?;
        let pkg = format::parse(bytes, format::DEFAULT_MAX_BYTES)
            .map_err(|e| format!("skill {name} not loaded: {e}"))?;
        if pkg.digest != record.provenance.digest {
            return Err(format!(
                "skill {name} not loaded: its package changed on disk since it was installed; reinstall it"
            ));
        }
        let skill = AgentSkill::from_package(&pkg)
            .map_err(|e| format!("skill {name} not loaded: {e}"))?
            .ok_or_else(|| format!("skill {name} not loaded: its package holds no Agent Skill"))?;
        let files = extract::files_dir(installed, record);
        extract::extract(&skill.files, &files).map_err(|e| {
            format!(
                "skill {name} not loaded: cannot write its files to {}: {e}",
                files.display()
            )
        })?;
        Ok(InstalledAgentSkill {
            skill,
            manifest: record.manifest.clone(),
            files,
        })
    }

    /// Run `run_script` with `args` (JSON) for `caller`, under `grants`.
    pub async fn run_script(
        &self,
        interpreters: Option<&Interpreters>,
        caller: &str,
        grants: &Grants,
        secrets: &dyn SecretSource,
        args: &str,
    ) -> CallOutcome {
        let refuse = |why: String| CallOutcome::not_run(CallError::Host(why));
        let input = match self.input(args) {
            Ok(i) => i,
            Err(why) => return refuse(why),
        };
        // `input` checked the script is one the sandbox runs.
        let lang = match self.skill.scripts.iter().find(|s| s.path == input.script) {
            Some(s) if s.runner == Runner::JavaScript => Lang::JavaScript,
            _ => Lang::Python,
        };
        let Some(interpreters) = interpreters else {
            return refuse(
                "no interpreter is available to this agent; install them with `chitin interpreter install`"
                    .into(),
            );
        };
        let code = match self.skill.files.get(&input.script) {
            Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            None => return refuse(format!("`{}` is not in the skill", input.script)),
        };
        let run = RunInput {
            code,
            filename: Some(format!("/skill/{}", input.script)),
            args: input.args,
            stdin: input.stdin,
            cwd: "/scratch".into(),
        };
        let who = RunFor::Skill {
            name: &self.skill.name,
            manifest: &self.manifest,
            files: &self.files,
            grants,
        };
        match interpreters.run(caller, lang, who, secrets, &run).await {
            Ok(outcome) => outcome,
            Err(e) => refuse(e.to_string()),
        }
    }

    /// The checked arguments of a `run_script` call.
    fn input(&self, args: &str) -> Result<ScriptArgs, String> {
        if args.len() > MAX_ARGS_BYTES {
            return Err(format!(
                "the arguments are {} bytes, over the {MAX_ARGS_BYTES}-byte limit",
                args.len()
            ));
        }
        let input: ScriptArgs = serde_json::from_str(args).map_err(|e| {
            format!("invalid arguments for {RUN_SCRIPT}: {e}; send {{\"script\": \"scripts/…\", \"args\": [\"…\"]}}")
        })?;
        let script = self.skill.scripts.iter().find(|s| s.path == input.script);
        match script.map(|s| &s.runner) {
            Some(Runner::Python | Runner::JavaScript) => Ok(input),
            Some(Runner::Host(why)) => Err(format!(
                "`{}` is not offered: {why}; Chitin does not run host programs",
                input.script
            )),
            None => {
                let offered: Vec<&str> = self.skill.runnable().map(|s| s.path.as_str()).collect();
                Err(format!(
                    "skill {} has no script `{}`; its scripts are: {}",
                    self.skill.name,
                    input.script,
                    if offered.is_empty() {
                        "none".to_string()
                    } else {
                        offered.join(", ")
                    }
                ))
            }
        }
    }
}

/// What an Agent Skill's scripts may do under `grants`, in the skills'
/// effect words: a script's reach is exactly its grants (its own files are
/// read-only), so the tool's default policy follows them: `allow` only
/// when it can read and nothing more, `ask` once it may write, reach the
/// network or use a secret.
pub fn effects(grants: &Grants) -> Vec<String> {
    let mut out = vec!["reads-files".to_string()];
    if grants
        .fs
        .iter()
        .any(|g| g.access == chitin_sandbox::capabilities::fs::Access::ReadWrite)
    {
        out.push("writes-files".into());
    }
    if !grants.net.is_empty() {
        out.push("network".into());
    }
    out.extend(
        grants
            .secrets
            .iter()
            .map(|s| format!("uses-secret:{}", s.name)),
    );
    out
}

/// `run_script`'s input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptArgs {
    script: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    stdin: Option<String>,
}
