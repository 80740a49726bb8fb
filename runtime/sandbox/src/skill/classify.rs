//! Every way a call can end, turned into a typed outcome: a limit (and
//! which), a trap, a refusal before the skill started, the tool's own error,
//! or its output. Everything the skill wrote is redacted and capped.

use super::bindings::WitToolError;
use super::outcome::CallError;
use crate::audit::{Audit, Capability};
use crate::capabilities::fs::quota::QuotaKind;
use crate::capabilities::limits::{LimitKind, Limits};
use crate::redact::Redactor;
use wasmtime::Trap;

/// What the call's capabilities saw, read after it ran.
pub(crate) struct Facts<'a> {
    pub skill: &'a str,
    pub instantiated: bool,
    pub cpu_hit: bool,
    pub memory_hit: bool,
    pub disk_hit: Option<QuotaKind>,
    pub descriptors_refused: bool,
}

/// What running the call returned: timed out, trapped, the tool's result.
pub(crate) type Raw =
    Result<wasmtime::Result<Result<String, WitToolError>>, tokio::time::error::Elapsed>;

/// The call's result and the limit that stopped it, if one did (audited).
pub(crate) fn classify(
    raw: Raw,
    f: &Facts<'_>,
    limits: &Limits,
    redactor: &Redactor,
    audit: &Audit,
) -> (Option<LimitKind>, Result<String, CallError>) {
    let (disk_hit, descriptors_refused) = (f.disk_hit, f.descriptors_refused);
    let failed = !matches!(raw, Ok(Ok(Ok(_))));
    let (limit, result) = match raw {
        Err(_) => (
            Some(LimitKind::Timeout),
            Err(format!(
                "the call took longer than {} ms (wall-clock limit)",
                limits.timeout_ms
            )),
        ),
        Ok(Err(_)) if f.cpu_hit => (
            Some(LimitKind::Cpu),
            Err(format!(
                "the skill used more than {} ms of CPU (cpu limit)",
                limits.cpu_ms
            )),
        ),
        Ok(Err(_)) if f.memory_hit => (
            Some(LimitKind::Memory),
            Err(format!(
                "the skill needed more than {} MiB of memory (memory limit)",
                limits.memory_mib
            )),
        ),
        Ok(Err(e)) if e.downcast_ref::<Trap>() == Some(&Trap::StackOverflow) => (
            Some(LimitKind::Stack),
            Err("the skill overflowed its stack (recursion too deep)".to_string()),
        ),
        // A failure after the host refused disk or descriptors is that limit.
        _ if failed && disk_hit == Some(QuotaKind::Bytes) => (
            Some(LimitKind::Disk),
            Err(format!(
                "the skill tried to write more than {} MiB to its directories (disk quota)",
                limits.disk_mib
            )),
        ),
        _ if failed && disk_hit == Some(QuotaKind::Files) => (
            Some(LimitKind::DiskFiles),
            Err(format!(
                "the skill tried to create more than {} files (disk quota)",
                limits.disk_files
            )),
        ),
        _ if failed && descriptors_refused => (
            Some(LimitKind::Descriptors),
            Err(format!(
                "the skill tried to hold more than {} files and connections open at once (descriptor limit)",
                crate::capabilities::descriptors::PER_CALL
            )),
        ),
        Ok(Err(e)) if !f.instantiated => {
            // The trap and its cause only: a backtrace would quote names the
            // component chose, at any length.
            let cause = match e.downcast_ref::<Trap>() {
                Some(trap) => format!("{trap}: {}", e.root_cause()),
                None => e.root_cause().to_string(),
            };
            let cause = crate::text::cap(&cause, 4096).into_owned();
            tracing::warn!(
                "cannot instantiate skill {}: {}",
                f.skill,
                crate::text::one_line(&cause, 1000)
            );
            (
                None,
                Ok(Err(CallError::Host(format!(
                    "cannot start the skill: {cause}"
                )))),
            )
        }
        Ok(Err(e)) => {
            tracing::debug!(
                "skill trapped: {}",
                crate::text::one_line(&format!("{e:?}"), 4000)
            );
            // The trap and its cause, without the (long) wasm backtrace.
            let message = match e.downcast_ref::<Trap>() {
                Some(trap) => format!("{trap}: {}", e.root_cause()),
                None => e.root_cause().to_string(),
            };
            (None, Ok(Err(CallError::Trap(message))))
        }
        Ok(Ok(Err(tool_error))) => (None, Ok(Err(map_tool_error(tool_error)))),
        Ok(Ok(Ok(output))) if output.len() > limits.output_bytes() => (
            Some(LimitKind::Output),
            Err(format!(
                "the output was {} bytes, over the {} KiB limit",
                output.len(),
                limits.output_kib
            )),
        ),
        Ok(Ok(Ok(output))) => (None, Ok(Ok(output))),
    };
    let result = match result {
        Err(limit_message) => {
            // Disk and descriptor refusals were audited when they happened.
            if let Some(kind) = limit.filter(|k| {
                !matches!(
                    k,
                    LimitKind::Disk | LimitKind::DiskFiles | LimitKind::Descriptors
                )
            }) {
                audit.deny(
                    Capability::Limit,
                    kind.to_string(),
                    limit_message.clone(),
                    Some(format!(
                        "raise the {kind} limit in the grant if this is expected"
                    )),
                );
            }
            Err(CallError::Limit(limit_message))
        }
        Ok(Ok(out)) => Ok(redactor.redact(&out)),
        Ok(Err(e)) => Err(cap_error(redact_error(e, redactor), limits.output_bytes())),
    };
    (limit, result)
}

fn map_tool_error(e: WitToolError) -> CallError {
    match e {
        WitToolError::UnknownTool(m) => CallError::UnknownTool(m),
        WitToolError::InvalidInput(m) => CallError::InvalidInput(m),
        WitToolError::Denied(m) => CallError::Denied(m),
        WitToolError::Failed(m) => CallError::Failed(m),
    }
}

fn redact_error(e: CallError, r: &Redactor) -> CallError {
    match e {
        CallError::UnknownTool(m) => CallError::UnknownTool(r.redact(&m)),
        CallError::InvalidInput(m) => CallError::InvalidInput(r.redact(&m)),
        CallError::Denied(m) => CallError::Denied(r.redact(&m)),
        CallError::Failed(m) => CallError::Failed(r.redact(&m)),
        CallError::Limit(m) => CallError::Limit(m),
        CallError::Trap(m) => CallError::Trap(r.redact(&m)),
        CallError::Host(m) => CallError::Host(m),
        CallError::Busy(m) => CallError::Busy(m),
    }
}

/// Cap a message the skill controls at the call's output limit.
fn cap_error(e: CallError, max: usize) -> CallError {
    let cap = |m: String| crate::text::cap(&m, max).into_owned();
    match e {
        CallError::UnknownTool(m) => CallError::UnknownTool(cap(m)),
        CallError::InvalidInput(m) => CallError::InvalidInput(cap(m)),
        CallError::Denied(m) => CallError::Denied(cap(m)),
        CallError::Failed(m) => CallError::Failed(cap(m)),
        CallError::Trap(m) => CallError::Trap(cap(m)),
        CallError::Host(m) => CallError::Host(cap(m)),
        other => other,
    }
}
