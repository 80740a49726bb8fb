//! The tools the model sees: every installed skill's tools, namespaced
//! `skill__tool`, each run in the sandbox with exactly the grants recorded at
//! install time. Nothing here can change a grant.
//!
//! The toolbox follows the install records on disk, so a running daemon
//! serves what is installed *now*: every call first checks its skill's
//! record (one `stat`), and the tool list is refreshed before each model
//! call. An install, upgrade, grant, revoke or remove (which each replace or
//! delete `record.json`) takes effect on the next call; a call already
//! running may finish.

use super::agent_skills::InstalledAgentSkill;
use crate::interpreter::Interpreters;
use crate::messages::ToolSpec;
use crate::package::state::{Installed, Record, RecordStamp, file_stamp};
use chitin_sandbox::capabilities::Grants;
use chitin_sandbox::capabilities::secrets::SecretStore;
use chitin_sandbox::host::SkillHost;
use chitin_sandbox::skill::loader::{LoadedSkill, SkillSource};
use chitin_sandbox::skill::tools::ToolInfo;
use chitin_sandbox::{CallOutcome, CallPlan, NoSecrets};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Separator between skill and tool in a namespaced name.
pub const SEPARATOR: &str = "__";

/// What runs a skill's calls.
enum Runs {
    /// Its own component.
    Component(Arc<LoadedSkill>),
    /// An Agent Skill: its scripts, in the interpreter components.
    Scripts(Arc<InstalledAgentSkill>),
}

struct SkillEntry {
    runs: Runs,
    /// SHA-256 of its package.
    digest: String,
    grants: Grants,
    /// The install record this entry was built from (`None`: added by hand).
    stamp: Option<RecordStamp>,
    version: String,
    /// The plan of its calls, with the secret store's stamp it was read at
    /// (made at the first call, remade when the store changes).
    plan: Mutex<Option<(Option<RecordStamp>, Arc<CallPlan>)>>,
}

impl SkillEntry {
    fn new(
        loaded: Arc<LoadedSkill>,
        grants: Grants,
        stamp: Option<RecordStamp>,
        version: String,
    ) -> Self {
        Self::running(
            Runs::Component(loaded.clone()),
            loaded.digest.clone(),
            grants,
            stamp,
            version,
        )
    }

    fn running(
        runs: Runs,
        digest: String,
        grants: Grants,
        stamp: Option<RecordStamp>,
        version: String,
    ) -> Self {
        SkillEntry {
            runs,
            digest,
            grants,
            stamp,
            version,
            plan: Mutex::new(None),
        }
    }
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

/// What the toolbox serves for one skill (for `chitin doctor`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Served {
    /// Skill name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Package digest.
    pub digest: String,
    /// The granted capability IDs (`fs:/workspace`, `net:…`, `secret:…`).
    pub grants: Vec<chitin_sandbox::capabilities::id::CapabilityId>,
}

/// Why the toolbox could not run a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolboxError {
    /// The tool's skill was removed or changed since the tool was listed.
    #[error("{0}")]
    Gone(String),
    /// The secret store could not be read (the user must fix it).
    #[error("cannot open the secret store: {0}")]
    Secrets(String),
}

/// One consistent view of the loaded skills and their tools.
#[derive(Default)]
struct Catalog {
    skills: BTreeMap<String, Arc<SkillEntry>>,
    tools: BTreeMap<String, Arc<ToolEntry>>,
    /// Skills left out, with the record they were tried from, why, and
    /// when (retried when the record changes, or after [`RETRY_FAILED`]).
    failed: BTreeMap<String, (RecordStamp, String, Instant)>,
    /// Tools left out (names too long).
    left_out: Vec<String>,
}

impl Catalog {
    fn problems(&self) -> Vec<String> {
        self.failed
            .values()
            .map(|(_, p, _)| p.clone())
            .chain(self.left_out.iter().cloned())
            .collect()
    }
}

impl Catalog {
    /// Add a skill and its tools; returns the tools left out, and why.
    fn insert(&mut self, name: &str, entry: SkillEntry, tools: &[ToolInfo]) -> Vec<String> {
        self.insert_shared(name, Arc::new(entry), tools)
    }

    /// Add a skill (kept from the previous catalog) and its tools.
    fn insert_shared(
        &mut self,
        name: &str,
        entry: Arc<SkillEntry>,
        tools: &[ToolInfo],
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let reaches_out = !entry.grants.net.is_empty() || !entry.grants.secrets.is_empty();
        for info in tools {
            let full = format!("{name}{SEPARATOR}{}", info.name);
            if full.len() > 64 {
                problems.push(format!(
                    "tool {full} left out: namespaced tool names are limited to 64 characters"
                ));
                continue;
            }
            self.tools.insert(
                full.clone(),
                Arc::new(ToolEntry {
                    name: full,
                    skill: name.to_string(),
                    info: info.clone(),
                    reaches_out,
                    package: entry.digest.clone(),
                }),
            );
        }
        self.skills.insert(name.to_string(), entry);
        problems
    }
}

/// Installed skills, loaded and ready to call. Cheap to clone (shared).
#[derive(Clone)]
pub struct Toolbox {
    inner: Arc<Inner>,
}

struct Inner {
    host: Arc<SkillHost>,
    secrets_file: PathBuf,
    /// Where the install records are; `None` for a toolbox built by hand.
    installed: Option<Installed>,
    /// What runs Agent Skills' scripts (none: they are not offered).
    interpreters: Option<Arc<Interpreters>>,
    catalog: RwLock<Arc<Catalog>>,
    /// Serializes refreshes (so a changed skill is loaded once).
    refreshing: Mutex<()>,
}

/// A skill that failed to load is tried again after this long even if its
/// record did not change (the failure may have been passing).
const RETRY_FAILED: Duration = Duration::from_secs(60);

impl Toolbox {
    /// No tools, and no install records to follow.
    pub fn empty(host: Arc<SkillHost>, secrets_file: PathBuf) -> Self {
        Toolbox {
            inner: Arc::new(Inner {
                host,
                secrets_file,
                installed: None,
                interpreters: None,
                catalog: RwLock::default(),
                refreshing: Mutex::new(()),
            }),
        }
    }

    /// Every installed skill, followed from now on. A skill that cannot be
    /// loaded, whose package changed on disk, or that was granted a
    /// directory overlapping Chitin's own files is left out; the strings say
    /// which and why.
    pub fn load(
        host: Arc<SkillHost>,
        installed: &Installed,
        secrets_file: PathBuf,
    ) -> (Self, Vec<String>) {
        installed.clean_incoming();
        let tb = Toolbox {
            inner: Arc::new(Inner {
                host,
                secrets_file,
                installed: Some(installed.clone()),
                interpreters: None,
                catalog: RwLock::default(),
                refreshing: Mutex::new(()),
            }),
        };
        let problems = tb.inner.rebuild();
        (tb, problems)
    }

    /// Run Agent Skills' scripts with `interpreters` (set while building the
    /// agent, before the toolbox is shared; without them, their
    /// `run_script` calls are refused with how to install them).
    pub fn with_interpreters(mut self, interpreters: Arc<Interpreters>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.interpreters = Some(interpreters),
            None => tracing::error!("interpreters set on a shared toolbox: ignored"),
        }
        self
    }

    /// The interpreters, if set.
    pub fn interpreters(&self) -> Option<&Arc<Interpreters>> {
        self.inner.interpreters.as_ref()
    }

    /// The installed Agent Skills (for `activate_skill`), by name.
    pub fn agent_skills(&self) -> Vec<Arc<InstalledAgentSkill>> {
        self.inner
            .current()
            .skills
            .values()
            .filter_map(|e| match &e.runs {
                Runs::Scripts(s) => Some(s.clone()),
                Runs::Component(_) => None,
            })
            .collect()
    }

    /// Add a loaded skill with its grants and tools (as its package
    /// describes them). Returns the tools left out, and why.
    pub fn add(&mut self, loaded: LoadedSkill, grants: Grants, tools: &[ToolInfo]) -> Vec<String> {
        let mut catalog = self
            .inner
            .catalog
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut next = Catalog {
            skills: catalog.skills.clone(),
            tools: catalog.tools.clone(),
            failed: catalog.failed.clone(),
            left_out: catalog.left_out.clone(),
        };
        let name = loaded.name.clone();
        let problems = next.insert(
            &name,
            SkillEntry::new(Arc::new(loaded), grants, None, String::new()),
            tools,
        );
        *catalog = Arc::new(next);
        problems
    }

    /// Bring the toolbox in line with the install records: new skills are
    /// loaded, changed ones reloaded (their grants re-read), removed ones
    /// dropped. Cheap when nothing changed (one `stat` per skill); loading
    /// runs on a blocking thread, never on the async workers. Returns the
    /// problems of the skills left out.
    pub async fn refresh(&self) -> Vec<String> {
        if self.inner.unchanged() {
            return self.inner.current().problems();
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.rebuild())
            .await
            .unwrap_or_else(|e| vec![format!("reading the installed skills failed: {e}")])
    }
}

/// A record's name and stamp (`None`: not installed), or why it is unreadable.
type Stamps = Vec<(String, Result<Option<RecordStamp>, String>)>;

impl Inner {
    fn current(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The records' stamps now.
    fn stamps(installed: &Installed) -> Result<Stamps, String> {
        let names = installed.names().map_err(|e| e.to_string())?;
        Ok(names
            .into_iter()
            .map(|n| {
                let s = installed.stamp(&n).map_err(|e| e.to_string());
                (n, s)
            })
            .collect())
    }

    /// Whether the records are exactly those the catalog was built from
    /// (and no failed skill is due for another try).
    fn unchanged(&self) -> bool {
        let Some(installed) = &self.installed else {
            return true;
        };
        let Ok(stamps) = Self::stamps(installed) else {
            return false;
        };
        let old = self.current();
        let known = |name: &str, stamp: &RecordStamp| {
            old.skills
                .get(name)
                .is_some_and(|e| e.stamp.as_ref() == Some(stamp))
                || old
                    .failed
                    .get(name)
                    .is_some_and(|(s, _, at)| s == stamp && at.elapsed() < RETRY_FAILED)
        };
        let present = stamps
            .iter()
            .filter(|(_, s)| matches!(s, Ok(Some(_))))
            .count();
        present == old.skills.len() + old.failed.len()
            && stamps.iter().all(|(n, s)| match s {
                Ok(Some(stamp)) => known(n, stamp),
                Ok(None) => true,
                Err(_) => false,
            })
    }

    /// Rebuild the catalog from the records (blocking: may compile).
    fn rebuild(&self) -> Vec<String> {
        let Some(installed) = &self.installed else {
            return self.current().problems();
        };
        let _one_at_a_time = self
            .refreshing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.unchanged() {
            return self.current().problems();
        }
        let old = self.current();
        let stamps = match Self::stamps(installed) {
            Ok(s) => s,
            Err(e) => return vec![e],
        };
        let mut next = Catalog::default();
        for (name, stamp) in stamps {
            let stamp = match stamp {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    next.left_out.push(format!("skill {name} not loaded: {e}"));
                    continue;
                }
            };
            if let Some(e) = old.skills.get(&name).filter(|e| e.stamp == Some(stamp)) {
                let tools: Vec<ToolInfo> = old
                    .tools
                    .values()
                    .filter(|t| t.skill == name)
                    .map(|t| t.info.clone())
                    .collect();
                next.insert_shared(&name, e.clone(), &tools);
                continue;
            }
            if let Some(f) = old
                .failed
                .get(&name)
                .filter(|(s, _, at)| *s == stamp && at.elapsed() < RETRY_FAILED)
            {
                next.failed.insert(name, f.clone());
                continue;
            }
            match self.load_record(installed, &name, stamp, &old) {
                Ok((entry, tools)) => {
                    let left_out = next.insert(&name, entry, &tools);
                    next.left_out.extend(left_out);
                }
                Err(problem) => {
                    next.failed.insert(name, (stamp, problem, Instant::now()));
                }
            }
        }
        let problems = next.problems();
        *self.catalog.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        problems
    }

    /// Build the entry for `name` from its record (reusing the compiled
    /// skill when only the grants changed).
    fn load_record(
        &self,
        installed: &Installed,
        name: &str,
        stamp: RecordStamp,
        old: &Catalog,
    ) -> Result<(SkillEntry, Vec<ToolInfo>), String> {
        let record: Record = installed
            .get(name)
            .map_err(|e| format!("skill {name} not loaded: {e}"))?
            .ok_or_else(|| format!("skill {name} not loaded: it was removed"))?;
        if let Err(e) = self.host.check_grants(&record.grants) {
            return Err(format!(
                "skill {name} not loaded: {e}; revoke that grant with `chitin skill revoke {name} ID`"
            ));
        }
        if record.manifest.is_agent_skill() {
            let skill = InstalledAgentSkill::load(installed, &record)?;
            let effects = super::agent_skills::effects(&record.grants);
            let tools: Vec<ToolInfo> = record
                .tools
                .iter()
                .cloned()
                .map(|t| ToolInfo {
                    effects: effects.clone(),
                    ..t
                })
                .collect();
            let entry = SkillEntry::running(
                Runs::Scripts(Arc::new(skill)),
                record.provenance.digest.clone(),
                record.grants,
                Some(stamp),
                record.version,
            );
            return Ok((entry, tools));
        }
        let reuse = old
            .skills
            .get(name)
            .filter(|e| e.digest == record.provenance.digest)
            .and_then(|e| match &e.runs {
                Runs::Component(l) => Some(l.clone()),
                Runs::Scripts(_) => None,
            });
        let loaded = match reuse {
            Some(l) => l,
            None => {
                let source = SkillSource {
                    manifest: Some(record.manifest.clone()),
                    component: installed.package_path(&record),
                };
                let loaded = self
                    .host
                    .load_source(source)
                    .map_err(|e| format!("skill {name} not loaded: {e}"))?;
                if loaded.digest != record.provenance.digest {
                    return Err(format!(
                        "skill {name} not loaded: its package changed on disk since it was installed; reinstall it"
                    ));
                }
                Arc::new(loaded)
            }
        };
        Ok((
            SkillEntry::new(loaded, record.grants, Some(stamp), record.version),
            record.tools,
        ))
    }
}

impl Toolbox {
    /// The skill entry to run a call with: re-checked against its install
    /// record first, so a grant withdrawn a moment ago is never used.
    async fn entry_for_call(&self, skill: &str) -> Option<Arc<SkillEntry>> {
        let entry = self.inner.current().skills.get(skill).cloned()?;
        let (Some(installed), Some(stamp)) = (&self.inner.installed, entry.stamp) else {
            return Some(entry);
        };
        if installed.stamp(skill).ok().flatten() == Some(stamp) {
            return Some(entry);
        }
        self.refresh().await;
        self.inner.current().skills.get(skill).cloned()
    }

    /// The plan of `skill`'s calls: prepared once (the secret store read,
    /// the rules parsed, the redactor built) and made again only when the
    /// secret store changes.
    fn plan(
        &self,
        skill: &SkillEntry,
        loaded: &LoadedSkill,
    ) -> Result<Arc<CallPlan>, ToolboxError> {
        let now = if skill.grants.secrets.is_empty() {
            None
        } else {
            file_stamp(&self.inner.secrets_file)
        };
        let mut slot = skill.plan.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, plan)) = slot.as_ref()
            && *at == now
        {
            return Ok(plan.clone());
        }
        let plan = if skill.grants.secrets.is_empty() {
            self.inner.host.prepare(loaded, &skill.grants, &NoSecrets)
        } else {
            let store = SecretStore::open(&self.inner.secrets_file)
                .map_err(|e| ToolboxError::Secrets(e.to_string()))?;
            self.inner.host.prepare(loaded, &skill.grants, &store)
        };
        let plan = Arc::new(plan);
        *slot = Some((now, plan.clone()));
        Ok(plan)
    }

    /// How many skills are loaded.
    pub fn skill_count(&self) -> usize {
        self.inner.current().skills.len()
    }

    /// Every tool.
    pub fn entries(&self) -> Vec<Arc<ToolEntry>> {
        self.inner.current().tools.values().cloned().collect()
    }

    /// A tool by namespaced name.
    pub fn get(&self, name: &str) -> Option<Arc<ToolEntry>> {
        self.inner.current().tools.get(name).cloned()
    }

    /// The skills served, with their versions, digests and grants.
    pub fn served(&self) -> Vec<Served> {
        self.inner
            .current()
            .skills
            .iter()
            .map(|(name, e)| Served {
                name: name.clone(),
                version: e.version.clone(),
                digest: e.digest.clone(),
                grants: e.grants.ids(),
            })
            .collect()
    }

    /// The tools as offered to the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.inner
            .current()
            .tools
            .values()
            .map(|t| ToolSpec {
                name: t.name.clone(),
                description: t.info.description.clone(),
                input_schema: t.info.input_schema.clone(),
            })
            .collect()
    }

    /// Run `entry`'s tool with `args` (a JSON object) in the sandbox, with
    /// the grants its skill has *now*: the install record is checked first.
    pub async fn call(
        &self,
        caller: &str,
        entry: &ToolEntry,
        args: &str,
    ) -> Result<CallOutcome, ToolboxError> {
        let Some(skill) = self.entry_for_call(&entry.skill).await else {
            return Err(ToolboxError::Gone("its skill was removed".into()));
        };
        if !self.inner.current().tools.contains_key(&entry.name) {
            return Err(ToolboxError::Gone("its skill changed".into()));
        }
        let loaded = match &skill.runs {
            Runs::Component(l) => l,
            Runs::Scripts(s) => return self.run_script(caller, &skill, s, args).await,
        };
        let plan = self.plan(&skill, loaded)?;
        let outcome = self
            .inner
            .host
            .call_as(caller, loaded, &plan, &entry.info.name, args)
            .await;
        Ok(outcome)
    }

    /// An Agent Skill's script, in the interpreter, with its grants now.
    async fn run_script(
        &self,
        caller: &str,
        skill: &SkillEntry,
        scripts: &InstalledAgentSkill,
        args: &str,
    ) -> Result<CallOutcome, ToolboxError> {
        let interpreters = self.inner.interpreters.as_deref();
        if skill.grants.secrets.is_empty() {
            return Ok(scripts
                .run_script(interpreters, caller, &skill.grants, &NoSecrets, args)
                .await);
        }
        let store = SecretStore::open(&self.inner.secrets_file)
            .map_err(|e| ToolboxError::Secrets(e.to_string()))?;
        Ok(scripts
            .run_script(interpreters, caller, &skill.grants, &store, args)
            .await)
    }
}
