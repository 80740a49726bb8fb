//! Audit events: every capability use and every denial during a call.
//!
//! Events are collected per call (returned to the caller with the result)
//! and mirrored to `tracing` under the `chitin::audit` target.

use crate::redact::Redactor;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which capability an event concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Filesystem mounts.
    Fs,
    /// Outbound HTTP.
    Net,
    /// Secret injection.
    Secret,
    /// Raw sockets (always denied).
    Socket,
    /// Resource limits (memory, CPU, time, output, log volume).
    Limit,
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Capability::Fs => "fs",
            Capability::Net => "net",
            Capability::Secret => "secret",
            Capability::Socket => "socket",
            Capability::Limit => "limit",
        })
    }
}

/// Whether the host allowed or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The operation went ahead.
    Allow,
    /// The operation was refused.
    Deny,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Skill name.
    pub skill: String,
    /// Tool name.
    pub tool: String,
    /// Capability concerned.
    pub capability: Capability,
    /// Allowed or denied.
    pub decision: Decision,
    /// What was attempted, e.g. `GET http://example.com/` or `/workspace (rw)`.
    pub target: String,
    /// Why the host decided so.
    pub reason: String,
    /// For denials: how the user could grant it, if they want to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A shared, append-only event list for one call. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    skill: Arc<str>,
    tool: Arc<str>,
    events: Arc<Mutex<Vec<AuditEvent>>>,
    /// Events past [`MAX_EVENTS`], counted (and said, see [`Audit::events`]).
    dropped: Arc<std::sync::atomic::AtomicU64>,
    redactor: Arc<OnceLock<Redactor>>,
}

/// Most events kept per call; a hostile skill cannot grow the list forever.
pub const MAX_EVENTS: usize = 1000;
/// Longest target or reason kept in an event, in bytes.
const MAX_FIELD: usize = 2048;

impl Audit {
    /// A new, empty audit trail for a call of `skill`'s `tool`.
    pub fn new(skill: &str, tool: &str) -> Self {
        Audit {
            skill: skill.into(),
            tool: tool.into(),
            events: Arc::default(),
            dropped: Arc::default(),
            redactor: Arc::default(),
        }
    }

    /// Record an allowed operation.
    pub fn allow(
        &self,
        capability: Capability,
        target: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.push(
            capability,
            Decision::Allow,
            target.into(),
            reason.into(),
            None,
        );
    }

    /// Record a refused operation, with a hint on how to grant it.
    pub fn deny(
        &self,
        capability: Capability,
        target: impl Into<String>,
        reason: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(
            capability,
            Decision::Deny,
            target.into(),
            reason.into(),
            hint,
        );
    }

    /// Redact secret values from every event recorded from now on (set
    /// once, as soon as the call's secrets are known).
    pub fn set_redactor(&self, redactor: Redactor) {
        let _ = self.redactor.set(redactor);
    }

    fn push(
        &self,
        capability: Capability,
        decision: Decision,
        target: String,
        reason: String,
        hint: Option<String>,
    ) {
        let (target, reason) = match self.redactor.get() {
            Some(r) => (r.redact(&target), r.redact(&reason)),
            None => (target, reason),
        };
        // Targets and reasons quote what the skill asked for: bounded.
        let target = crate::text::cap(&target, MAX_FIELD).into_owned();
        let reason = crate::text::cap(&reason, MAX_FIELD).into_owned();
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if events.len() >= MAX_EVENTS {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let shown = |s: &str| crate::text::one_line(s, 500);
        match decision {
            Decision::Allow => {
                tracing::debug!(target: "chitin::audit", skill = %shown(&self.skill), tool = %shown(&self.tool),
                %capability, target = %shown(&target), reason = %shown(&reason), "allow")
            }
            Decision::Deny => {
                tracing::info!(target: "chitin::audit", skill = %shown(&self.skill), tool = %shown(&self.tool),
                %capability, target = %shown(&target), reason = %shown(&reason), "deny")
            }
        }
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        events.push(AuditEvent {
            at_ms,
            skill: self.skill.to_string(),
            tool: self.tool.to_string(),
            capability,
            decision,
            target,
            reason,
            hint,
        });
    }

    /// A copy of the events so far; past [`MAX_EVENTS`] the last one says
    /// how many more were dropped.
    pub fn events(&self) -> Vec<AuditEvent> {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let dropped = self.dropped.load(std::sync::atomic::Ordering::Relaxed);
        if dropped > 0 {
            events.push(AuditEvent {
                at_ms: events.last().map_or(0, |e| e.at_ms),
                skill: self.skill.to_string(),
                tool: self.tool.to_string(),
                capability: Capability::Limit,
                decision: Decision::Deny,
                target: "audit".into(),
                reason: format!(
                    "{dropped} more events were not recorded: at most {MAX_EVENTS} are kept per call"
                ),
                hint: None,
            });
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_past_the_cap_are_counted_and_said() {
        let a = Audit::new("s", "t");
        for i in 0..MAX_EVENTS + 5 {
            a.deny(Capability::Fs, format!("open {i}"), "no", None);
        }
        let events = a.events();
        assert_eq!(events.len(), MAX_EVENTS + 1);
        let last = events.last().unwrap();
        assert!(
            last.reason.starts_with("5 more events were not recorded"),
            "{last:?}"
        );
    }
}
