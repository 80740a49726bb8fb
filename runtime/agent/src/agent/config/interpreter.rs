//! `[interpreter]`: the sandboxed code interpreter (the `python` and `js`
//! tools) and the limits every interpreter call gets, an Agent Skill's
//! scripts included.

use chitin_sandbox::capabilities::limits::Limits;
use chitin_sandbox::capabilities::net::rules::NetRule;
use serde::Deserialize;

/// `[interpreter]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InterpreterSection {
    /// Offer the `python` and `js` tools (when the interpreters are
    /// installed: `chitin interpreter install`).
    pub enabled: bool,
    /// Memory of one call, MiB (CPython needs more than a skill's default).
    pub memory_mib: u32,
    /// CPU time of one call, milliseconds.
    pub cpu_ms: u32,
    /// Wall-clock time of one call, milliseconds.
    pub timeout_ms: u32,
    /// How large a session's scratch directory may grow, MiB.
    pub scratch_mib: u32,
    /// Hosts the model's code may reach (`https://api.example.com`, as in
    /// `--allow-net`); none by default.
    pub allow_net: Vec<String>,
}

impl Default for InterpreterSection {
    fn default() -> Self {
        InterpreterSection {
            enabled: true,
            memory_mib: 256,
            cpu_ms: 10_000,
            timeout_ms: 30_000,
            scratch_mib: 256,
            allow_net: Vec::new(),
        }
    }
}

impl InterpreterSection {
    /// The limits of one code-interpreter call.
    pub fn limits(&self) -> Limits {
        Limits {
            memory_mib: self.memory_mib,
            cpu_ms: self.cpu_ms,
            timeout_ms: self.timeout_ms,
            ..Limits::default()
        }
    }

    /// `limits` raised to what the interpreter itself needs: an Agent
    /// Skill's granted limits were set for its scripts, not for the CPython
    /// or JavaScript engine that runs them.
    pub fn at_least(&self, limits: Limits) -> Limits {
        Limits {
            memory_mib: limits.memory_mib.max(self.memory_mib),
            cpu_ms: limits.cpu_ms.max(self.cpu_ms),
            timeout_ms: limits.timeout_ms.max(self.timeout_ms),
            ..limits
        }
    }

    /// The network rules, or which entry is wrong.
    pub fn net_rules(&self) -> Result<Vec<NetRule>, String> {
        self.allow_net
            .iter()
            .map(|u| NetRule::parse(u).map_err(|e| format!("interpreter.allow_net: `{u}`: {e}")))
            .collect()
    }

    /// Problems, for the config check.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = self.net_rules() {
            out.push(e);
        }
        if let Some((key, value, max)) = self.limits().out_of_range() {
            out.push(format!(
                "interpreter.{key} = {value}: must be between 1 and {max}"
            ));
        }
        out
    }
}
