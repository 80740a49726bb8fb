//! The one shared wasmtime `Engine` and `Linker`, and the epoch ticker that
//! drives CPU metering and timeouts.
//!
//! The linker provides all of WASI p2 and `wasi:http` (Python and JS
//! components import more than they use); what a call may actually do is
//! decided by the per-call context: no sockets, no env, the filesystem
//! guard (only the granted directories, see `capabilities::fs::guard`), and
//! an HTTP hook that refuses anything not granted.

use crate::capabilities::fs::guard::GuardedFs;
use crate::capabilities::limits::{self, EPOCH_TICK};
use crate::skill::bindings::chitin::skill::log;
use crate::skill::state::CallState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

/// The engine could not be set up.
#[derive(Debug, Error)]
#[error("cannot initialise the WebAssembly engine: {0}")]
pub struct EngineError(String);

/// Stops the ticker thread when dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Engine + linker shared by every skill and call.
pub struct SkillEngine {
    engine: Engine,
    linker: Linker<CallState>,
    _ticker: EpochTicker,
}

impl SkillEngine {
    /// Configure the engine (epoch interruption, component model, bounded
    /// wasm stack) and link WASI, `wasi:http` and the Chitin `log` interface.
    pub fn new(pooling: bool) -> Result<Self, EngineError> {
        let err = |e: wasmtime::Error| EngineError(format!("{e:#}"));
        let mut config = Config::new();
        if pooling {
            // Measured (BENCHMARKS.md): pooling halves the warm-call cost
            // versus on-demand allocation, mostly by reusing resident memory
            // and table pages instead of mapping and faulting them per call.
            // The pool bounds concurrent calls (256 instances); a call past
            // that fails cleanly with a host error.
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            pool.total_component_instances(256)
                .total_core_instances(2048)
                .total_memories(512)
                .total_tables(1024)
                .total_stacks(256)
                .max_core_instances_per_component(limits::MAX_INSTANCES as u32)
                .max_memories_per_component(limits::MAX_MEMORIES as u32)
                .max_tables_per_component(limits::MAX_TABLES as u32)
                .max_memory_size(crate::capabilities::limits::MAX.memory_mib as usize * 1024 * 1024)
                .linear_memory_keep_resident(2 * 1024 * 1024)
                .table_keep_resident(64 * 1024);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(512 * 1024);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(err)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(err)?;
        // The filesystem goes through the guard instead of wasmtime's own host.
        linker.allow_shadowing(true);
        use wasmtime_wasi::p2::bindings::filesystem::{preopens, types};
        types::add_to_linker::<CallState, GuardedFs>(&mut linker, CallState::fs_view)
            .map_err(err)?;
        preopens::add_to_linker::<CallState, GuardedFs>(&mut linker, CallState::fs_view)
            .map_err(err)?;
        linker.allow_shadowing(false);
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(err)?;
        log::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s).map_err(err)?;

        let stop = Arc::new(AtomicBool::new(false));
        let ticker_engine = engine.clone();
        let ticker_stop = stop.clone();
        std::thread::Builder::new()
            .name("chitin-epoch".into())
            .spawn(move || {
                while !ticker_stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| EngineError(format!("cannot start the epoch thread: {e}")))?;

        Ok(SkillEngine {
            engine,
            linker,
            _ticker: EpochTicker { stop },
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker every skill is instantiated against.
    pub fn linker(&self) -> &Linker<CallState> {
        &self.linker
    }
}
