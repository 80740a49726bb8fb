//! `[heartbeat]`: an optional periodic turn that reads the user's checklist
//! (`data/HEARTBEAT.md`) and stays silent unless something needs the owner.

use serde::Deserialize;
use std::path::PathBuf;

/// The shortest heartbeat interval, in minutes.
pub const MIN_HEARTBEAT_MINUTES: u64 = 5;

/// `[heartbeat]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HeartbeatSection {
    /// Run the heartbeat (off unless the user turns it on).
    pub enabled: bool,
    /// Minutes between heartbeats (at least [`MIN_HEARTBEAT_MINUTES`]).
    pub every_minutes: u64,
    /// Where an answer goes (`telegram:CHAT`, …); unset or `web`: it stays
    /// in the "Heartbeat" session.
    pub deliver: Option<String>,
    /// The checklist file (default: `HEARTBEAT.md` in the data directory).
    pub file: Option<PathBuf>,
}

impl Default for HeartbeatSection {
    fn default() -> Self {
        HeartbeatSection {
            enabled: false,
            every_minutes: 30,
            deliver: None,
            file: None,
        }
    }
}

impl HeartbeatSection {
    /// What is wrong with it, for the config error.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.every_minutes < MIN_HEARTBEAT_MINUTES {
            out.push(format!(
                "heartbeat.every_minutes = {}: must be at least {MIN_HEARTBEAT_MINUTES}",
                self.every_minutes
            ));
        }
        if let Some(d) = &self.deliver
            && d != "web"
            && crate::channels::ChatRef::parse_target(d).is_none()
        {
            out.push(format!(
                "heartbeat.deliver = {:?}: use \"web\" or CHANNEL:CHAT (telegram:123, slack:C0123, discord:456)",
                chitin_sandbox::text::one_line(d, 80)
            ));
        }
        out
    }
}
