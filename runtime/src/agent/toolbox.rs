//! The tools the model sees: every installed skill's tools, namespaced
//! `skill__tool`, each run in the sandbox with exactly the grants recorded at
//! install time. Nothing here can change a grant.

use super::events::CapabilityUse;
use super::messages::ToolSpec;
use crate::audit::AuditEvent;
use crate::capabilities::Grants;
use crate::capabilities::secrets::SecretStore;
use crate::host::SkillHost;
use crate::package::state::Installed;
use crate::skill::call::{CallError, NoSecrets};
use crate::skill::loader::{LoadedSkill, SkillSource};
use crate::skill::tools::ToolInfo;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Separator between skill and tool in a namespaced name.
pub const SEPARATOR: &str = "__";

struct SkillEntry {
    loaded: LoadedSkill,
    grants: Grants,
}

/// One tool the model may call.
#[derive(Debug, Clone)]
pub struct ToolEntry {
    /// Namespaced name.
    pub name: String,
    /// The skill.
    pub skill: String,
    /// The tool as the package describes it.
    pub info: ToolInfo,
    /// The skill was granted network access or a secret (so its tools'
    /// declared effects cannot be taken at their word).
    pub reaches_out: bool,
    /// SHA-256 of the skill's package (policies are bound to it).
    pub package: String,
}

/// The result of one tool call, for the model and the record.
#[derive(Debug, Clone)]
pub struct ToolResult {
    /// Success.
    pub ok: bool,
    /// Output, or the error in words the model can act on.
    pub output: String,
    /// Capability uses and denials.
    pub audit: Vec<AuditEvent>,
    /// Wall time.
    pub elapsed: Duration,
}

impl ToolResult {
    /// An error that never reached a skill.
    pub fn error(message: String) -> Self {
        ToolResult {
            ok: false,
            output: message,
            audit: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// The audit events in the event stream's shape.
    pub fn capabilities(&self) -> Vec<CapabilityUse> {
        self.audit
            .iter()
            .map(|e| CapabilityUse {
                capability: e.capability.to_string(),
                decision: match e.decision {
                    crate::audit::Decision::Allow => "allow".into(),
                    crate::audit::Decision::Deny => "deny".into(),
                },
                target: e.target.clone(),
                reason: (e.decision == crate::audit::Decision::Deny).then(|| e.reason.clone()),
            })
            .collect()
    }
}

/// Installed skills, loaded and ready to call.
pub struct Toolbox {
    host: Arc<SkillHost>,
    skills: BTreeMap<String, SkillEntry>,
    tools: BTreeMap<String, ToolEntry>,
    secrets_file: PathBuf,
}

impl Toolbox {
    /// No tools.
    pub fn empty(host: Arc<SkillHost>, secrets_file: PathBuf) -> Self {
        Toolbox {
            host,
            skills: BTreeMap::new(),
            tools: BTreeMap::new(),
            secrets_file,
        }
    }

    /// Load every installed skill. A skill that cannot be loaded, whose
    /// package changed on disk, or that was granted a directory overlapping
    /// one of `protected` (Chitin's own config and data: the token, secrets,
    /// install records, sessions) is left out; the strings say which and why.
    pub fn load(
        host: Arc<SkillHost>,
        installed: &Installed,
        secrets_file: PathBuf,
        protected: &[PathBuf],
    ) -> (Self, Vec<String>) {
        let mut tb = Toolbox::empty(host, secrets_file);
        let mut problems = Vec::new();
        let records = match installed.list() {
            Ok(r) => r,
            Err(e) => return (tb, vec![e.to_string()]),
        };
        for record in records {
            if let Some(dir) = overlap(&record.grants, protected) {
                problems.push(format!(
                    "skill {} not loaded: it is granted {}, which overlaps Chitin's own files ({}); revoke that grant with `chitin skill revoke`",
                    record.name,
                    dir.display(),
                    protected.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                ));
                continue;
            }
            let source = SkillSource {
                manifest: Some(record.manifest.clone()),
                component: installed.package_path(&record),
            };
            let loaded = match tb.host.load_source(source) {
                Ok(l) => l,
                Err(e) => {
                    problems.push(format!("skill {} not loaded: {e}", record.name));
                    continue;
                }
            };
            if loaded.digest != record.provenance.digest {
                problems.push(format!(
                    "skill {} not loaded: its package changed on disk since it was installed; reinstall it",
                    record.name
                ));
                continue;
            }
            problems.extend(tb.add(loaded, record.grants.clone(), &record.tools));
        }
        (tb, problems)
    }

    /// Add a loaded skill with its grants and tools (as its package
    /// describes them). Returns the tools left out, and why.
    pub fn add(&mut self, loaded: LoadedSkill, grants: Grants, tools: &[ToolInfo]) -> Vec<String> {
        let mut problems = Vec::new();
        let skill = loaded.name.clone();
        let reaches_out = !grants.net.is_empty() || !grants.secrets.is_empty();
        let package = loaded.digest.clone();
        for info in tools {
            let name = format!("{skill}{SEPARATOR}{}", info.name);
            if name.len() > 64 {
                problems.push(format!(
                    "tool {name} left out: namespaced tool names are limited to 64 characters"
                ));
                continue;
            }
            self.tools.insert(
                name.clone(),
                ToolEntry {
                    name,
                    skill: skill.clone(),
                    info: info.clone(),
                    reaches_out,
                    package: package.clone(),
                },
            );
        }
        self.skills.insert(skill, SkillEntry { loaded, grants });
        problems
    }

    /// How many skills are loaded.
    pub fn skill_count(&self) -> usize {
        self.skills.len()
    }

    /// Every tool.
    pub fn entries(&self) -> impl Iterator<Item = &ToolEntry> {
        self.tools.values()
    }

    /// A tool by namespaced name.
    pub fn get(&self, name: &str) -> Option<&ToolEntry> {
        self.tools.get(name)
    }

    /// The tools as offered to the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .values()
            .map(|t| ToolSpec {
                name: t.name.clone(),
                description: t.info.description.clone(),
                input_schema: t.info.input_schema.clone(),
            })
            .collect()
    }

    /// Run a tool. Unknown tools and arguments that are not a JSON object
    /// come back as errors for the model, without running anything.
    pub async fn call(&self, name: &str, arguments: &str) -> ToolResult {
        let Some(entry) = self.tools.get(name) else {
            let known: Vec<&str> = self.tools.keys().map(String::as_str).collect();
            return ToolResult::error(format!(
                "unknown tool `{name}`; the available tools are: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        };
        let args = if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        };
        match serde_json::from_str::<serde_json::Value>(args) {
            Ok(v) if v.is_object() => {}
            Ok(_) => {
                return ToolResult::error(format!(
                    "invalid arguments for `{name}`: expected a JSON object matching the tool's input schema"
                ));
            }
            Err(e) => {
                return ToolResult::error(format!(
                    "invalid arguments for `{name}`: not valid JSON ({e}); send a JSON object matching the tool's input schema"
                ));
            }
        }
        let Some(skill) = self.skills.get(&entry.skill) else {
            return ToolResult::error(format!("tool `{name}` is not loaded"));
        };
        let outcome = if skill.grants.secrets.is_empty() {
            self.host
                .call(
                    &skill.loaded,
                    &skill.grants,
                    &NoSecrets,
                    &entry.info.name,
                    args,
                )
                .await
        } else {
            match SecretStore::open(&self.secrets_file) {
                Ok(store) => {
                    self.host
                        .call(&skill.loaded, &skill.grants, &store, &entry.info.name, args)
                        .await
                }
                Err(e) => return ToolResult::error(format!("cannot open the secret store: {e}")),
            }
        };
        let (ok, output) = match outcome.result {
            Ok(out) => (true, out),
            Err(e) => (false, describe_error(&e)),
        };
        ToolResult {
            ok,
            output,
            audit: outcome.audit,
            elapsed: outcome.elapsed,
        }
    }
}

/// A granted directory that contains or lies inside a protected one.
fn overlap<'a>(grants: &'a Grants, protected: &[PathBuf]) -> Option<&'a std::path::Path> {
    let canon = |p: &std::path::Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let protected: Vec<PathBuf> = protected.iter().map(|p| canon(p)).collect();
    grants.fs.iter().map(|g| g.host.as_path()).find(|h| {
        let h = canon(h);
        protected
            .iter()
            .any(|p| p.starts_with(&h) || h.starts_with(p))
    })
}

fn describe_error(e: &CallError) -> String {
    match e {
        CallError::Denied(m) => format!(
            "denied by the sandbox: {m}. The user has not granted this; do not try to work around it."
        ),
        other => other.to_string(),
    }
}
