//! The host's own tools, next to the skills' in the one dispatch (same
//! policies, approvals and records):
//!
//! - `activate_skill`: an installed Agent Skill's instructions (its SKILL.md
//!   body) and, on demand, a file under its `references/` or `assets/`,
//!   read from its signed package. The model sees every Agent Skill's name
//!   and description in this tool's description (progressive disclosure);
//!   the text it returns is the skill author's, delivered as tool output.
//! - `python` and `js`: the model's own code, run in the interpreter
//!   components with this session's scratch directory and nothing else
//!   (see [`crate::interpreter`]).
//! - `memory_search` and `memory_save`: the user's memory files (see
//!   [`super::builtin_memory`]).
//! - `propose_job`: records a scheduled job *proposal* that only the owner
//!   can confirm (see [`crate::schedule::propose`]).
//!
//! They are first-party host code, not skills: they read only signed skill
//! text and start interpreter calls in the sandbox; nothing they do runs on
//! the host or widens a grant.

use super::Agent;
use super::agent_skills::InstalledAgentSkill;
use super::builtin_memory;
use super::dispatch::{ToolOutcome, ToolReply};
use crate::interpreter::{Lang, RunFor, RunInput};
use crate::messages::{ToolCall, ToolSpec};
use crate::policy::Policy;
use crate::schedule::propose;
use chitin_sandbox::NoSecrets;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// What policies of host tools are bound to (skills' are bound to their
/// package digest).
pub const HOST_PACKAGE: &str = "chitin-host";

/// The activation tool's name.
pub const ACTIVATE: &str = "activate_skill";

/// How much of a skill's text one activation returns (the usual tool-output
/// cap is smaller; instructions are worth their room).
pub const ACTIVATE_MAX_BYTES: usize = 128 * 1024;

/// Code longer than this is refused.
const MAX_CODE_BYTES: usize = 256 * 1024;

/// Skills listed in the activation tool's description, and each entry's
/// length (the rest are still activatable by name).
const MAX_LISTED: usize = 100;
const MAX_DESCRIPTION_CHARS: usize = 1024;

/// A host tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `activate_skill`.
    Activate,
    /// `python` or `js`.
    Code(Lang),
    /// `memory_search`.
    MemorySearch,
    /// `memory_save`.
    MemorySave,
    /// `propose_job`.
    ProposeJob,
}

impl Builtin {
    /// The tool named `name`, if it is a host tool.
    pub fn named(name: &str) -> Option<Builtin> {
        match name {
            ACTIVATE => Some(Builtin::Activate),
            builtin_memory::SEARCH => Some(Builtin::MemorySearch),
            builtin_memory::SAVE => Some(Builtin::MemorySave),
            propose::PROPOSE => Some(Builtin::ProposeJob),
            _ => Lang::ALL
                .into_iter()
                .find(|l| l.name() == name)
                .map(Builtin::Code),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Activate => ACTIVATE,
            Builtin::Code(l) => l.name(),
            Builtin::MemorySearch => builtin_memory::SEARCH,
            Builtin::MemorySave => builtin_memory::SAVE,
            Builtin::ProposeJob => propose::PROPOSE,
        }
    }

    /// What it may do, in the skills' effect words.
    pub fn effects(self) -> Vec<String> {
        match self {
            Builtin::Activate => vec!["reads-files".into()],
            Builtin::Code(_) => vec!["runs-code".into()],
            Builtin::MemorySearch => vec!["reads-memory".into()],
            Builtin::MemorySave => vec!["writes-memory".into()],
            Builtin::ProposeJob => vec!["proposes-job".into()],
        }
    }

    /// Its policy when the user set none: reading signed skill text, and
    /// running code that reaches only its scratch directory, are allowed;
    /// code that may reach the network asks. Memory is the user's own
    /// notes, written one cleaned entry at a time (never deleted): allowed.
    pub fn default_policy(self, agent: &Agent) -> Policy {
        match self {
            // A proposal runs nothing until the owner confirms it.
            Builtin::Activate
            | Builtin::MemorySearch
            | Builtin::MemorySave
            | Builtin::ProposeJob => Policy::Allow,
            Builtin::Code(_) => {
                let net = agent
                    .toolbox()
                    .interpreters()
                    .is_some_and(|i| !i.settings().allow_net.is_empty());
                if net { Policy::Ask } else { Policy::Allow }
            }
        }
    }
}

/// The host tools offered now: `propose_job` always, `activate_skill` when an Agent Skill is
/// installed, `python`/`js` when their interpreter is, the memory tools
/// when memory is on.
pub fn offered(agent: &Agent) -> Vec<Builtin> {
    let mut out = vec![Builtin::ProposeJob];
    if agent.memory().is_some() {
        out.extend([Builtin::MemorySearch, Builtin::MemorySave]);
    }
    if !agent.toolbox().agent_skills().is_empty() {
        out.push(Builtin::Activate);
    }
    if let Some(i) = agent.toolbox().interpreters() {
        out.extend(
            Lang::ALL
                .into_iter()
                .filter(|l| i.offered(*l))
                .map(Builtin::Code),
        );
    }
    out
}

/// The specs of the offered host tools.
pub fn specs(agent: &Agent) -> Vec<ToolSpec> {
    offered(agent)
        .into_iter()
        .map(|b| match b {
            Builtin::Activate => activate_spec(&agent.toolbox().agent_skills()),
            Builtin::Code(l) => code_spec(l),
            Builtin::MemorySearch => {
                let [s, _] = builtin_memory::specs();
                s
            }
            Builtin::MemorySave => {
                let [_, s] = builtin_memory::specs();
                s
            }
            Builtin::ProposeJob => propose::spec(),
        })
        .collect()
}

fn activate_spec(skills: &[Arc<InstalledAgentSkill>]) -> ToolSpec {
    let mut list = String::new();
    for s in skills.iter().take(MAX_LISTED) {
        // The manifest's copy: cleaned at install (one line, escapes shown).
        let d: String = s
            .manifest
            .skill
            .description
            .chars()
            .filter(|c| !c.is_control() && !chitin_sandbox::text::is_dangerous(*c))
            .take(MAX_DESCRIPTION_CHARS)
            .collect();
        list.push_str(&format!("\n- {}: {}", s.skill.name, d));
    }
    if skills.len() > MAX_LISTED {
        list.push_str(&format!("\n(and {} more)", skills.len() - MAX_LISTED));
    }
    ToolSpec {
        name: ACTIVATE.into(),
        description: format!(
            "Load an installed skill's instructions before doing a task it covers (its scripts then run with its `run_script` tool). With `file`, read one of its reference files instead. Installed skills (name: what it is for, in its author's words):{list}"
        ),
        input_schema: json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "description": "the skill's name"},
                "file": {"type": "string", "description": "a file of the skill under references/ or assets/"}
            }
        }),
    }
}

fn code_spec(lang: Lang) -> ToolSpec {
    let (what, how) = match lang {
        Lang::Python => (
            "Python 3 code (CPython compiled to WebAssembly)",
            "The value of the last expression is returned as `result`, print() output as `stdout`. Standard library only (no pip packages; no subprocess, threads or sockets).",
        ),
        Lang::JavaScript => (
            "JavaScript code (a WebAssembly JavaScript engine)",
            "The completion value is returned as `result`, console.log output as `stdout`. No Node.js modules (no fs, child_process or net).",
        ),
    };
    ToolSpec {
        name: lang.name().into(),
        description: format!(
            "Run {what} in Chitin's sandbox, for calculation, data wrangling and file conversion. No network, no host programs; files only in /scratch, a directory kept for this conversation. {how}"
        ),
        input_schema: json!({
            "type": "object",
            "required": ["code"],
            "properties": {
                "code": {"type": "string"},
                "stdin": {"type": "string"}
            }
        }),
    }
}

/// Run host tool `b` for `caller` (a session) with `args` (JSON object).
pub async fn run(agent: &Agent, b: Builtin, caller: &str, args: &str) -> ToolOutcome {
    match b {
        Builtin::Activate => activate(agent, args),
        Builtin::Code(lang) => code(agent, lang, caller, args).await,
        Builtin::MemorySearch => builtin_memory::search(agent, args),
        Builtin::MemorySave => builtin_memory::save(agent, args),
        Builtin::ProposeJob => propose::run(agent, caller, args),
    }
}

/// `/name …` at the start of a user's message activates Agent Skill
/// `name` directly: the call the model would have made, made for it (and
/// recorded like any call), so the instructions reach the model as tool
/// output, never as the user's or the host's words.
pub fn slash_activation(agent: &Agent, text: &str) -> Option<(ToolCall, ToolOutcome)> {
    if agent.policy(ACTIVATE) == Policy::Deny {
        return None;
    }
    let rest = text.trim_start().strip_prefix('/')?;
    let word = rest.split_whitespace().next()?;
    // Chat apps append the bot's name to commands (`/name@bot`).
    let name = word.split('@').next().unwrap_or(word);
    agent
        .toolbox()
        .agent_skills()
        .iter()
        .any(|s| s.skill.name == name)
        .then_some(())?;
    let arguments = json!({ "name": name }).to_string();
    let outcome = activate(agent, &arguments);
    let call = ToolCall {
        id: crate::store::new_id("call_host_"),
        name: ACTIVATE.into(),
        arguments,
    };
    Some((call, outcome))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateArgs {
    name: String,
    #[serde(default)]
    file: Option<String>,
}

fn activate(agent: &Agent, args: &str) -> ToolOutcome {
    let bad = |why: String| ToolOutcome::host("invalid-arguments", why, None);
    let a: ActivateArgs = match serde_json::from_str(args) {
        Ok(a) => a,
        Err(e) => return bad(format!("invalid arguments for {ACTIVATE}: {e}")),
    };
    let skills = agent.toolbox().agent_skills();
    let Some(s) = skills.iter().find(|s| s.skill.name == a.name) else {
        let names: Vec<&str> = skills.iter().map(|s| s.skill.name.as_str()).collect();
        return bad(format!(
            "no installed skill `{}`; the installed skills are: {}",
            a.name,
            names.join(", ")
        ));
    };
    let text = match a.file {
        None => activation(s),
        Some(f) => match reference(s, &f) {
            Ok(t) => t,
            Err(why) => return bad(why),
        },
    };
    ToolOutcome {
        reply: ToolReply::Output(text),
        audit: Vec::new(),
        elapsed: Duration::ZERO,
        approval: None,
    }
}

/// The activation text: the instructions and what else the skill holds.
pub fn activation(s: &InstalledAgentSkill) -> String {
    let (body, truncated) = cap(&s.skill.body, ACTIVATE_MAX_BYTES - 8 * 1024);
    let files: Vec<&str> = s
        .skill
        .files
        .keys()
        .filter(|p| p.starts_with("references/") || p.starts_with("assets/"))
        .map(String::as_str)
        .take(200)
        .collect();
    let scripts: Vec<&str> = s.skill.runnable().map(|s| s.path.as_str()).collect();
    let not_offered: Vec<serde_json::Value> = s
        .skill
        .not_offered()
        .map(|(sc, why)| json!({"script": sc.path, "why": why}))
        .collect();
    json!({
        "skill": s.skill.name,
        "instructions": body,
        "truncated": truncated,
        "files": files,
        "scripts": scripts,
        "scripts_not_offered": not_offered,
        "run_scripts_with": (!scripts.is_empty()).then(|| format!("{}__run_script", s.skill.name)),
    })
    .to_string()
}

fn reference(s: &InstalledAgentSkill, file: &str) -> Result<String, String> {
    if !(file.starts_with("references/") || file.starts_with("assets/")) {
        return Err(format!(
            "`{file}`: only files under references/ or assets/ can be read this way"
        ));
    }
    let bytes = s
        .skill
        .files
        .get(file)
        .ok_or_else(|| format!("skill {} has no file `{file}`", s.skill.name))?;
    let text = std::str::from_utf8(bytes)
        .map_err(|_| format!("`{file}` is not text (scripts can read it at /skill/{file})"))?;
    let (content, truncated) = cap(text, ACTIVATE_MAX_BYTES - 1024);
    Ok(
        json!({"skill": s.skill.name, "file": file, "content": content, "truncated": truncated})
            .to_string(),
    )
}

/// `text` cut to at most `max` bytes on a character boundary.
fn cap(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeArgs {
    code: String,
    #[serde(default)]
    stdin: Option<String>,
}

async fn code(agent: &Agent, lang: Lang, caller: &str, args: &str) -> ToolOutcome {
    let bad = |why: String| ToolOutcome::host("invalid-arguments", why, None);
    let a: CodeArgs = match serde_json::from_str(args) {
        Ok(a) => a,
        Err(e) => return bad(format!("invalid arguments for {}: {e}", lang.name())),
    };
    if a.code.len() > MAX_CODE_BYTES {
        return bad(format!(
            "the code is {} bytes, over the {MAX_CODE_BYTES}-byte limit",
            a.code.len()
        ));
    }
    let Some(interpreters) = agent.toolbox().interpreters() else {
        return ToolOutcome::host(
            "unavailable",
            "no interpreter is available to this agent".into(),
            Some("`chitin interpreter install`".into()),
        );
    };
    let input = RunInput {
        code: a.code,
        filename: Some(format!("<{}>", lang.name())),
        args: Vec::new(),
        stdin: a.stdin,
        cwd: "/scratch".into(),
    };
    match interpreters
        .run(caller, lang, RunFor::Code, &NoSecrets, &input)
        .await
    {
        Ok(outcome) => ToolOutcome::from_call(lang.name(), &outcome),
        Err(e) => ToolOutcome::host("unavailable", e.to_string(), None),
    }
}
