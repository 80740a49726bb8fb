//! One tool call: a fresh `Store` from the skill's `InstancePre`, a WASI
//! context built from the grants only, limits armed, the call run under a
//! wall-clock timeout, and every way it can end turned into a typed outcome.
//! Nothing a skill does here can crash or hang the host.

use super::bindings::WitToolError;
use super::loader::LoadedSkill;
use super::state::CallState;
use crate::audit::{Audit, AuditEvent, Capability};
use crate::capabilities::Grants;
use crate::capabilities::cpu::{CpuMeter, Metered};
use crate::capabilities::descriptors::Descriptors;
use crate::capabilities::fs::guard::FsGuard;
use crate::capabilities::fs::protected::ProtectedPaths;
use crate::capabilities::fs::quota::{DiskBudget, QuotaKind};
use crate::capabilities::fs::{self, FsError};
use crate::capabilities::limits::{LimitKind, MemoryLimiter};
use crate::capabilities::log::{LogLine, LogSink};
use crate::capabilities::net::NetHooks;
use crate::capabilities::secrets::InjectedSecret;
use crate::engine::SkillEngine;
use crate::redact::Redactor;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;

/// Most resource handles (files, streams, HTTP objects) one call may hold.
pub const MAX_RESOURCES: usize = 2048;
/// Most bytes of one HTTP header map (wasi:http `fields`).
pub const MAX_FIELDS_BYTES: usize = 32 * 1024;
/// Most random bytes one `get-random-bytes` may ask for.
pub const MAX_RANDOM_BYTES: u64 = 1024 * 1024;

/// Where secret values come from (the host's secret store, or a test map).
pub trait SecretSource: Sync {
    /// The value of `name`, if set.
    fn secret(&self, name: &str) -> Option<String>;
}

impl SecretSource for crate::capabilities::secrets::SecretStore {
    fn secret(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }
}

impl SecretSource for std::collections::HashMap<String, String> {
    fn secret(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// No secrets at all.
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn secret(&self, _: &str) -> Option<String> {
        None
    }
}

/// Why a call did not produce output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "kebab-case")]
pub enum CallError {
    /// The skill has no such tool.
    #[error("unknown tool: {0}")]
    UnknownTool(String),
    /// The skill rejected its input.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An operation was refused by the sandbox.
    #[error("denied: {0}")]
    Denied(String),
    /// The tool reported a failure.
    #[error("failed: {0}")]
    Failed(String),
    /// A limit stopped the call.
    #[error("{0}")]
    Limit(String),
    /// The skill crashed (trapped).
    #[error("the skill crashed: {0}")]
    Trap(String),
    /// The host could not set the call up (e.g. a granted directory vanished).
    #[error("cannot run the call: {0}")]
    Host(String),
}

/// A capability the manifest requests that this call was not granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ungranted {
    /// Which capability.
    pub capability: Capability,
    /// Its ID: `fs:/workspace`, `net:https://host`, `secret:NAME`.
    pub id: String,
    /// What was requested, in words.
    pub what: String,
    /// The flag that would grant it.
    pub hint: String,
}

/// Everything a call produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallOutcome {
    /// Output, or why there is none (secret values redacted).
    pub result: Result<String, CallError>,
    /// Which limit stopped the call, if one did.
    pub limit: Option<LimitKind>,
    /// Capability uses and denials, in order.
    pub audit: Vec<AuditEvent>,
    /// Requested capabilities that were not granted.
    pub ungranted: Vec<Ungranted>,
    /// Skill log lines kept.
    pub logs: Vec<LogLine>,
    /// Log lines dropped over the budget.
    pub logs_dropped: u64,
    /// Wall time of the call.
    pub elapsed: Duration,
}

impl CallOutcome {
    /// The denials recorded during the call.
    pub fn denials(&self) -> impl Iterator<Item = &AuditEvent> {
        self.audit
            .iter()
            .filter(|e| e.decision == crate::audit::Decision::Deny)
    }
}

fn ungranted(skill: &LoadedSkill, grants: &Grants) -> Vec<Ungranted> {
    let Some(m) = &skill.manifest else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in &m.capabilities.fs {
        if !grants.fs.iter().any(|g| g.guest == r.guest) {
            let access = if r.access == fs::Access::ReadWrite {
                "rw"
            } else {
                "ro"
            };
            out.push(Ungranted {
                capability: Capability::Fs,
                id: format!("fs:{}", r.guest),
                what: format!("{} access to a directory mounted at {}", r.access, r.guest),
                hint: format!("--allow-dir <DIR>:{}:{access}", r.guest),
            });
        }
    }
    for r in &m.capabilities.net {
        if !grants.net.contains(&r.url) {
            out.push(Ungranted {
                capability: Capability::Net,
                id: format!("net:{}", r.url),
                what: format!("connect to {}", r.url),
                hint: format!("--allow-host {}", r.url),
            });
        }
    }
    for r in &m.capabilities.secrets {
        if !grants.secrets.iter().any(|g| g.name == r.name) {
            out.push(Ungranted {
                capability: Capability::Secret,
                id: format!("secret:{}", r.name),
                what: format!("use your {} secret, sent only to {}", r.name, r.host),
                hint: format!("--allow-secret {}", r.name),
            });
        }
    }
    out
}

fn resolve_secrets(
    grants: &Grants,
    source: &dyn SecretSource,
    audit: &Audit,
) -> Vec<InjectedSecret> {
    let mut out = Vec::new();
    for rule in &grants.secrets {
        let target = match rule.target() {
            Ok(t) => t,
            Err(e) => {
                audit.deny(Capability::Secret, &rule.name, e.to_string(), None);
                continue;
            }
        };
        match source.secret(&rule.name) {
            // Every source, not only the secret store: a value too short to
            // redact reliably is never injected.
            Some(value) if value.chars().count() < crate::capabilities::secrets::MIN_LEN => audit
                .deny(
                    Capability::Secret,
                    &rule.name,
                    format!(
                        "secret {} is shorter than {} characters, too short to redact reliably; not injected",
                        rule.name,
                        crate::capabilities::secrets::MIN_LEN
                    ),
                    None,
                ),
            Some(value) => out.push(InjectedSecret {
                rule: rule.clone(),
                target,
                value,
            }),
            None => audit.deny(
                Capability::Secret,
                &rule.name,
                format!("secret {} is granted but not set", rule.name),
                Some(format!("set it with `chitin secret set {}`", rule.name)),
            ),
        }
    }
    out
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
    }
}

/// Build the store for one call: only what `grants` allow.
fn new_store(
    engine: &SkillEngine,
    protected: &ProtectedPaths,
    grants: &Grants,
    secrets: Vec<InjectedSecret>,
    redactor: &Redactor,
    audit: &Audit,
) -> Result<Store<CallState>, CallError> {
    let limits = grants.limits;
    let logs = LogSink::new(limits.log_bytes(), redactor.clone(), audit.clone());
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(logs.stream("stdout"))
        .stderr(logs.stream("stderr"))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        // Random bytes are made in host memory before the guest gets them.
        .max_random_size(MAX_RANDOM_BYTES);
    let preopens = fs::prepare(&grants.fs, protected, audit).map_err(|e| match e {
        FsError::Swapped { .. } | FsError::Protected { .. } => CallError::Denied(e.to_string()),
        other => CallError::Host(other.to_string()),
    })?;
    let descriptors = Descriptors::new();
    for (dir, _) in &preopens {
        descriptors.opened(&dir.dir);
    }
    let disk = DiskBudget::new(
        limits.disk_bytes(),
        u64::from(limits.disk_files),
        audit.clone(),
    );
    let net = NetHooks::new(
        grants.net.clone(),
        secrets,
        audit.clone(),
        limits.http_requests,
        u64::from(limits.http_response_kib) * 1024,
        descriptors.clone(),
    );
    // Host-side memory a guest can pin through resources is bounded: at most
    // MAX_RESOURCES handles, and HTTP header maps of at most MAX_FIELDS_BYTES.
    let mut http = WasiHttpCtx::new();
    http.set_field_size_limit(MAX_FIELDS_BYTES);
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_RESOURCES);
    let state = CallState {
        wasi: wasi.build(),
        http,
        table,
        net,
        fs: FsGuard::new(preopens, disk, descriptors, audit.clone()),
        fs_ctx: Default::default(),
        limiter: MemoryLimiter::new(&limits),
        logs,
        cpu: CpuMeter::new(limits.cpu_ns(), limits.cpu_ticks()),
        audit: audit.clone(),
    };
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

/// A store with nothing granted, for `list-tools`.
pub(crate) fn new_store_for_describe(
    engine: &SkillEngine,
    grants: &Grants,
    audit: &Audit,
) -> Result<Store<CallState>, CallError> {
    new_store(
        engine,
        &ProtectedPaths::none(),
        grants,
        Vec::new(),
        &Redactor::default(),
        audit,
    )
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

/// Run `tool` of `skill` with `input` under `grants`.
pub async fn call(
    engine: &SkillEngine,
    protected: &ProtectedPaths,
    skill: &LoadedSkill,
    grants: &Grants,
    secrets: &dyn SecretSource,
    tool: &str,
    input: &str,
) -> CallOutcome {
    let start = Instant::now();
    let audit = Audit::new(&skill.name, tool);
    let injected = resolve_secrets(grants, secrets, &audit);
    let redactor = Redactor::new(injected.iter().map(|s| s.value.as_str()));
    audit.set_redactor(redactor.clone());
    let ungranted = ungranted(skill, grants);
    let limits = grants.limits;

    let mut store = match new_store(engine, protected, grants, injected, &redactor, &audit) {
        Ok(s) => s,
        Err(e) => {
            return CallOutcome {
                result: Err(e),
                limit: None,
                audit: audit.events(),
                ungranted,
                logs: Vec::new(),
                logs_dropped: 0,
                elapsed: start.elapsed(),
            };
        }
    };

    let meter = store.data().cpu.clone();
    let mut instantiated = false;
    let run = async {
        let instance = skill.pre.instantiate_async(&mut store).await?;
        instantiated = true;
        instance
            .chitin_skill_tools()
            .call_call(&mut store, tool, input)
            .await
    };
    let raw = tokio::time::timeout(limits.timeout(), Metered::new(meter, run)).await;

    let state = store.data();
    let disk_hit = state.fs.disk.hit();
    let descriptors_refused = state.fs.descriptors.refused();
    let failed = !matches!(raw, Ok(Ok(Ok(_))));
    let (limit, result) = match raw {
        Err(_) => (
            Some(LimitKind::Timeout),
            Err(format!(
                "the call took longer than {} ms (wall-clock limit)",
                limits.timeout_ms
            )),
        ),
        Ok(Err(_)) if state.cpu.hit() => (
            Some(LimitKind::Cpu),
            Err(format!(
                "the skill used more than {} ms of CPU (cpu limit)",
                limits.cpu_ms
            )),
        ),
        Ok(Err(_)) if state.limiter.hit => (
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
        Ok(Err(e)) if !instantiated => {
            // The trap and its cause only: a backtrace would quote names the
            // component chose, at any length.
            let cause = match e.downcast_ref::<Trap>() {
                Some(trap) => format!("{trap}: {}", e.root_cause()),
                None => e.root_cause().to_string(),
            };
            let cause = crate::text::cap(&cause, 4096).into_owned();
            tracing::warn!(
                "cannot instantiate skill {}: {}",
                skill.name,
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
        Ok(Err(e)) => Err(cap_error(redact_error(e, &redactor), limits.output_bytes())),
    };
    let (logs, logs_dropped) = store.data().logs.take();
    drop(store);
    CallOutcome {
        result,
        limit,
        audit: audit.events(),
        ungranted,
        logs,
        logs_dropped,
        elapsed: start.elapsed(),
    }
}
