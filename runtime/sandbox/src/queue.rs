//! Waiting for room in the sandbox. The engine's instance pool holds a
//! bounded number of calls at once; past that, a call waits its turn instead
//! of failing: first come, first served, with each caller (a session, a
//! client) limited to a share of the slots so one busy caller cannot take
//! them all, and a wait bounded in time and in queue length that says what
//! happened when it runs out.
//!
//! A call admitted here can still find the pool full when a component uses
//! many core instances, memories or tables; the host then waits for another
//! call to end and tries again, within the same deadline (nothing of the
//! skill has run at that point).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How many calls run at once, how many wait, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Calls running at once.
    pub slots: usize,
    /// Calls one caller may run at once.
    pub per_caller: usize,
    /// Calls that may wait; more are refused at once.
    pub max_waiting: usize,
    /// The longest a call waits for a slot.
    pub wait: Duration,
}

impl Default for QueueConfig {
    /// 128 slots (half the pool's 256 component instances, leaving room for
    /// components with many core instances), 32 per caller, 10,000
    /// waiting, 60 s.
    fn default() -> Self {
        QueueConfig {
            slots: 128,
            per_caller: 32,
            max_waiting: 10_000,
            wait: Duration::from_secs(60),
        }
    }
}

/// Why a call did not get to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// Too many calls were already waiting.
    #[error(
        "the sandbox is busy: {running} calls are running and {waiting} waiting (the most that may wait); try again shortly"
    )]
    Full {
        /// Calls running.
        running: usize,
        /// Calls waiting.
        waiting: usize,
    },
    /// No slot freed in time.
    #[error(
        "the sandbox is busy: the call waited {waited_ms} ms for one of its {slots} slots ({running} calls running, {waiting} waiting) and was not run; try again shortly"
    )]
    Timeout {
        /// How long it waited.
        waited_ms: u64,
        /// Slots in all.
        slots: usize,
        /// Calls running.
        running: usize,
        /// Calls waiting.
        waiting: usize,
    },
}

/// The queue in front of the pool.
pub struct CallQueue {
    config: QueueConfig,
    slots: Arc<Semaphore>,
    /// Each caller's share, and how many of its calls wait or run.
    callers: Mutex<HashMap<String, (Arc<Semaphore>, usize)>>,
    waiting: AtomicUsize,
    released: Notify,
}

/// A call's place in the sandbox; dropping it frees the slot.
pub struct Admission<'a> {
    queue: &'a CallQueue,
    caller: String,
    permits: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
    /// Whether dropping this frees pool room others wait for.
    releases: bool,
}

/// Counts a waiting call while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl CallQueue {
    /// A queue with `config` (zero counts are raised to one).
    pub fn new(config: QueueConfig) -> Self {
        let config = QueueConfig {
            slots: config.slots.max(1),
            per_caller: config.per_caller.max(1),
            ..config
        };
        CallQueue {
            slots: Arc::new(Semaphore::new(config.slots)),
            callers: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
            released: Notify::new(),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> QueueConfig {
        self.config
    }

    /// Calls running now.
    pub fn running(&self) -> usize {
        self.config.slots - self.slots.available_permits()
    }

    /// Calls waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The deadline of a call that starts waiting now.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.config.wait
    }

    fn timeout(&self, started: Instant) -> QueueError {
        QueueError::Timeout {
            waited_ms: started.elapsed().as_millis() as u64,
            slots: self.config.slots,
            running: self.running(),
            waiting: self.waiting(),
        }
    }

    /// Wait for a slot for `caller`, until `deadline`.
    pub async fn admit(
        &self,
        caller: &str,
        deadline: Instant,
    ) -> Result<Admission<'_>, QueueError> {
        let started = Instant::now();
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.config.max_waiting {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(QueueError::Full {
                running: self.running(),
                waiting: self.waiting(),
            });
        }
        let _waiting = Waiting(&self.waiting);
        let share = {
            let mut callers = self.callers.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = callers
                .entry(caller.to_string())
                .or_insert_with(|| (Arc::new(Semaphore::new(self.config.per_caller)), 0));
            entry.1 += 1;
            entry.0.clone()
        };
        // From here the caller's count is given back however this ends.
        let mut admission = Admission {
            queue: self,
            caller: caller.to_string(),
            permits: None,
            releases: true,
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        let acquire = async {
            let own = share.acquire_owned().await.ok()?;
            let slot = self.slots.clone().acquire_owned().await.ok()?;
            Some((own, slot))
        };
        match tokio::time::timeout_at(deadline, acquire).await {
            Ok(Some(permits)) => {
                admission.permits = Some(permits);
                Ok(admission)
            }
            // The semaphores are never closed; treat it as a timeout.
            Ok(None) | Err(_) => Err(self.timeout(started)),
        }
    }

    /// Wait (until `deadline`) for some call to end: the pool was full even
    /// though a slot was free. Err when the deadline passed.
    pub async fn wait_for_release(
        &self,
        started: Instant,
        deadline: Instant,
    ) -> Result<(), QueueError> {
        let deadline = tokio::time::Instant::from_std(deadline);
        let _waiting = {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            Waiting(&self.waiting)
        };
        // A short sleep bounds the wait for a release that happened just
        // before we started listening.
        let released = async {
            tokio::select! {
                _ = self.released.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        };
        match tokio::time::timeout_at(deadline, released).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.timeout(started)),
        }
    }
}

impl Admission<'_> {
    /// The call found the pool full and ran nothing: giving the slot back
    /// frees no pool room, so it wakes nobody who waits for that.
    pub fn pool_was_full(mut self) {
        self.releases = false;
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        let ran = self.permits.take().is_some();
        let mut callers = self
            .queue
            .callers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Nobody else waits or runs for this caller: forget it (the map
        // holds only callers with calls in flight).
        if let Some(entry) = callers.get_mut(&self.caller) {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                callers.remove(&self.caller);
            }
        }
        drop(callers);
        if ran && self.releases {
            self.queue.released.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(slots: usize, per_caller: usize, max_waiting: usize, wait_ms: u64) -> CallQueue {
        CallQueue::new(QueueConfig {
            slots,
            per_caller,
            max_waiting,
            wait: Duration::from_millis(wait_ms),
        })
    }

    #[tokio::test]
    async fn a_full_queue_waits_then_says_why() {
        let q = queue(2, 2, 10, 100);
        let a = q.admit("s1", q.deadline()).await.unwrap();
        let _b = q.admit("s1", q.deadline()).await.unwrap();
        assert_eq!(q.running(), 2);
        let err = q.admit("s2", q.deadline()).await.err().unwrap();
        assert!(
            matches!(
                err,
                QueueError::Timeout {
                    slots: 2,
                    running: 2,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("waited"), "{err}");
        drop(a);
        assert!(q.admit("s2", q.deadline()).await.is_ok());
    }

    #[tokio::test]
    async fn one_caller_cannot_take_every_slot() {
        let q = queue(4, 2, 10, 50);
        let _a = q.admit("busy", q.deadline()).await.unwrap();
        let _b = q.admit("busy", q.deadline()).await.unwrap();
        assert!(q.admit("busy", q.deadline()).await.is_err());
        // Another caller still gets in.
        assert!(q.admit("other", q.deadline()).await.is_ok());
    }

    #[tokio::test]
    async fn the_waiting_line_is_bounded_and_callers_are_forgotten() {
        let q = queue(1, 1, 1, 200);
        let held = q.admit("a", q.deadline()).await.unwrap();
        let waiter = q.admit("b", q.deadline());
        let refused = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            q.admit("c", q.deadline()).await.err()
        };
        let (w, r) = tokio::join!(waiter, refused);
        assert!(matches!(r, Some(QueueError::Full { .. })), "{r:?}");
        assert!(w.is_err());
        drop(held);
        assert!(q.callers.lock().unwrap().is_empty());
        assert_eq!(q.waiting(), 0);
    }
}
