//! One tool call: a fresh `Store` from the skill's `InstancePre`, built by
//! installing each capability's plan (see [`super::plan`]), the call run
//! under the wall-clock timeout with its CPU metered, and its end classified
//! ([`super::classify`]). Nothing a skill does here can crash or hang the
//! host.

use super::classify::{Facts, classify};
use super::loader::LoadedSkill;
use super::outcome::{CallError, CallOutcome};
use super::plan::CallPlan;
use super::state::CallState;
use crate::audit::Audit;
use crate::capabilities::cpu::Metered;
use crate::capabilities::{CallParts, SetupError};
use crate::engine::SkillEngine;
use std::time::Instant;
use wasmtime::{Store, UpdateDeadline};

/// Build the store for one call: each capability installs its part.
pub(crate) fn new_store(
    engine: &SkillEngine,
    plan: &CallPlan,
    audit: &Audit,
) -> Result<Store<CallState>, CallError> {
    let mut parts = CallParts::new(audit.clone(), plan.redactor().clone(), plan.limits());
    for factor in plan.factors() {
        factor.install(&mut parts).map_err(|e| match e {
            SetupError::Denied(m) => CallError::Denied(m),
            SetupError::Host(m) => CallError::Host(m),
        })?;
    }
    let state = CallState::from_parts(parts).map_err(|e| CallError::Host(e.to_string()))?;
    let mut store = Store::new(engine.engine(), state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|ctx| {
        if ctx.data().cpu.over_budget() {
            return Err(wasmtime::format_err!("cpu limit exceeded"));
        }
        // Yield so the wall-clock timeout can fire even in a busy loop.
        Ok(UpdateDeadline::Yield(1))
    });
    Ok(store)
}

/// The engine's pool had no room to instantiate the skill (nothing of it
/// ran): wait for another call to end and try again.
pub(crate) struct PoolFull;

/// Whether instantiation failed only because the pool is full.
fn pool_full(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
    })
}

/// Run `tool` of `skill` with `input` as `plan` allows.
pub(crate) async fn call(
    engine: &SkillEngine,
    skill: &LoadedSkill,
    plan: &CallPlan,
    tool: &str,
    input: &str,
) -> Result<CallOutcome, PoolFull> {
    let start = Instant::now();
    let audit = Audit::new(&skill.name, tool);
    audit.set_redactor(plan.redactor().clone());
    let limits = plan.limits();
    let ungranted = plan.ungranted().to_vec();

    let mut store = match new_store(engine, plan, &audit) {
        Ok(s) => s,
        Err(e) => {
            return Ok(CallOutcome {
                result: Err(e),
                limit: None,
                audit: audit.events(),
                ungranted,
                logs: Vec::new(),
                logs_dropped: 0,
                elapsed: start.elapsed(),
            });
        }
    };

    let meter = store.data().cpu.clone();
    let mut instantiated = false;
    let mut full = false;
    let run = async {
        let instance = skill
            .pre
            .instantiate_async(&mut store)
            .await
            .inspect_err(|e| {
                full = pool_full(e);
            })?;
        instantiated = true;
        instance
            .chitin_skill_tools()
            .call_call(&mut store, tool, input)
            .await
    };
    let raw = tokio::time::timeout(limits.timeout(), Metered::new(meter, run)).await;
    if full {
        return Err(PoolFull);
    }
    let state = store.data();
    let facts = Facts {
        skill: &skill.name,
        instantiated,
        cpu_hit: state.cpu.hit(),
        memory_hit: state.limiter.hit,
        disk_hit: state.fs.disk.hit(),
        descriptors_refused: state.fs.descriptors.refused(),
    };
    let (limit, result) = classify(raw, &facts, &limits, plan.redactor(), &audit);
    let (logs, logs_dropped) = store.data().logs.take();
    drop(store);
    Ok(CallOutcome {
        result,
        limit,
        audit: audit.events(),
        ungranted,
        logs,
        logs_dropped,
        elapsed: start.elapsed(),
    })
}
