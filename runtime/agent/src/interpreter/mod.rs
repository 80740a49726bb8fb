//! The first-party interpreter components (CPython and a JavaScript engine
//! compiled to WebAssembly) that run the code the host must never run
//! itself: the model's own code (the `python` and `js` tools) and the
//! scripts of signed Agent Skills. Each call is an ordinary sandboxed call
//! of the interpreter's `run` tool, under grants the host composes for it:
//! a scratch directory (see [`scratch`]) and, for an Agent Skill, its own
//! files read-only and the capabilities the user granted that skill.
//!
//! The interpreters are installed into Chitin's data directory
//! (`chitin interpreter install`), which no grant can reach, so no skill
//! can replace the code that runs another skill's scripts.

pub mod scratch;

use crate::agent::config::InterpreterSection;
use chitin_sandbox::CallOutcome;
use chitin_sandbox::capabilities::Grants;
use chitin_sandbox::capabilities::fs::{Access, FsGrant};
use chitin_sandbox::capabilities::secrets::SecretSource;
use chitin_sandbox::host::SkillHost;
use chitin_sandbox::skill::loader::{LoadedSkill, SkillSource};
use chitin_sandbox::skill::manifest::Manifest;
use scratch::{Scratch, ScratchError};
use serde::Serialize;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The interpreter's tool that runs code.
pub const RUN_TOOL: &str = "run";

/// An interpreted language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    /// CPython (componentize-py).
    Python,
    /// JavaScript (componentize-js).
    JavaScript,
}

impl Lang {
    /// Both, in the order tools are listed.
    pub const ALL: [Lang; 2] = [Lang::Python, Lang::JavaScript];

    /// The tool name (`python`, `js`), also the component's file stem.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::JavaScript => "js",
        }
    }

    /// The language of a script path, by its extension.
    pub fn of_script(path: &str) -> Option<Lang> {
        let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("py") => Some(Lang::Python),
            Some("js" | "mjs" | "cjs") => Some(Lang::JavaScript),
            _ => None,
        }
    }
}

/// Why an interpreter call could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    /// The component is not installed.
    #[error(
        "the {lang} interpreter is not installed ({path} is missing); install it with `chitin interpreter install` (scripts/build-interpreters builds it from a checkout)"
    )]
    Missing {
        /// `python` or `js`.
        lang: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The component does not load.
    #[error(
        "the {lang} interpreter at {path} cannot be loaded: {why}; reinstall it with `chitin interpreter install`"
    )]
    Load {
        /// `python` or `js`.
        lang: &'static str,
        /// The file.
        path: PathBuf,
        /// What failed.
        why: String,
    },
    /// The scratch directory cannot be used.
    #[error(transparent)]
    Scratch(#[from] ScratchError),
    /// A directory the host mounts cannot be opened.
    #[error("cannot mount {what}: {why}")]
    Mount {
        /// Which mount.
        what: String,
        /// Why.
        why: String,
    },
    /// The configuration is wrong.
    #[error("config.toml: {0}")]
    Config(String),
}

/// What the interpreter's `run` tool takes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunInput {
    /// The source to run.
    pub code: String,
    /// Its name in tracebacks (`/skill/scripts/x.py`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// `sys.argv[1:]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Standard input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Working directory.
    pub cwd: String,
}

/// Who a call runs for: the model's own code, or a signed Agent Skill.
pub enum RunFor<'a> {
    /// The `python`/`js` tools.
    Code,
    /// An Agent Skill's script, with the skill's own files and grants.
    Skill {
        /// The skill's name (the call is audited under it).
        name: &'a str,
        /// Its manifest (requests, compared with the grants).
        manifest: &'a Manifest,
        /// Its extracted, verified files (mounted read-only at `/skill`).
        files: &'a Path,
        /// What the user granted it.
        grants: &'a Grants,
    },
}

/// The installed interpreters, loaded on first use.
pub struct Interpreters {
    dir: PathBuf,
    host: Arc<SkillHost>,
    settings: InterpreterSection,
    scratch: Scratch,
    loaded: Mutex<BTreeMap<Lang, Arc<LoadedSkill>>>,
}

impl Interpreters {
    /// The interpreters installed in `dir`, run by `host`, with scratch
    /// directories under `scratch_root`.
    pub fn new(
        host: Arc<SkillHost>,
        dir: &Path,
        scratch_root: &Path,
        settings: InterpreterSection,
    ) -> Self {
        let scratch = Scratch::new(scratch_root, settings.scratch_mib);
        Interpreters {
            dir: dir.to_path_buf(),
            host,
            settings,
            scratch,
            loaded: Mutex::new(BTreeMap::new()),
        }
    }

    /// Where `lang`'s component is installed.
    pub fn file(dir: &Path, lang: Lang) -> PathBuf {
        dir.join(format!("{}.wasm", lang.name()))
    }

    /// Whether `lang`'s component is installed.
    pub fn installed(&self, lang: Lang) -> bool {
        Self::file(&self.dir, lang).is_file()
    }

    /// Whether the model's code may run (`[interpreter] enabled`, and
    /// installed).
    pub fn offered(&self, lang: Lang) -> bool {
        self.settings.enabled && self.installed(lang)
    }

    /// The settings.
    pub fn settings(&self) -> &InterpreterSection {
        &self.settings
    }

    /// The scratch directories.
    pub fn scratch(&self) -> &Scratch {
        &self.scratch
    }

    /// `lang`'s component, compiled (or read from the cache) on first use.
    pub async fn load(&self, lang: Lang) -> Result<Arc<LoadedSkill>, InterpreterError> {
        if let Some(l) = self
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&lang)
        {
            return Ok(l.clone());
        }
        let path = Self::file(&self.dir, lang);
        if !path.is_file() {
            return Err(InterpreterError::Missing {
                lang: lang.name(),
                path,
            });
        }
        let host = self.host.clone();
        let source = SkillSource {
            manifest: None,
            component: path.clone(),
        };
        let loaded = tokio::task::spawn_blocking(move || host.load_source(source))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|why| InterpreterError::Load {
                lang: lang.name(),
                path,
                why,
            })?;
        let loaded = Arc::new(loaded);
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(lang, loaded.clone());
        Ok(loaded)
    }

    /// The scratch directory (its size walk runs off the async threads).
    async fn scratch_dir(
        &self,
        caller: &str,
        purpose: String,
    ) -> Result<PathBuf, InterpreterError> {
        let scratch = self.scratch.clone();
        let caller = caller.to_string();
        tokio::task::spawn_blocking(move || scratch.dir(&caller, &purpose))
            .await
            .map_err(|e| InterpreterError::Mount {
                what: "/scratch".into(),
                why: e.to_string(),
            })?
            .map_err(InterpreterError::from)
    }

    /// Run `input` in `lang`'s interpreter for `caller` (a session):
    /// `/scratch` is the caller's scratch directory (for the model's code,
    /// or per Agent Skill); an Agent Skill's files are read-only at
    /// `/skill` and its grants apply; the model's code gets only
    /// `[interpreter] allow_net`. Secrets come from `secrets`.
    pub async fn run(
        &self,
        caller: &str,
        lang: Lang,
        who: RunFor<'_>,
        secrets: &dyn SecretSource,
        input: &RunInput,
    ) -> Result<CallOutcome, InterpreterError> {
        let interpreter = self.load(lang).await?;
        let mount = |dir: &Path, guest: &str, access| {
            FsGrant::new(dir, guest, access).map_err(|e| InterpreterError::Mount {
                what: guest.to_string(),
                why: e.to_string(),
            })
        };
        let (skill, grants, mounts) = match who {
            RunFor::Code => {
                let dir = self.scratch_dir(caller, "code".into()).await?;
                let grants = Grants {
                    net: self
                        .settings
                        .net_rules()
                        .map_err(InterpreterError::Config)?,
                    limits: self.settings.limits(),
                    ..Grants::default()
                };
                // Audited apart from any skill (skill names have no `:`).
                let skill = interpreter.acting_as(&format!("host:{}", lang.name()), None);
                (
                    skill,
                    grants,
                    vec![mount(&dir, "/scratch", Access::ReadWrite)?],
                )
            }
            RunFor::Skill {
                name,
                manifest,
                files,
                grants,
            } => {
                // Its own scratch per package and grants: what a script
                // left there (a hard link into a folder granted then, say)
                // is never mounted again once a grant or the package changes.
                let identity = format!(
                    "{}\n{}",
                    files.display(),
                    serde_json::to_string(grants).unwrap_or_default()
                );
                let digest = hex::encode(sha2::Sha256::digest(identity.as_bytes()));
                let purpose = format!("skill-{name}-{}", &digest[..16]);
                let dir = self.scratch_dir(caller, purpose).await?;
                let mut grants = grants.clone();
                grants.limits = self.settings.at_least(grants.limits);
                let skill = interpreter.acting_as(name, Some(manifest.clone()));
                let mounts = vec![
                    mount(files, "/skill", Access::ReadOnly)?,
                    mount(&dir, "/scratch", Access::ReadWrite)?,
                ];
                (skill, grants, mounts)
            }
        };
        let plan = self
            .host
            .prepare(&skill, &grants, secrets)
            .with_host_mounts(mounts);
        let args = serde_json::to_string(input).unwrap_or_default();
        Ok(self
            .host
            .call_as(caller, &skill, &plan, RUN_TOOL, &args)
            .await)
    }
}
