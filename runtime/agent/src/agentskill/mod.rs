//! Agent Skills: the folder format shared by many agents (`<name>/SKILL.md`
//! with YAML frontmatter and a Markdown body, plus optional `scripts/`,
//! `references/`, `assets/`), made a first-class Chitin package.
//!
//! A folder or zip is read as hostile input ([`dir`], [`zipfile`], limits
//! in [`tree`]), its SKILL.md parsed ([`frontmatter`], OpenClaw's metadata
//! in [`openclaw`]), its scripts sorted into what the sandbox's Python and
//! JavaScript interpreters can run and what would need the host
//! ([`scripts`]). It is then packed like any skill ([`pack`]): an empty
//! component with the manifest, a `run_script` tool and every file in a
//! `chitin:files` section ([`archive`]), all signed, so verification,
//! trust, install records, upgrade and removal work as for components. On
//! install the files are also written read-only to [`files_dir`]
//! ([`extract`]), which the runtime mounts at `/skill`.

pub mod archive;
pub mod dir;
pub mod error;
pub mod extract;
pub mod frontmatter;
pub mod openclaw;
pub mod pack;
pub mod scripts;
pub mod tree;
pub mod zipfile;

pub use error::AgentSkillError;
pub use extract::files_dir;

use std::collections::BTreeMap;
use std::path::Path;

/// An Agent Skill, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSkill {
    /// `name` (equal to the folder's name).
    pub name: String,
    /// `description`, as written (hostile text: clean before showing).
    pub description: String,
    /// SKILL.md after the frontmatter.
    pub body: String,
    /// `license`.
    pub license: Option<String>,
    /// `compatibility`.
    pub compatibility: Option<String>,
    /// `allowed-tools`, split on whitespace.
    pub allowed_tools: Vec<String>,
    /// Every file, by relative `/`-separated path (`SKILL.md`, `scripts/x.py`, …).
    pub files: BTreeMap<String, Vec<u8>>,
    /// Every file under `scripts/` (recursively).
    pub scripts: Vec<Script>,
    /// What the skill expects of the host that Chitin does not give, in words.
    pub host_needs: Vec<String>,
    /// Tolerated oddities, for the install review.
    pub warnings: Vec<String>,
}

/// A file under `scripts/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Its path, e.g. `scripts/extract.py`.
    pub path: String,
    /// How it would run.
    pub runner: Runner,
}

/// How a script runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// In the sandbox's Python interpreter.
    Python,
    /// In the sandbox's JavaScript interpreter.
    JavaScript,
    /// It would need the host; not offered. Says why (e.g. "a shell script").
    Host(String),
}

impl AgentSkill {
    /// Read a skill folder on disk.
    pub fn load_dir(dir: &Path) -> Result<AgentSkill, AgentSkillError> {
        let (folder, files) = dir::read(dir)?;
        if !files.contains_key("SKILL.md") {
            return Err(AgentSkillError::NoSkillMd(tree::shown(
                &dir.display().to_string(),
            )));
        }
        AgentSkill::from_files(Some(&folder), files)
    }

    /// Read a `.zip` holding one skill folder (or its contents at the root).
    pub fn load_zip(bytes: &[u8]) -> Result<AgentSkill, AgentSkillError> {
        let (folder, files) = zipfile::read(bytes)?;
        AgentSkill::from_files(folder.as_deref(), files)
    }

    /// Build from files already gathered within the limits; `folder` is the
    /// skill folder's name when known (the `name` must equal it).
    pub fn from_files(
        folder: Option<&str>,
        files: BTreeMap<String, Vec<u8>>,
    ) -> Result<AgentSkill, AgentSkillError> {
        let md = files
            .get("SKILL.md")
            .ok_or_else(|| AgentSkillError::NoSkillMd("the skill".into()))?;
        let text =
            std::str::from_utf8(md).map_err(|_| AgentSkillError::NotUtf8("SKILL.md".into()))?;
        let parsed = frontmatter::parse(text, folder)?;
        let (host_needs, oc_warnings) = openclaw::read(&parsed.metadata);
        let mut warnings = parsed.warnings;
        warnings.extend(oc_warnings);
        if chitin_sandbox::text::find_control(&parsed.description, true).is_some() {
            warnings.push(
                "the description contains control or formatting characters (shown escaped)".into(),
            );
        }
        let skill = AgentSkill {
            name: parsed.name,
            description: parsed.description,
            body: parsed.body,
            license: parsed.license,
            compatibility: parsed.compatibility,
            allowed_tools: parsed.allowed_tools,
            scripts: scripts::all(&files),
            files,
            host_needs,
            warnings,
        };
        // chitin.toml errors surface when the skill is read, not at install.
        skill.manifest("check")?;
        Ok(skill)
    }

    /// The scripts the sandbox runs (Python and JavaScript).
    pub fn runnable(&self) -> impl Iterator<Item = &Script> {
        self.scripts
            .iter()
            .filter(|s| matches!(s.runner, Runner::Python | Runner::JavaScript))
    }

    /// The scripts not offered, with why.
    pub fn not_offered(&self) -> impl Iterator<Item = (&Script, &str)> {
        self.scripts.iter().filter_map(|s| match &s.runner {
            Runner::Host(why) => Some((s, why.as_str())),
            _ => None,
        })
    }
}
