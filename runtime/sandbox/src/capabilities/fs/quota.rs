//! Disk quotas on read-write grants: what one call may write (bytes, by
//! `write`, streams and `set-size` growth) and create (files, directories,
//! links) in its directories. Past either, the operation fails with
//! `quota` (EDQUOT), the denial is audited once, and a call that then fails
//! is reported as stopped by the quota.

use crate::audit::{Audit, Capability};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use wasmtime_wasi::p2::{DynOutputStream, OutputStream, Pollable, StreamError, StreamResult};

/// Which quota ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// Bytes written.
    Bytes,
    /// Files and directories created.
    Files,
}

/// A write or create refused by the quota (what a stream error carries, so
/// `filesystem-error-code` can say `quota`).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("disk quota of the call exceeded")]
pub struct QuotaExceeded(pub QuotaKind);

/// One call's remaining disk budget. Shared by the filesystem host and the
/// output streams it hands out; audits the first refusal of each kind.
#[derive(Debug)]
pub struct DiskBudget {
    bytes: AtomicU64,
    files: AtomicU64,
    bytes_hit: AtomicBool,
    files_hit: AtomicBool,
    limits: (u64, u64),
    audit: Audit,
}

impl DiskBudget {
    /// A budget of `bytes` written and `files` created.
    pub fn new(bytes: u64, files: u64, audit: Audit) -> Arc<Self> {
        Arc::new(DiskBudget {
            bytes: AtomicU64::new(bytes),
            files: AtomicU64::new(files),
            bytes_hit: AtomicBool::new(false),
            files_hit: AtomicBool::new(false),
            limits: (bytes, files),
            audit,
        })
    }

    fn take(&self, kind: QuotaKind, n: u64) -> Result<(), QuotaExceeded> {
        let (counter, hit) = match kind {
            QuotaKind::Bytes => (&self.bytes, &self.bytes_hit),
            QuotaKind::Files => (&self.files, &self.files_hit),
        };
        let fits = counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .is_ok();
        if fits {
            return Ok(());
        }
        if !hit.swap(true, Ordering::Relaxed) {
            let (reason, hint) = match kind {
                QuotaKind::Bytes => (
                    format!(
                        "the call tried to write more than {} MiB to its read-write directories",
                        self.limits.0 / (1024 * 1024)
                    ),
                    "raise limits.disk_mib in the grant if this is expected",
                ),
                QuotaKind::Files => (
                    format!(
                        "the call tried to create more than {} files and directories",
                        self.limits.1
                    ),
                    "raise limits.disk_files in the grant if this is expected",
                ),
            };
            self.audit
                .deny(Capability::Limit, "disk", reason, Some(hint.to_string()));
        }
        Err(QuotaExceeded(kind))
    }

    /// Spend `n` bytes; `Err` (and nothing spent) when they do not fit.
    pub fn write(&self, n: u64) -> Result<(), QuotaExceeded> {
        self.take(QuotaKind::Bytes, n)
    }

    /// Spend one created file, directory or link.
    pub fn create(&self) -> Result<(), QuotaExceeded> {
        self.take(QuotaKind::Files, 1)
    }

    /// Give back bytes spent on a write that failed.
    pub fn refund_write(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Give back a creation that failed (e.g. `mkdir` of a directory that
    /// exists, as `makedirs(exist_ok=True)` does).
    pub fn refund_create(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
    }

    /// Which quota was refused during the call, if any (bytes first).
    pub fn hit(&self) -> Option<QuotaKind> {
        if self.bytes_hit.load(Ordering::Relaxed) {
            Some(QuotaKind::Bytes)
        } else if self.files_hit.load(Ordering::Relaxed) {
            Some(QuotaKind::Files)
        } else {
            None
        }
    }
}

/// A file output stream that spends the call's byte budget on every write.
pub struct QuotaStream {
    inner: DynOutputStream,
    budget: Arc<DiskBudget>,
}

impl QuotaStream {
    /// Wrap `inner`.
    pub fn new(inner: DynOutputStream, budget: Arc<DiskBudget>) -> Self {
        QuotaStream { inner, budget }
    }

    fn spend(&self, n: usize) -> StreamResult<()> {
        self.budget
            .write(n as u64)
            .map_err(|e| StreamError::LastOperationFailed(wasmtime::Error::new(e)))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for QuotaStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for QuotaStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.spend(bytes.len())?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.spend(bytes.len())?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, nelem: usize) -> StreamResult<()> {
        self.spend(nelem)?;
        self.inner.write_zeroes(nelem)
    }

    async fn write_ready(&mut self) -> StreamResult<usize> {
        self.inner.write_ready().await
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_refuses_what_does_not_fit_and_remembers() {
        let audit = Audit::new("s", "t");
        let b = DiskBudget::new(10, 1, audit.clone());
        assert!(b.write(6).is_ok());
        assert!(b.write(5).is_err());
        assert!(b.write(4).is_ok());
        assert_eq!(b.hit(), Some(QuotaKind::Bytes));
        assert!(b.create().is_ok());
        assert!(b.create().is_err());
        assert!(b.create().is_err());
        assert_eq!(audit.events().len(), 2, "each kind audited once");
        b.refund_create();
        assert!(b.create().is_ok(), "a failed creation is given back");
    }
}
