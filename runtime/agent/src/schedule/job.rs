//! Making a job from what the owner typed (`chitin cron add`) or confirmed
//! (a proposal): every field checked, each error naming its input.

use super::spec::{Spec, SpecError, next_after};
use crate::store::Job;
use thiserror::Error;

/// Longest job name.
pub const MAX_NAME_CHARS: usize = 64;

/// Longest prompt.
pub const MAX_PROMPT_CHARS: usize = 8_000;

/// A job that cannot be made.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum JobError {
    /// The schedule does not parse.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A bad name.
    #[error("`{0}` is not a job name: use 1 to 64 letters, digits, `-` or `_`")]
    BadName(String),
    /// An empty or too long prompt.
    #[error("the prompt must be 1 to {MAX_PROMPT_CHARS} characters")]
    BadPrompt,
    /// A bad delivery target.
    #[error(
        "`{0}` is not a delivery target: use web or CHANNEL:CHAT (telegram:123, slack:C0123, discord:456)"
    )]
    BadDeliver(String),
    /// A bad approvals mode.
    #[error("`{0}` is not an approvals mode: use deny or ask")]
    BadApprovals(String),
    /// A bad missed-run rule.
    #[error("`{0}` is not a missed-run rule: use once or skip")]
    BadMissed(String),
    /// A spend cap that is not a positive amount.
    #[error("--max-usd {0}: must be a positive amount of USD")]
    BadMaxUsd(String),
    /// The schedule never runs.
    #[error("the schedule never runs")]
    Never,
}

/// What a new job is made from.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// Its name.
    pub name: &'a str,
    /// When it runs.
    pub spec: &'a Spec,
    /// What it asks.
    pub prompt: &'a str,
    /// Where the answer goes (`web` or `None`: the web page).
    pub deliver: Option<&'a str>,
    /// `deny` (default) or `ask`.
    pub approvals: &'a str,
    /// `once` (default) or `skip`.
    pub missed: &'a str,
    /// Tokens per run.
    pub max_tokens: Option<u64>,
    /// USD per run (a priced model).
    pub max_usd: Option<f64>,
}

/// Whether `name` is a job name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The job, first due after `now_ms`.
pub fn make(n: &NewJob<'_>, now_ms: i64) -> Result<Job, JobError> {
    let shown = |s: &str| chitin_sandbox::text::one_line(s, 80);
    if !valid_name(n.name) {
        return Err(JobError::BadName(shown(n.name)));
    }
    let prompt = n.prompt.trim();
    if prompt.is_empty() || prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(JobError::BadPrompt);
    }
    let deliver = match n.deliver {
        None | Some("web") => None,
        Some(d) if crate::channels::ChatRef::parse_target(d).is_some() => Some(d.to_string()),
        Some(d) => return Err(JobError::BadDeliver(shown(d))),
    };
    if !matches!(n.approvals, "deny" | "ask") {
        return Err(JobError::BadApprovals(shown(n.approvals)));
    }
    if !matches!(n.missed, "once" | "skip") {
        return Err(JobError::BadMissed(shown(n.missed)));
    }
    if let Some(usd) = n.max_usd
        && !(usd.is_finite() && usd > 0.0)
    {
        return Err(JobError::BadMaxUsd(usd.to_string()));
    }
    let next = next_after(n.spec, now_ms).ok_or(JobError::Never)?;
    Ok(Job {
        name: n.name.to_string(),
        kind: n.spec.kind().into(),
        expr: n.spec.expr(),
        tz: n.spec.tz(),
        prompt: prompt.to_string(),
        deliver,
        approvals: n.approvals.into(),
        missed: n.missed.into(),
        paused: false,
        max_tokens: n.max_tokens,
        max_usd: n.max_usd,
        next_due_ms: Some(next),
        last_run_ms: None,
        created_ms: now_ms,
    })
}
