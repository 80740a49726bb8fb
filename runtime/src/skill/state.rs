//! The per-call store state: the WASI context built from the grants, the
//! network hooks, the memory limiter, the CPU meter and the log sink.

use super::bindings::chitin::skill::log;
use crate::capabilities::limits::MemoryLimiter;
use crate::capabilities::log::LogSink;
use crate::capabilities::net::NetHooks;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Everything one call's `Store` holds. Built fresh for every call.
pub struct CallState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) table: ResourceTable,
    pub(crate) net: NetHooks,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) logs: LogSink,
    /// Epoch ticks observed while executing WebAssembly.
    pub(crate) cpu_ticks: u64,
    pub(crate) cpu_budget: u64,
    pub(crate) cpu_hit: bool,
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
