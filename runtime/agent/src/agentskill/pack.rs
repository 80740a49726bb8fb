//! An Agent Skill as a Chitin package: its manifest (`kind = "agent-skill"`,
//! capabilities from an optional `chitin.toml` beside SKILL.md), its one
//! tool `run_script` when it has runnable scripts, and its files in the
//! `chitin:files` section of an otherwise empty, signed component.

use super::error::AgentSkillError;
use super::{AgentSkill, Runner, archive, frontmatter};
use crate::package::format::{self, FILES_SECTION, Package};
use chitin_sandbox::capabilities::limits::Limits;
use chitin_sandbox::skill::manifest::{CONTRACT_VERSION, Manifest, Requests, SkillKind, SkillMeta};
use chitin_sandbox::skill::tools::{MAX_DESCRIPTION, ToolInfo};
use serde::Deserialize;
use std::path::Path;

/// The optional Chitin file beside SKILL.md.
pub const CHITIN_TOML: &str = "chitin.toml";
/// The tool an Agent Skill with runnable scripts offers.
pub const RUN_SCRIPT: &str = "run_script";

/// `chitin.toml`: what the skill asks to be granted, as in `skill.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChitinToml {
    version: Option<String>,
    #[serde(default)]
    capabilities: Requests,
    #[serde(default)]
    limits: Option<Limits>,
}

fn chitin_toml(skill: &AgentSkill) -> Result<ChitinToml, AgentSkillError> {
    let Some(bytes) = skill.files.get(CHITIN_TOML) else {
        return Ok(ChitinToml::default());
    };
    let text =
        std::str::from_utf8(bytes).map_err(|_| AgentSkillError::NotUtf8(CHITIN_TOML.into()))?;
    toml::from_str(text).map_err(|e| {
        AgentSkillError::ChitinToml(chitin_sandbox::text::one_line(
            e.to_string().trim_end(),
            400,
        ))
    })
}

/// A description the host may show as its own: escapes made visible, on
/// one line, at most 1024 bytes.
fn plain(text: &str) -> String {
    let mut s = chitin_sandbox::text::one_line(text.trim(), 1024);
    while s.len() > 1024 {
        s.pop();
    }
    s
}

impl AgentSkill {
    /// The version: `chitin.toml`'s, else `metadata.version`, else 0.0.0.
    fn version(&self, toml: &ChitinToml) -> String {
        if let Some(v) = &toml.version {
            return v.clone();
        }
        let meta = self
            .files
            .get("SKILL.md")
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|t| frontmatter::parse(t, None).ok())
            .and_then(|p| {
                p.metadata
                    .get("version")
                    .and_then(|v| v.as_str().map(str::to_string))
            });
        match meta {
            Some(v) if semver::Version::parse(&v).is_ok() => v,
            _ => "0.0.0".into(),
        }
    }

    /// The manifest of this skill's package, signed as `publisher`.
    pub fn manifest(&self, publisher: &str) -> Result<Manifest, AgentSkillError> {
        let toml = chitin_toml(self)?;
        let version = self.version(&toml);
        let manifest = Manifest {
            skill: SkillMeta {
                name: self.name.clone(),
                version,
                description: plain(&self.description),
                publisher: publisher.to_string(),
                contract: CONTRACT_VERSION.to_string(),
                component: None,
                kind: SkillKind::AgentSkill,
            },
            capabilities: toml.capabilities,
            limits: toml.limits,
        };
        // Validate as any package's manifest is (messages name the key).
        let text = self.manifest_text(&manifest)?;
        Ok(Manifest::parse(&text, Path::new(CHITIN_TOML))?)
    }

    fn manifest_text(&self, m: &Manifest) -> Result<String, AgentSkillError> {
        toml::to_string(m).map_err(|e| AgentSkillError::ChitinToml(e.to_string()))
    }

    /// The package's tools: `run_script` over the runnable scripts, or none.
    pub fn tools(&self) -> Vec<ToolInfo> {
        let runnable: Vec<&super::Script> = self.runnable().collect();
        if runnable.is_empty() {
            return Vec::new();
        }
        let mut description = String::from(
            "Run one of this skill's scripts in Chitin's sandbox (python/js interpreter; the skill folder is read-only at /skill, a scratch directory at /scratch). Scripts:",
        );
        for (i, s) in runnable.iter().enumerate() {
            let lang = match s.runner {
                Runner::Python => "python",
                _ => "js",
            };
            let item = format!(" {} ({lang})", s.path);
            if description.len() + item.len() + 64 > MAX_DESCRIPTION {
                description.push_str(&format!(" … and {} more", runnable.len() - i));
                break;
            }
            description.push_str(&item);
            if i + 1 < runnable.len() {
                description.push(',');
            }
        }
        let paths: Vec<&str> = runnable.iter().map(|s| s.path.as_str()).collect();
        vec![ToolInfo {
            name: RUN_SCRIPT.into(),
            description,
            input_schema: serde_json::json!({
                "type": "object",
                "required": ["script"],
                "properties": {
                    "script": {"type": "string", "enum": paths},
                    "args": {"type": "array", "items": {"type": "string"}},
                    "stdin": {"type": "string"}
                }
            }),
            effects: Vec::new(),
        }]
    }

    /// Pack and sign this skill as `publisher` with `key`.
    pub fn pack(
        &self,
        publisher: &str,
        key: &wasmsign2::KeyPair,
    ) -> Result<Vec<u8>, AgentSkillError> {
        let manifest = self.manifest(publisher)?;
        let text = self.manifest_text(&manifest)?;
        Ok(format::pack_with_files(
            &format::EMPTY_COMPONENT,
            &text,
            &self.tools(),
            Some(archive::encode(&self.files)),
            key,
        )?)
    }

    /// The Agent Skill inside a package, `None` for a component skill.
    pub fn from_package(pkg: &Package) -> Result<Option<AgentSkill>, AgentSkillError> {
        if !pkg.manifest.is_agent_skill() {
            return Ok(None);
        }
        let payload = format::custom_section(&pkg.bytes, FILES_SECTION)?
            .ok_or_else(|| AgentSkillError::Archive("missing".into()))?;
        let files = archive::decode(&payload)?;
        let skill = AgentSkill::from_files(Some(&pkg.manifest.skill.name), files)?;
        Ok(Some(skill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn skill(extra: &[(&str, &str)]) -> AgentSkill {
        let mut files = BTreeMap::from([(
            "SKILL.md".to_string(),
            b"---\nname: demo\ndescription: \"Demo \\e[31mred\"\nmetadata:\n  version: 1.4.0\n---\nbody\n".to_vec(),
        )]);
        for (p, b) in extra {
            files.insert(p.to_string(), b.as_bytes().to_vec());
        }
        AgentSkill::from_files(Some("demo"), files).unwrap()
    }

    #[test]
    fn manifest_tools_and_round_trip() {
        let s = skill(&[
            ("scripts/a.py", "print(1)"),
            ("scripts/b.js", "1"),
            ("scripts/run.sh", "echo"),
            (
                "chitin.toml",
                "[[capabilities.net]]\nurl = \"https://api.example.com\"\n",
            ),
        ]);
        let m = s.manifest("me").unwrap();
        assert!(m.is_agent_skill());
        assert_eq!(m.skill.version, "1.4.0");
        assert_eq!(m.skill.description, "Demo \\u{1b}[31mred");
        assert_eq!(m.capabilities.net.len(), 1);
        let tools = s.tools();
        assert_eq!(tools.len(), 1);
        assert_eq!(
            tools[0].input_schema["properties"]["script"]["enum"],
            serde_json::json!(["scripts/a.py", "scripts/b.js"])
        );
        assert!(tools[0].description.contains("scripts/a.py (python)"));
        assert!(!tools[0].description.contains("run.sh"));
        chitin_sandbox::skill::tools::validate_all(&tools).unwrap();

        let key = wasmsign2::KeyPair::generate();
        let bytes = s.pack("me", &key).unwrap();
        assert_eq!(&bytes[..8], &format::EMPTY_COMPONENT);
        let pkg = format::parse(bytes, format::DEFAULT_MAX_BYTES).unwrap();
        let back = AgentSkill::from_package(&pkg).unwrap().unwrap();
        assert_eq!(back.files, s.files);
        assert_eq!(back.name, "demo");
        assert!(skill(&[]).tools().is_empty());
    }

    #[test]
    fn chitin_toml_errors_name_the_key() {
        // Refused when the skill is read, before anything is packed.
        for (toml, key) in [
            ("[limits]\nmemory = 3\n", "memory"),
            ("version = \"x\"\n", "skill.version"),
            (
                "[[capabilities.fs]]\nguest = \"../x\"\naccess = \"read-only\"\n",
                "capabilities.fs[0].guest",
            ),
        ] {
            let mut files = skill(&[]).files;
            files.insert(CHITIN_TOML.into(), toml.as_bytes().to_vec());
            let e = AgentSkill::from_files(Some("demo"), files)
                .unwrap_err()
                .to_string();
            assert!(e.contains("chitin.toml") && e.contains(key), "{toml}: {e}");
        }
    }
}
