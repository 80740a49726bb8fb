//! Skill logs: the Chitin `log` interface and the guest's stdout/stderr
//! share one per-call byte budget. Past it, lines are dropped (counted, and
//! audited once); the call goes on. Secret values are redacted.

use super::{CallParts, Factor, SetupError};
use crate::audit::{Audit, Capability};
use crate::redact::Redactor;
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

/// The log's part of every call: one sink for the `log` interface and the
/// guest's stdout and stderr, within the call's log budget.
pub struct LogPlan;

impl Factor for LogPlan {
    fn install(&self, call: &mut CallParts) -> Result<(), SetupError> {
        let sink = LogSink::new(
            call.limits.log_bytes(),
            call.redactor.clone(),
            call.audit.clone(),
        );
        call.wasi
            .stdout(sink.stream("stdout"))
            .stderr(sink.stream("stderr"));
        call.logs = Some(sink);
        Ok(())
    }
}

/// Budget bytes charged per line on top of its text.
pub const LINE_COST: usize = 64;

/// One line a skill logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn`, `error`, `stdout` or `stderr`.
    pub level: String,
    /// The text (redacted, possibly cut at the budget).
    pub message: String,
}

#[derive(Debug)]
struct Inner {
    budget: usize,
    used: usize,
    lines: Vec<LogLine>,
    dropped: u64,
    redactor: Redactor,
    audit: Audit,
}

/// The per-call log buffer. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct LogSink(Arc<Mutex<Inner>>);

impl LogSink {
    /// A sink holding at most `budget` bytes.
    pub fn new(budget: usize, redactor: Redactor, audit: Audit) -> Self {
        LogSink(Arc::new(Mutex::new(Inner {
            budget,
            used: 0,
            lines: Vec::new(),
            dropped: 0,
            redactor,
            audit,
        })))
    }

    /// Record a line, or drop it if the budget is spent. Every line costs
    /// at least [`LINE_COST`] bytes, so empty lines cannot fill host memory.
    pub fn push(&self, level: &str, message: &str) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let cost = message.len() + LINE_COST;
        if inner.used + cost > inner.budget {
            if inner.dropped == 0 {
                let budget = inner.budget;
                inner.audit.deny(
                    Capability::Limit,
                    "log",
                    format!("log volume over {budget} bytes; further lines dropped"),
                    Some("raise limits.log_kib in the grant".into()),
                );
            }
            inner.dropped += 1;
            return;
        }
        inner.used += cost;
        let message = inner.redactor.redact(message);
        // The skill's text: never raw into the host's log output.
        tracing::debug!(target: "chitin::skill_log", level, message = %crate::text::one_line(&message, 2000));
        inner.lines.push(LogLine {
            level: level.to_string(),
            message,
        });
    }

    /// The lines kept and the number dropped.
    pub fn take(&self) -> (Vec<LogLine>, u64) {
        let mut inner = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (std::mem::take(&mut inner.lines), inner.dropped)
    }

    /// A writer for the guest's stdout or stderr feeding this sink.
    pub fn stream(&self, name: &'static str) -> StdioSink {
        StdioSink {
            sink: self.clone(),
            name,
        }
    }
}

/// The guest's stdout/stderr: accepts every write (so a chatty guest is not
/// broken) but keeps only what fits the log budget.
#[derive(Debug, Clone)]
pub struct StdioSink {
    sink: LogSink,
    name: &'static str,
}

impl tokio::io::AsyncWrite for StdioSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let text = String::from_utf8_lossy(buf);
        let text = text.trim_end_matches('\n');
        if !text.is_empty() {
            self.sink.push(self.name, text);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl wasmtime_wasi::cli::IsTerminal for StdioSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for StdioSink {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_drops_and_audits_once() {
        let audit = Audit::new("s", "t");
        let sink = LogSink::new(
            2 * LINE_COST + 17,
            Redactor::new(["secret-value"]),
            audit.clone(),
        );
        sink.push("info", "12345");
        sink.push("info", "secret-value");
        sink.push("info", "x");
        let (lines, dropped) = sink.take();
        assert_eq!(lines.len(), 2);
        assert_eq!(dropped, 1);
        assert_eq!(audit.events().len(), 1);
        let sink = LogSink::new(1000, Redactor::new(["secret-value"]), Audit::new("s", "t"));
        sink.push("info", "my secret-value!");
        assert_eq!(sink.take().0[0].message, "my [REDACTED]!");
        // Empty lines are not free.
        let sink = LogSink::new(10 * LINE_COST, Redactor::default(), Audit::new("s", "t"));
        for _ in 0..10_000 {
            sink.push("info", "");
        }
        let (lines, dropped) = sink.take();
        assert_eq!((lines.len(), dropped), (10, 9_990));
    }
}
