//! Reading a skill's tool descriptions (`list-tools`), validated: names are
//! well formed and unique, schemas are JSON objects.

use super::bindings::{Effect, WitTool};
use super::loader::LoadedSkill;
use super::state::CallState;
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

/// Longest tool description accepted.
pub const MAX_DESCRIPTION: usize = 8 * 1024;
/// Most tools one skill may declare.
pub const MAX_TOOLS: usize = 256;

/// Every string inside a JSON value.
fn json_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k);
            json_strings(x, out)
        }),
        _ => {}
    }
}

/// Check one tool description as the host will show and offer it: a
/// well-formed name, a description and schema of bounded size without
/// control or formatting characters (newlines and tabs allowed), an object
/// schema. Used at pack time and again when a package is read.
pub fn validate(t: &ToolInfo) -> Result<(), String> {
    let name_ok = !t.name.is_empty()
        && t.name.len() <= 64
        && t.name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !name_ok {
        return Err("names use 1-64 lowercase letters, digits, `-` and `_`".into());
    }
    if t.description.len() > MAX_DESCRIPTION {
        return Err(format!(
            "the description is longer than {MAX_DESCRIPTION} bytes"
        ));
    }
    if let Some(c) = crate::text::find_control(&t.description, true) {
        return Err(format!(
            "the description contains the control or formatting character {}",
            c.escape_unicode()
        ));
    }
    if !t.input_schema.is_object() {
        return Err("input schema must be a JSON object".into());
    }
    let mut strings = Vec::new();
    json_strings(&t.input_schema, &mut strings);
    if let Some(c) = strings
        .iter()
        .find_map(|s| crate::text::find_control(s, true))
    {
        return Err(format!(
            "the input schema contains the control or formatting character {}",
            c.escape_unicode()
        ));
    }
    for e in &t.effects {
        if crate::text::find_control(e, false).is_some() || e.len() > 128 {
            return Err("an effect name contains control characters".into());
        }
    }
    Ok(())
}

/// Check a whole tool list (each tool, unique names, a bounded count).
pub fn validate_all(tools: &[ToolInfo]) -> Result<(), (String, String)> {
    if tools.len() > MAX_TOOLS {
        return Err((String::new(), format!("more than {MAX_TOOLS} tools")));
    }
    let mut seen = std::collections::HashSet::new();
    for t in tools {
        validate(t).map_err(|e| (t.name.clone(), e))?;
        if !seen.insert(t.name.as_str()) {
            return Err((t.name.clone(), "declared twice".into()));
        }
    }
    Ok(())
}

fn convert(skill: &str, tools: Vec<WitTool>) -> Result<Vec<ToolInfo>, ToolsError> {
    let mut out = Vec::with_capacity(tools.len());
    for t in tools {
        let invalid = |detail: String| ToolsError::Invalid {
            skill: skill.to_string(),
            tool: crate::text::one_line(&t.name, 64),
            detail,
        };
        let schema: serde_json::Value = serde_json::from_str(&t.input_schema)
            .map_err(|e| invalid(format!("input schema is not JSON: {e}")))?;
        out.push(ToolInfo {
            effects: t.effects.iter().map(effect_name).collect(),
            name: t.name,
            description: t.description,
            input_schema: schema,
        });
    }
    validate_all(&out).map_err(|(tool, detail)| ToolsError::Invalid {
        skill: skill.to_string(),
        tool: crate::text::one_line(&tool, 64),
        detail,
    })?;
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
    let plan = super::plan::CallPlan::nothing();
    let audit = crate::audit::Audit::new(&skill.name, "list-tools");
    let mut store: wasmtime::Store<CallState> =
        super::call::new_store(engine, &plan, &audit).map_err(|e| failed(e.to_string()))?;
    let meter = store.data().cpu.clone();
    let run = async {
        let instance = skill.pre.instantiate_async(&mut store).await?;
        instance
            .chitin_skill_tools()
            .call_list_tools(&mut store)
            .await
    };
    let run = crate::capabilities::cpu::Metered::new(meter, run);
    let tools = tokio::time::timeout(plan.limits().timeout(), run)
        .await
        .map_err(|_| failed("timed out".into()))?
        .map_err(|e| failed(format!("{e:#}")))?;
    convert(&skill.name, tools)
}
