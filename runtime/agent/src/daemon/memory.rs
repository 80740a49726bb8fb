//! Memory a burst of turns took, given back when the daemon goes idle.
//!
//! Freed memory stays in glibc's per-thread arenas: after 1,000 concurrent
//! turns the daemon held ~35 MiB more than before, for good (the sandbox's
//! own pool returns its pages on every call; see `chitin_sandbox::engine`).
//! So a moment after the last running turn ends, with no new one started,
//! the daemon asks glibc to return its free pages (`malloc_trim`), once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long the daemon must stay idle before memory is given back.
pub const IDLE_DELAY: Duration = Duration::from_secs(2);

/// Counts turn starts, so a trim never runs in the middle of a burst.
pub struct IdleTrim {
    starts: AtomicU64,
    delay: Duration,
}

impl Default for IdleTrim {
    fn default() -> Self {
        IdleTrim {
            starts: AtomicU64::new(0),
            delay: IDLE_DELAY,
        }
    }
}

impl IdleTrim {
    /// A turn started.
    pub fn started(&self) {
        self.starts.fetch_add(1, Ordering::Relaxed);
    }

    /// The last running turn ended: give memory back after the delay
    /// unless another turn starts meanwhile. The task says whether it did.
    pub fn idle(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<bool>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let seen = self.starts.load(Ordering::Relaxed);
        let me = self.clone();
        Some(runtime.spawn(async move {
            tokio::time::sleep(me.delay).await;
            if me.starts.load(Ordering::Relaxed) != seen {
                return false;
            }
            tokio::task::spawn_blocking(release_free_memory)
                .await
                .is_ok()
        }))
    }
}

/// Return free heap pages to the system (glibc; nothing elsewhere).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `malloc_trim` takes no pointer and touches only glibc's own
    // arenas, under their locks; it may be called from any thread at any
    // time (it is what `free` itself does at the top of a heap).
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_is_given_back_only_after_a_quiet_delay() {
        let trim = Arc::new(IdleTrim {
            starts: AtomicU64::new(0),
            delay: Duration::from_millis(50),
        });
        let quiet = trim.idle().expect("inside a runtime");
        assert!(quiet.await.expect("the task ran"), "idle: trimmed");
        let busy = trim.idle().expect("inside a runtime");
        trim.started();
        assert!(
            !busy.await.expect("the task ran"),
            "a turn started: not trimmed"
        );
    }
}
