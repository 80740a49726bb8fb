//! The user's policy for each tool: `allow`, `ask` or `deny`. The default
//! follows the tool's declared effects (read-only tools run, anything that
//! writes, goes to the network or uses a secret asks); the user can change
//! it (`chitin tools policy`, the daemon's API), the agent never can.

use serde::{Deserialize, Serialize};

/// What happens when the model calls a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Run it.
    Allow,
    /// Ask the human each time.
    Ask,
    /// Refuse it (the model is told).
    Deny,
}

impl Policy {
    /// `allow`, `ask` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Allow => "allow",
            Policy::Ask => "ask",
            Policy::Deny => "deny",
        }
    }

    /// Parse `allow`, `ask` or `deny`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "allow" => Some(Policy::Allow),
            "ask" => Some(Policy::Ask),
            "deny" => Some(Policy::Deny),
            _ => None,
        }
    }

    /// The default for a tool with these declared effects, in a skill that
    /// was (`reaches_out`) or was not granted network access or a secret:
    /// only tools that at most read files run without asking. Declared
    /// effects are the skill's own claim, so a skill that can reach the
    /// network always asks, whatever its tools declare.
    pub fn default_for(effects: &[String], reaches_out: bool) -> Self {
        if !reaches_out && effects.iter().all(|e| e == "reads-files") {
            Policy::Allow
        } else {
            Policy::Ask
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_effects() {
        let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (effects, want) in [
            (e(&[]), Policy::Allow),
            (e(&["reads-files"]), Policy::Allow),
            (e(&["reads-files", "writes-files"]), Policy::Ask),
            (e(&["network"]), Policy::Ask),
            (e(&["uses-secret:GITHUB_TOKEN"]), Policy::Ask),
        ] {
            assert_eq!(Policy::default_for(&effects, false), want, "{effects:?}");
            assert_eq!(
                Policy::default_for(&effects, true),
                Policy::Ask,
                "{effects:?}"
            );
        }
        assert_eq!(Policy::parse("ask"), Some(Policy::Ask));
        assert_eq!(Policy::parse("yes"), None);
    }
}
