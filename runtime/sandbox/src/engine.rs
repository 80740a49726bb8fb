//! The one shared wasmtime `Engine` (epoch interruption, pooling allocator
//! with per-component caps, bounded wasm stack) and the epoch ticker that
//! drives CPU checks and timeouts. What skills are linked against is in
//! `skill::linker`.

use crate::capabilities::limits::{self, EPOCH_TICK};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;
use wasmtime::{Config, Engine};

/// The engine could not be set up.
#[derive(Debug, Error)]
#[error("cannot initialise the WebAssembly engine: {0}")]
pub struct EngineError(pub(crate) String);

/// Stops the ticker thread when dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The engine shared by every skill and call.
pub struct SkillEngine {
    engine: Engine,
    _ticker: EpochTicker,
}

impl SkillEngine {
    /// Configure the engine (epoch interruption, component model, bounded
    /// wasm stack, the pooling allocator when `pooling`).
    pub fn new(pooling: bool) -> Result<Self, EngineError> {
        let err = |e: wasmtime::Error| EngineError(format!("{e:#}"));
        let mut config = Config::new();
        if pooling {
            // Pooling reserves every instance's memory, tables and stack
            // once, instead of mapping them per call.
            // The pool bounds concurrent instances (256); the call queue
            // (`crate::queue`) makes calls past that wait their turn.
            // Nothing is kept resident between calls: each freed slot's
            // pages go back to the system, so a burst of calls does not
            // leave its memory behind (with 2 MiB kept per slot, 1,000
            // concurrent turns left the daemon at 224 MiB for good; the
            // warm call measured the same either way, BENCHMARKS.md).
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
                .linear_memory_keep_resident(0)
                .table_keep_resident(0);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.max_wasm_stack(512 * 1024);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(err)?;

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
            _ticker: EpochTicker { stop },
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}
