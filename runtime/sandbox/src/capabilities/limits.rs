//! Per-call resource limits: memory (summed over every memory and table of
//! the component), CPU (the thread CPU time of the call, host calls
//! included), wall-clock time, output size, log volume, HTTP, and what the
//! call may write to disk.

use super::{CallParts, Factor, SetupError};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use wasmtime::ResourceLimiter;

/// Most resource handles (files, streams, HTTP objects) one call may hold.
pub const MAX_RESOURCES: usize = 2048;
/// Most bytes of one HTTP header map (wasi:http `fields`).
pub const MAX_FIELDS_BYTES: usize = 32 * 1024;
/// Most random bytes one `get-random-bytes` may ask for (they are made in
/// host memory before the guest gets them).
pub const MAX_RANDOM_BYTES: u64 = 1024 * 1024;

/// The limits' part of every call: the memory limiter (one budget for all
/// memories and tables), the CPU meter, the random-bytes cap. The
/// wall-clock timeout and the output cap are applied around the call.
pub struct LimitsPlan;

impl Factor for LimitsPlan {
    fn install(&self, call: &mut CallParts) -> Result<(), SetupError> {
        let l = call.limits;
        call.memory = Some(MemoryLimiter::new(&l));
        call.cpu = Some(super::cpu::CpuMeter::new(l.cpu_ns(), l.cpu_ticks()));
        call.wasi.max_random_size(MAX_RANDOM_BYTES);
        Ok(())
    }
}

/// How often the engine's epoch advances; the CPU meter's resolution.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Limits applied to one tool call. Defaults are safe; the manifest may ask
/// for more and the grant decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory, in MiB, summed over the component's memories.
    pub memory_mib: u32,
    /// Time spent executing WebAssembly, in milliseconds.
    pub cpu_ms: u32,
    /// Wall-clock time for the whole call, including host I/O, in milliseconds.
    pub timeout_ms: u32,
    /// Tool output, in KiB.
    pub output_kib: u32,
    /// Log and stdout/stderr volume, in KiB.
    pub log_kib: u32,
    /// Outbound HTTP requests per call.
    pub http_requests: u32,
    /// Bytes of HTTP response bodies per call, in KiB.
    pub http_response_kib: u32,
    /// Bytes the call may write into its read-write directories, in MiB.
    pub disk_mib: u32,
    /// Files, directories and links the call may create.
    pub disk_files: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mib: 64,
            cpu_ms: 2_000,
            timeout_ms: 30_000,
            output_kib: 1024,
            log_kib: 64,
            http_requests: 16,
            http_response_kib: 8 * 1024,
            disk_mib: 64,
            disk_files: 1000,
        }
    }
}

/// Upper bounds a manifest may ask for; beyond them `validate` refuses.
pub const MAX: Limits = Limits {
    memory_mib: 4096,
    cpu_ms: 600_000,
    timeout_ms: 3_600_000,
    output_kib: 64 * 1024,
    log_kib: 64 * 1024,
    http_requests: 10_000,
    http_response_kib: 1024 * 1024,
    disk_mib: 1024 * 1024,
    disk_files: 10_000_000,
};

/// One limit, as manifests, grants and `--limit` name it.
pub struct LimitField {
    /// The key (`memory_mib`).
    pub key: &'static str,
    /// What it limits, in words (`memory`).
    pub words: &'static str,
    /// The unit after a value (`" MiB"`, or `""`).
    pub unit: &'static str,
    get: fn(&Limits) -> u32,
    set: fn(&mut Limits, u32),
}

impl LimitField {
    /// This field of `limits`.
    pub fn get(&self, limits: &Limits) -> u32 {
        (self.get)(limits)
    }

    /// Set this field of `limits`.
    pub fn set(&self, limits: &mut Limits, value: u32) {
        (self.set)(limits, value)
    }
}

/// Every limit, in the order they are shown.
pub const FIELDS: [LimitField; 9] = [
    LimitField {
        key: "memory_mib",
        words: "memory",
        unit: " MiB",
        get: |l| l.memory_mib,
        set: |l, v| l.memory_mib = v,
    },
    LimitField {
        key: "cpu_ms",
        words: "CPU",
        unit: " ms",
        get: |l| l.cpu_ms,
        set: |l, v| l.cpu_ms = v,
    },
    LimitField {
        key: "timeout_ms",
        words: "time",
        unit: " ms",
        get: |l| l.timeout_ms,
        set: |l, v| l.timeout_ms = v,
    },
    LimitField {
        key: "output_kib",
        words: "output",
        unit: " KiB",
        get: |l| l.output_kib,
        set: |l, v| l.output_kib = v,
    },
    LimitField {
        key: "log_kib",
        words: "logs",
        unit: " KiB",
        get: |l| l.log_kib,
        set: |l, v| l.log_kib = v,
    },
    LimitField {
        key: "http_requests",
        words: "HTTP requests",
        unit: "",
        get: |l| l.http_requests,
        set: |l, v| l.http_requests = v,
    },
    LimitField {
        key: "http_response_kib",
        words: "HTTP responses",
        unit: " KiB",
        get: |l| l.http_response_kib,
        set: |l, v| l.http_response_kib = v,
    },
    LimitField {
        key: "disk_mib",
        words: "disk writes",
        unit: " MiB",
        get: |l| l.disk_mib,
        set: |l, v| l.disk_mib = v,
    },
    LimitField {
        key: "disk_files",
        words: "files created",
        unit: "",
        get: |l| l.disk_files,
        set: |l, v| l.disk_files = v,
    },
];

impl Limits {
    /// The field named `key`.
    pub fn field(key: &str) -> Option<&'static LimitField> {
        FIELDS.iter().find(|f| f.key == key)
    }

    /// Every field's key, for messages (`memory_mib, cpu_ms, …`).
    pub fn keys() -> String {
        FIELDS.iter().map(|f| f.key).collect::<Vec<_>>().join(", ")
    }

    /// The first field that is zero or above [`MAX`], as `(name, value, max)`.
    pub fn out_of_range(&self) -> Option<(&'static str, u32, u32)> {
        FIELDS
            .iter()
            .map(|f| (f.key, f.get(self), f.get(&MAX)))
            .find(|(_, v, max)| *v == 0 || v > max)
    }

    /// CPU budget in epoch ticks (where thread CPU time cannot be read).
    pub fn cpu_ticks(&self) -> u64 {
        (u64::from(self.cpu_ms) / EPOCH_TICK.as_millis() as u64).max(1)
    }

    /// CPU budget in nanoseconds.
    pub fn cpu_ns(&self) -> u64 {
        u64::from(self.cpu_ms) * 1_000_000
    }

    /// Disk write budget in bytes.
    pub fn disk_bytes(&self) -> u64 {
        u64::from(self.disk_mib) * 1024 * 1024
    }

    /// Wall-clock budget.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.timeout_ms))
    }

    /// Output cap in bytes.
    pub fn output_bytes(&self) -> usize {
        self.output_kib as usize * 1024
    }

    /// Log cap in bytes.
    pub fn log_bytes(&self) -> usize {
        self.log_kib as usize * 1024
    }
}

/// Which limit stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    /// Linear memory or tables.
    Memory,
    /// Time executing WebAssembly.
    Cpu,
    /// Wall-clock time.
    Timeout,
    /// Output size.
    Output,
    /// WebAssembly stack depth.
    Stack,
    /// Bytes written to disk.
    Disk,
    /// Files created on disk.
    DiskFiles,
    /// Open files and connections.
    Descriptors,
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Memory => "memory",
            LimitKind::Cpu => "cpu",
            LimitKind::Timeout => "timeout",
            LimitKind::Output => "output",
            LimitKind::Stack => "stack",
            LimitKind::Disk => "disk",
            LimitKind::DiskFiles => "disk-files",
            LimitKind::Descriptors => "descriptors",
        })
    }
}

/// Most core instances, memories and tables one component may create per
/// call. Real skills need few: a Rust or C skill has one memory, Python
/// (componentize-py) and JavaScript (componentize-js) components a handful
/// of core instances; beyond these a component is an attack.
pub const MAX_INSTANCES: usize = 32;
/// See [`MAX_INSTANCES`].
pub const MAX_MEMORIES: usize = 8;
/// See [`MAX_INSTANCES`].
pub const MAX_TABLES: usize = 32;
/// Table elements per call, summed over every table.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// The call's memory budget, summed over every linear memory and table of
/// every core instance (a component with many instances gets one budget,
/// not one each). Remembers whether it refused growth, so a guest that
/// aborts after a failed allocation is reported as a memory-limit hit
/// rather than an anonymous trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    used_bytes: usize,
    max_table_elements: usize,
    used_table_elements: usize,
    /// What each total was before the last growth it allowed, so a growth
    /// that then fails (a memory's own maximum, the pool) is taken back.
    before_memory: usize,
    before_table: usize,
    /// Set when a growth request was refused.
    pub hit: bool,
}

impl MemoryLimiter {
    /// A limiter for `limits`.
    pub fn new(limits: &Limits) -> Self {
        MemoryLimiter {
            max_bytes: limits.memory_mib as usize * 1024 * 1024,
            used_bytes: 0,
            max_table_elements: MAX_TABLE_ELEMENTS,
            used_table_elements: 0,
            before_memory: 0,
            before_table: 0,
            hit: false,
        }
    }

    /// Grow one of the summed counters from `current` to `desired`, if the
    /// total stays within `max`.
    fn grow(used: &mut usize, max: usize, current: usize, desired: usize, hit: &mut bool) -> bool {
        let total = used
            .saturating_sub(current)
            .saturating_add(desired.max(current));
        let ok = total <= max;
        if ok {
            *used = total;
        } else {
            *hit = true;
        }
        ok
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.before_memory = self.used_bytes;
        Ok(Self::grow(
            &mut self.used_bytes,
            self.max_bytes,
            current,
            desired,
            &mut self.hit,
        ))
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.used_bytes = self.before_memory;
        Ok(())
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.used_table_elements = self.before_table;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.before_table = self.used_table_elements;
        Ok(Self::grow(
            &mut self.used_table_elements,
            self.max_table_elements,
            current,
            desired,
            &mut self.hit,
        ))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_in_range_and_zero_is_not() {
        assert_eq!(Limits::default().out_of_range(), None);
        let l = Limits {
            cpu_ms: 0,
            ..Limits::default()
        };
        assert_eq!(l.out_of_range().map(|f| f.0), Some("cpu_ms"));
        let l = Limits {
            memory_mib: MAX.memory_mib + 1,
            ..Limits::default()
        };
        assert_eq!(l.out_of_range().map(|f| f.0), Some("memory_mib"));
    }

    #[test]
    fn limiter_refuses_and_remembers() {
        let mut m = MemoryLimiter::new(&Limits {
            memory_mib: 1,
            ..Limits::default()
        });
        assert!(m.memory_growing(0, 1024 * 1024, None).unwrap_or(false));
        assert!(!m.hit);
        assert!(!m.memory_growing(0, 1024 * 1024 + 1, None).unwrap_or(true));
        assert!(m.hit);
    }

    #[test]
    fn memories_share_one_budget() {
        let mib = 1024 * 1024;
        let mut m = MemoryLimiter::new(&Limits {
            memory_mib: 4,
            ..Limits::default()
        });
        // Three memories of 1 MiB fit; a fourth growing to 2 MiB does not.
        for _ in 0..3 {
            assert!(m.memory_growing(0, mib, None).unwrap());
        }
        assert!(!m.memory_growing(0, 2 * mib, None).unwrap());
        assert!(m.hit);
        // Growing an existing memory counts only the difference.
        assert!(m.memory_growing(mib, 2 * mib, None).unwrap());
        assert!(!m.memory_growing(0, 1, None).unwrap());
        // A growth the limiter allowed but that then failed is taken back.
        let mut m = MemoryLimiter::new(&Limits {
            memory_mib: 2,
            ..Limits::default()
        });
        assert!(m.memory_growing(0, 2 * mib, None).unwrap());
        m.memory_grow_failed(wasmtime::format_err!("over the memory's maximum"))
            .unwrap();
        assert!(m.memory_growing(0, mib, None).unwrap());
    }
}
