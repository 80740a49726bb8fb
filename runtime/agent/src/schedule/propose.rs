//! The `propose_job` host tool: the agent may suggest a scheduled job, but
//! it only records a proposal. A proposal never runs; the owner turns it
//! into a job with `chitin cron confirm ID` after reading it (the same
//! principle as grants: the agent never raises its own reach).

use super::job::{NewJob, make};
use super::spec::Spec;
use crate::agent::Agent;
use crate::agent::dispatch::{ToolOutcome, ToolReply};
use crate::messages::ToolSpec;
use crate::store::Proposal;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// The tool's name.
pub const PROPOSE: &str = "propose_job";

/// Proposals kept waiting at most (the oldest must be confirmed or
/// removed first).
pub const MAX_PROPOSALS: usize = 50;

/// Its spec.
pub fn spec() -> ToolSpec {
    ToolSpec {
        name: PROPOSE.into(),
        description: "Propose a scheduled job (a prompt run on a schedule, its answer delivered to the owner). It is NOT created: the owner must confirm it with `chitin cron confirm ID`. Give exactly one of `cron` (with `tz`, an IANA zone), `at` (\"in 20 minutes\" or an RFC 3339 time) or `every` (\"30m\", \"2h\", \"1d\").".into(),
        input_schema: json!({
            "type": "object",
            "required": ["name", "prompt"],
            "properties": {
                "name": {"type": "string", "description": "letters, digits, - or _"},
                "prompt": {"type": "string", "description": "what the job asks each time it runs"},
                "cron": {"type": "string", "description": "five-field cron expression, e.g. \"0 7 * * *\""},
                "tz": {"type": "string", "description": "IANA time zone for cron (default UTC)"},
                "at": {"type": "string"},
                "every": {"type": "string"},
                "deliver": {"type": "string", "description": "web (default) or CHANNEL:CHAT"}
            }
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    name: String,
    prompt: String,
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    tz: Option<String>,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    every: Option<String>,
    #[serde(default)]
    deliver: Option<String>,
}

fn bad(why: String) -> ToolOutcome {
    ToolOutcome::host("invalid-arguments", why, None)
}

/// Record the proposal from session `caller`.
pub fn run(agent: &Agent, caller: &str, args: &str) -> ToolOutcome {
    let a: Args = match serde_json::from_str(args) {
        Ok(a) => a,
        Err(e) => return bad(format!("invalid arguments for {PROPOSE}: {e}")),
    };
    let now = crate::store::now_ms();
    let spec = match (&a.cron, &a.at, &a.every) {
        (Some(c), None, None) => Spec::cron(c, a.tz.as_deref().unwrap_or("UTC")),
        (None, Some(t), None) => Spec::at(t, now),
        (None, None, Some(e)) => Spec::every(e),
        _ => return bad("give exactly one of `cron`, `at` or `every`".into()),
    };
    let spec = match spec {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    // Checked like the owner's own `cron add` would check it.
    let new = NewJob {
        name: &a.name,
        spec: &spec,
        prompt: &a.prompt,
        deliver: a.deliver.as_deref(),
        approvals: "deny",
        missed: "once",
        max_tokens: None,
        max_usd: None,
    };
    let job = match make(&new, now) {
        Ok(j) => j,
        Err(e) => return bad(e.to_string()),
    };
    let store = agent.store();
    match store.proposals() {
        Ok(p) if p.len() >= MAX_PROPOSALS => {
            return ToolOutcome::host(
                "refused",
                format!("{MAX_PROPOSALS} proposals already wait for the owner"),
                Some("ask the owner to confirm or remove them (`chitin cron list`)".into()),
            );
        }
        Ok(_) => {}
        Err(e) => return ToolOutcome::host("failed", e.to_string(), None),
    }
    let proposal = Proposal {
        id: String::new(),
        name: job.name,
        kind: job.kind,
        expr: job.expr,
        tz: job.tz,
        prompt: job.prompt,
        deliver: job.deliver,
        session: caller.to_string(),
        created_ms: 0,
    };
    match store.propose_job(proposal) {
        Ok(p) => ToolOutcome {
            reply: ToolReply::Output(
                json!({
                    "proposed": p.id,
                    "created": false,
                    "note": format!("The job is not created. Tell the owner to review and confirm it with `chitin cron confirm {}`.", p.id),
                })
                .to_string(),
            ),
            audit: Vec::new(),
            elapsed: Duration::ZERO,
            approval: None,
        },
        Err(e) => ToolOutcome::host("failed", e.to_string(), None),
    }
}
