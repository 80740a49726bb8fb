//! The per-call store state: what each capability prepared for this call
//! (WASI context without preopens, the filesystem guard, the network hooks),
//! the memory limiter, the CPU meter and the log sink.

use super::bindings::chitin::skill::log;
use crate::audit::Audit;
use crate::capabilities::CallParts;
use crate::capabilities::cpu::CpuMeter;
use crate::capabilities::fs::guard::{FsGuard, FsView};
use crate::capabilities::limits::MemoryLimiter;
use crate::capabilities::limits::{MAX_FIELDS_BYTES, MAX_RESOURCES};
use crate::capabilities::log::LogSink;
use crate::capabilities::net::NetHooks;
use crate::capabilities::sockets::SocketsView;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::filesystem::{WasiFilesystemCtx, WasiFilesystemCtxView};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// A capability did not install its part of a call (a plan is missing one).
#[derive(Debug, thiserror::Error)]
#[error("the {0} capability did not set up its part of the call")]
pub struct MissingPart(&'static str);

/// Everything one call's `Store` holds. Built fresh for every call.
pub struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) net: NetHooks,
    pub(crate) fs: FsGuard,
    /// wasmtime's filesystem context (no preopens: the guard serves them).
    pub(crate) fs_ctx: WasiFilesystemCtx,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) logs: LogSink,
    pub(crate) cpu: Arc<CpuMeter>,
    /// The call's audit trail (for what the guards refuse).
    pub(crate) audit: Audit,
}

impl CallState {
    /// The guarded filesystem view the linker hands to `wasi:filesystem`.
    pub(crate) fn fs_view(&mut self) -> FsView<'_> {
        FsView {
            inner: WasiFilesystemCtxView {
                ctx: &mut self.fs_ctx,
                table: &mut self.table,
            },
            guard: &mut self.fs,
        }
    }
}

impl CallState {
    /// The state for one call, from what its capabilities installed.
    pub(crate) fn from_parts(parts: CallParts) -> Result<Self, MissingPart> {
        let CallParts {
            audit,
            mut wasi,
            fs,
            net,
            memory,
            cpu,
            logs,
            ..
        } = parts;
        // Host-side memory a guest can pin through resources is bounded: at
        // most MAX_RESOURCES handles, header maps of at most MAX_FIELDS_BYTES.
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Ok(CallState {
            wasi: wasi.build(),
            http,
            table,
            net: net.ok_or(MissingPart("net"))?,
            fs: fs.ok_or(MissingPart("fs"))?,
            fs_ctx: WasiFilesystemCtx::default(),
            limiter: memory.ok_or(MissingPart("limits"))?,
            logs: logs.ok_or(MissingPart("log"))?,
            cpu: cpu.ok_or(MissingPart("limits"))?,
            audit,
        })
    }

    /// The socket refusals' view (`wasi:sockets` entry points).
    pub(crate) fn sockets_view(&mut self) -> SocketsView<'_> {
        use wasmtime_wasi::sockets::WasiSocketsView;
        SocketsView {
            audit: self.audit.clone(),
            inner: self.sockets(),
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.net,
        }
    }
}

impl log::Host for CallState {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.logs.push(level, &message);
    }
}
