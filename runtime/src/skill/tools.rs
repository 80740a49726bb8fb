//! Reading a skill's tool descriptions (`list-tools`), validated: names are
//! well formed and unique, schemas are JSON objects.

use super::bindings::{Effect, WitTool};
use super::loader::LoadedSkill;
use super::state::CallState;
use crate::capabilities::Grants;
use crate::engine::SkillEngine;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A tool, as the host presents it to users and models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Name within the skill.
    pub name: String,
    /// Description for the model.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: serde_json::Value,
    /// Declared effects: `reads-files`, `writes-files`, `network`, `uses-secret:NAME`.
    pub effects: Vec<String>,
}

/// The skill's tool list is unusable.
#[derive(Debug, Error)]
pub enum ToolsError {
    /// `list-tools` trapped or hit a limit.
    #[error("skill `{skill}`: list-tools failed: {detail}")]
    Failed {
        /// Skill name.
        skill: String,
        /// What happened.
        detail: String,
    },
    /// A description is malformed.
    #[error("skill `{skill}`: tool `{tool}`: {detail}")]
    Invalid {
        /// Skill name.
        skill: String,
        /// Tool name.
        tool: String,
        /// What is wrong.
        detail: String,
    },
}

fn effect_name(e: &Effect) -> String {
    match e {
        Effect::ReadsFiles => "reads-files".into(),
        Effect::WritesFiles => "writes-files".into(),
        Effect::Network => "network".into(),
        Effect::UsesSecret(s) => format!("uses-secret:{s}"),
    }
}

fn convert(skill: &str, tools: Vec<WitTool>) -> Result<Vec<ToolInfo>, ToolsError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(tools.len());
    for t in tools {
        let invalid = |detail: String| ToolsError::Invalid {
            skill: skill.to_string(),
            tool: t.name.clone(),
            detail,
        };
        let name_ok = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok {
            return Err(invalid(
                "names use 1-64 lowercase letters, digits, `-` and `_`".into(),
            ));
        }
        if !seen.insert(t.name.clone()) {
            return Err(invalid("declared twice".into()));
        }
        let schema: serde_json::Value = serde_json::from_str(&t.input_schema)
            .map_err(|e| invalid(format!("input schema is not JSON: {e}")))?;
        if !schema.is_object() {
            return Err(invalid("input schema must be a JSON object".into()));
        }
        out.push(ToolInfo {
            effects: t.effects.iter().map(effect_name).collect(),
            name: t.name,
            description: t.description,
            input_schema: schema,
        });
    }
    Ok(out)
}

/// Call the skill's `list-tools` in a sandbox with nothing granted.
pub async fn describe(
    engine: &SkillEngine,
    skill: &LoadedSkill,
) -> Result<Vec<ToolInfo>, ToolsError> {
    let failed = |detail: String| ToolsError::Failed {
        skill: skill.name.clone(),
        detail,
    };
    let grants = Grants::default();
    let audit = crate::audit::Audit::new(&skill.name, "list-tools");
    let mut store: wasmtime::Store<CallState> =
        super::call::new_store_for_describe(engine, &grants, &audit)
            .map_err(|e| failed(e.to_string()))?;
    let run = async {
        let instance = skill.pre.instantiate_async(&mut store).await?;
        instance
            .chitin_skill_tools()
            .call_list_tools(&mut store)
            .await
    };
    let tools = tokio::time::timeout(grants.limits.timeout(), run)
        .await
        .map_err(|_| failed("timed out".into()))?
        .map_err(|e| failed(format!("{e:#}")))?;
    convert(&skill.name, tools)
}
