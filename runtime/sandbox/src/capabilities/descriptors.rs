//! Open descriptors: a call may hold at most [`PER_CALL`] open files,
//! directories and connections at once, and all calls together stay below
//! the process's own limit (`RLIMIT_NOFILE`, minus a reserve for the host's
//! sockets and database), so no skill can make the host run out of
//! descriptors.
//!
//! Files and directories are counted live: the call keeps a weak reference
//! to each one it opened, so a closed file (and every stream over it) stops
//! counting as soon as it is dropped. Connections hold a [`Permit`].

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

/// Most descriptors one call may hold open at once.
pub const PER_CALL: usize = 256;

/// Descriptors kept free for the host itself (listener, clients, SQLite,
/// logs, compiled code).
const HOST_RESERVE: usize = 128;

/// Descriptors held by all calls of this process.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// What all calls together may hold: the soft `RLIMIT_NOFILE` (raised to
/// the hard limit first) minus the reserve, read once.
pub fn process_cap() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        raise_process_limit();
        #[cfg(unix)]
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        #[cfg(not(unix))]
        let soft = 8192usize;
        soft.saturating_sub(HOST_RESERVE).max(64)
    })
}

/// Raise the soft descriptor limit to the hard one (what servers do at
/// start), so the cap above leaves room for many concurrent calls.
pub fn raise_process_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            limit.current = limit.maximum;
            if let Err(e) = setrlimit(Resource::Nofile, limit) {
                tracing::debug!("cannot raise the descriptor limit: {e}");
            }
        }
    }
}

/// Why a descriptor was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This call holds [`PER_CALL`] already.
    Call,
    /// All calls together hold the process's share.
    Process,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Call => write!(
                f,
                "the call already holds {PER_CALL} open files and connections (descriptor limit per call)"
            ),
            Refusal::Process => write!(
                f,
                "all running calls together hold {} open files and connections, the host's share of its descriptor limit",
                process_cap()
            ),
        }
    }
}

/// One call's open descriptors. Shared by its filesystem and network parts.
#[derive(Debug, Default)]
pub struct Descriptors {
    files: Mutex<Vec<Weak<File>>>,
    /// What this call last added to [`HELD`] for files.
    files_held: AtomicUsize,
    connections: AtomicUsize,
    refused: std::sync::atomic::AtomicBool,
}

impl Descriptors {
    /// A fresh count for one call.
    pub fn new() -> Arc<Self> {
        Arc::new(Descriptors::default())
    }

    /// Count live files again (dropping closed ones) and bring the process
    /// total up to date; returns this call's total.
    fn refresh(&self, files: &mut Vec<Weak<File>>) -> usize {
        files.retain(|w| w.strong_count() > 0);
        let now = files.len();
        let before = self.files_held.swap(now, Ordering::Relaxed);
        if now >= before {
            HELD.fetch_add(now - before, Ordering::Relaxed);
        } else {
            HELD.fetch_sub(before - now, Ordering::Relaxed);
        }
        now + self.connections.load(Ordering::Relaxed)
    }

    fn admit(&self, held_by_call: usize) -> Result<(), Refusal> {
        let refusal = if held_by_call >= PER_CALL {
            Refusal::Call
        } else if HELD.load(Ordering::Relaxed) >= process_cap() {
            Refusal::Process
        } else {
            return Ok(());
        };
        self.refused.store(true, Ordering::Relaxed);
        Err(refusal)
    }

    /// Record a refusal made elsewhere (e.g. too many listings held).
    pub fn note_refusal(&self) {
        self.refused.store(true, Ordering::Relaxed);
    }

    /// Whether a descriptor was refused during the call.
    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// May the call open one more file or directory?
    pub fn check_file(&self) -> Result<(), Refusal> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let held = self.refresh(&mut files);
        self.admit(held)
    }

    /// Count a file or directory the call just opened (live until every
    /// handle to it is dropped).
    pub fn opened(&self, file: &Arc<File>) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.push(Arc::downgrade(file));
        self.refresh(&mut files);
    }

    /// A permit for one connection, released when dropped.
    pub fn connection(self: &Arc<Self>) -> Result<Permit, Refusal> {
        {
            let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
            let held = self.refresh(&mut files);
            self.admit(held)?;
        }
        self.connections.fetch_add(1, Ordering::Relaxed);
        HELD.fetch_add(1, Ordering::Relaxed);
        Ok(Permit(self.clone()))
    }

    /// This call's open descriptors now.
    pub fn held(&self) -> usize {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        self.refresh(&mut files)
    }
}

impl Drop for Descriptors {
    fn drop(&mut self) {
        // The call's store is gone, and with it every file it opened.
        HELD.fetch_sub(*self.files_held.get_mut(), Ordering::Relaxed);
    }
}

/// One open connection's share of the count.
#[derive(Debug)]
pub struct Permit(Arc<Descriptors>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
        HELD.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_count_while_open_and_the_call_cap_holds() {
        let d = Descriptors::new();
        let dir = tempfile::tempdir().unwrap();
        let mut open = Vec::new();
        for i in 0..PER_CALL {
            assert_eq!(d.check_file(), Ok(()), "file {i}");
            let f = Arc::new(File::create(dir.path().join(format!("{i}"))).unwrap());
            d.opened(&f);
            open.push(f);
        }
        assert!(!d.refused());
        assert_eq!(d.check_file(), Err(Refusal::Call));
        assert!(d.refused());
        assert!(d.connection().is_err());
        open.truncate(PER_CALL - 2);
        assert_eq!(d.held(), PER_CALL - 2);
        let permit = d.connection().unwrap();
        assert_eq!(d.check_file(), Ok(()));
        let _second = d.connection().unwrap();
        assert_eq!(d.check_file(), Err(Refusal::Call));
        drop(permit);
        assert_eq!(d.check_file(), Ok(()));
    }
}
