//! Tools as typed functions: the [`Skill`] builder, tool descriptions and the
//! typed error every tool returns.

use crate::bindings::chitin::skill::types as wit;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;

/// A declared effect of a tool (see the WIT `effect` variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Reads files inside a granted directory.
    ReadsFiles,
    /// Writes files inside a granted directory.
    WritesFiles,
    /// Makes outbound network requests.
    Network,
    /// The host injects the named secret into this tool's requests.
    UsesSecret(String),
}

impl From<&Effect> for wit::Effect {
    fn from(e: &Effect) -> Self {
        match e {
            Effect::ReadsFiles => wit::Effect::ReadsFiles,
            Effect::WritesFiles => wit::Effect::WritesFiles,
            Effect::Network => wit::Effect::Network,
            Effect::UsesSecret(s) => wit::Effect::UsesSecret(s.clone()),
        }
    }
}

/// Why a tool call failed; becomes the contract's `tool-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// No tool of that name.
    UnknownTool(String),
    /// The input was not what the tool expects.
    InvalidInput(String),
    /// The host refused an operation (a capability was not granted).
    Denied(String),
    /// The tool could not do its work.
    Failed(String),
}

impl ToolError {
    /// A `failed` error with a message.
    pub fn failed(msg: impl fmt::Display) -> Self {
        ToolError::Failed(msg.to_string())
    }

    /// An `invalid-input` error with a message.
    pub fn invalid(msg: impl fmt::Display) -> Self {
        ToolError::InvalidInput(msg.to_string())
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::UnknownTool(t) => write!(f, "unknown tool `{t}`"),
            ToolError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            ToolError::Denied(m) => write!(f, "denied: {m}"),
            ToolError::Failed(m) => write!(f, "failed: {m}"),
        }
    }
}

impl From<ToolError> for wit::ToolError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::UnknownTool(m) => wit::ToolError::UnknownTool(m),
            ToolError::InvalidInput(m) => wit::ToolError::InvalidInput(m),
            ToolError::Denied(m) => wit::ToolError::Denied(m),
            ToolError::Failed(m) => wit::ToolError::Failed(m),
        }
    }
}

/// File errors: a capability refusal becomes `denied`, the rest `failed`.
impl From<std::io::Error> for ToolError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        match e.kind() {
            PermissionDenied | ReadOnlyFilesystem => ToolError::Denied(format!(
                "filesystem: {e}: the path is outside the directories this skill was granted, or the grant is read-only"
            )),
            _ => ToolError::Failed(e.to_string()),
        }
    }
}

/// The description of one tool.
#[derive(Debug, Clone)]
pub struct Tool {
    name: String,
    description: String,
    schema: serde_json::Value,
    effects: Vec<Effect>,
}

impl Tool {
    /// A tool with its name, description and input JSON Schema.
    pub fn new(name: &str, description: &str, schema: serde_json::Value) -> Self {
        Tool {
            name: name.to_string(),
            description: description.to_string(),
            schema,
            effects: Vec::new(),
        }
    }

    /// Declare what the tool may do.
    pub fn effects(mut self, effects: impl IntoIterator<Item = Effect>) -> Self {
        self.effects.extend(effects);
        self
    }

    fn to_wit(&self) -> wit::Tool {
        wit::Tool {
            name: self.name.clone(),
            description: self.description.clone(),
            input_schema: self.schema.to_string(),
            effects: self.effects.iter().map(Into::into).collect(),
        }
    }
}

type Handler = Box<dyn Fn(&str) -> Result<String, ToolError>>;

/// A skill: its tools and their handlers.
#[derive(Default)]
pub struct Skill {
    tools: Vec<(Tool, Handler)>,
}

impl Skill {
    /// An empty skill.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a tool whose handler takes a typed input and returns output that
    /// is sent back as JSON (a `String` output is sent as plain text).
    pub fn tool<I, O, F>(mut self, tool: Tool, handler: F) -> Self
    where
        I: DeserializeOwned,
        O: Serialize + 'static,
        F: Fn(I) -> Result<O, ToolError> + 'static,
    {
        let handler = move |raw: &str| -> Result<String, ToolError> {
            let raw = if raw.trim().is_empty() { "{}" } else { raw };
            let input: I = serde_json::from_str(raw).map_err(ToolError::invalid)?;
            let output = handler(input)?;
            encode_output(&output)
        };
        self.tools.push((tool, Box::new(handler)));
        self
    }

    /// The WIT descriptions of all tools.
    pub fn describe(&self) -> Vec<wit::Tool> {
        self.tools.iter().map(|(t, _)| t.to_wit()).collect()
    }

    /// Dispatch a call by tool name.
    pub fn call(&self, name: &str, input: &str) -> Result<String, ToolError> {
        let (_, handler) = self
            .tools
            .iter()
            .find(|(t, _)| t.name == name)
            .ok_or_else(|| ToolError::UnknownTool(name.to_string()))?;
        handler(input)
    }
}

fn encode_output<O: Serialize + 'static>(output: &O) -> Result<String, ToolError> {
    let any: &dyn std::any::Any = output;
    if let Some(s) = any.downcast_ref::<String>() {
        return Ok(s.clone());
    }
    serde_json::to_string(output).map_err(ToolError::failed)
}
