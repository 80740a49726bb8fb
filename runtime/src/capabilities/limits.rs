//! Per-call resource limits: memory, CPU (epoch ticks spent in WebAssembly),
//! wall-clock time, output size and log volume.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use wasmtime::ResourceLimiter;

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
};

impl Limits {
    /// The first field that is zero or above [`MAX`], as `(name, value, max)`.
    pub fn out_of_range(&self) -> Option<(&'static str, u32, u32)> {
        let fields = [
            ("memory_mib", self.memory_mib, MAX.memory_mib),
            ("cpu_ms", self.cpu_ms, MAX.cpu_ms),
            ("timeout_ms", self.timeout_ms, MAX.timeout_ms),
            ("output_kib", self.output_kib, MAX.output_kib),
            ("log_kib", self.log_kib, MAX.log_kib),
            ("http_requests", self.http_requests, MAX.http_requests),
            (
                "http_response_kib",
                self.http_response_kib,
                MAX.http_response_kib,
            ),
        ];
        fields.into_iter().find(|(_, v, max)| *v == 0 || v > max)
    }

    /// CPU budget in epoch ticks.
    pub fn cpu_ticks(&self) -> u64 {
        (u64::from(self.cpu_ms) / EPOCH_TICK.as_millis() as u64).max(1)
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
}

impl std::fmt::Display for LimitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitKind::Memory => "memory",
            LimitKind::Cpu => "cpu",
            LimitKind::Timeout => "timeout",
            LimitKind::Output => "output",
            LimitKind::Stack => "stack",
        })
    }
}

/// Memory/table limiter that remembers whether it refused growth, so a
/// guest that aborts after a failed allocation is reported as a memory-limit
/// hit rather than an anonymous trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_bytes: usize,
    max_table_elements: usize,
    /// Set when a growth request was refused.
    pub hit: bool,
}

impl MemoryLimiter {
    /// A limiter for `limits`.
    pub fn new(limits: &Limits) -> Self {
        MemoryLimiter {
            max_bytes: limits.memory_mib as usize * 1024 * 1024,
            max_table_elements: 100_000,
            hit: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.max_bytes;
        self.hit |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.max_table_elements;
        self.hit |= !ok;
        Ok(ok)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
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
}
