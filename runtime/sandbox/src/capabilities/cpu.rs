//! The CPU meter: a call's budget is the CPU time its thread spends on it,
//! in WebAssembly *and* in the host calls it makes (random bytes, hashing,
//! header maps ...), so a guest cannot burn host CPU through cheap-looking
//! imports. Waiting (I/O, sleeps) costs nothing.
//!
//! The engine's epoch ticker interrupts running WebAssembly every
//! [`EPOCH_TICK`]; at each interruption the meter reads the thread's CPU
//! clock and stops the call once the budget is spent. The call's future is
//! [`Metered`]: the time of each poll is added, so CPU spent on other tasks
//! between polls is never charged. A call that ends within its first tick
//! (the common, fast case) never reads the clock at all; the time before the
//! first interruption is charged as one tick.

use super::limits::EPOCH_TICK;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

/// This thread's CPU time in nanoseconds, where the platform has the clock.
pub fn thread_cpu_ns() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "freebsd"))]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        u64::try_from(t.tv_sec)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000_000))
            .and_then(|ns| ns.checked_add(u64::try_from(t.tv_nsec).ok()?))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "freebsd")))]
    {
        None
    }
}

/// One call's CPU account.
#[derive(Debug)]
pub struct CpuMeter {
    budget_ns: u64,
    budget_ticks: u64,
    /// Set at the first interruption: from then on every poll is timed.
    active: AtomicBool,
    used_ns: AtomicU64,
    /// Thread CPU time when the current poll began (valid while active).
    poll_start: AtomicU64,
    ticks: AtomicU64,
    hit: AtomicBool,
}

impl CpuMeter {
    /// A meter with a budget of `budget_ns` (or `budget_ticks` interruptions
    /// where the thread clock is missing).
    pub fn new(budget_ns: u64, budget_ticks: u64) -> Arc<Self> {
        Arc::new(CpuMeter {
            budget_ns,
            budget_ticks,
            active: AtomicBool::new(false),
            used_ns: AtomicU64::new(0),
            poll_start: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            hit: AtomicBool::new(false),
        })
    }

    /// At an epoch interruption (on the thread running the call): whether
    /// the budget is spent. Sets [`CpuMeter::hit`] when it is.
    pub fn over_budget(&self) -> bool {
        let ticks = self.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        let over = match thread_cpu_ns() {
            None => ticks > self.budget_ticks,
            Some(now) => {
                if !self.active.swap(true, Ordering::Relaxed) {
                    // Before the first interruption nothing was timed: charge a tick.
                    self.used_ns
                        .store(EPOCH_TICK.as_nanos() as u64, Ordering::Relaxed);
                    self.poll_start.store(now, Ordering::Relaxed);
                }
                let in_poll = now.saturating_sub(self.poll_start.load(Ordering::Relaxed));
                self.used_ns.load(Ordering::Relaxed) + in_poll > self.budget_ns
            }
        };
        if over {
            self.hit.store(true, Ordering::Relaxed);
        }
        over
    }

    /// Whether the call was stopped for CPU.
    pub fn hit(&self) -> bool {
        self.hit.load(Ordering::Relaxed)
    }

    /// CPU time charged so far, in nanoseconds (0 for a call that ended
    /// before its first interruption).
    pub fn used_ns(&self) -> u64 {
        self.used_ns.load(Ordering::Relaxed)
    }

    fn begin_poll(&self) {
        if self.active.load(Ordering::Relaxed)
            && let Some(now) = thread_cpu_ns()
        {
            self.poll_start.store(now, Ordering::Relaxed);
        }
    }

    fn end_poll(&self) {
        if self.active.load(Ordering::Relaxed)
            && let Some(now) = thread_cpu_ns()
        {
            let spent = now.saturating_sub(self.poll_start.load(Ordering::Relaxed));
            self.used_ns.fetch_add(spent, Ordering::Relaxed);
        }
    }
}

pin_project_lite::pin_project! {
    /// A call's future with every poll timed by its [`CpuMeter`].
    pub struct Metered<F> {
        meter: Arc<CpuMeter>,
        #[pin]
        inner: F,
    }
}

impl<F> Metered<F> {
    /// Time `inner`'s polls with `meter`.
    pub fn new(meter: Arc<CpuMeter>, inner: F) -> Self {
        Metered { meter, inner }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.meter.begin_poll();
        let out = this.inner.poll(cx);
        this.meter.end_poll();
        out
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn burn(ms: u64) {
        let now = || thread_cpu_ns().unwrap_or(u64::MAX);
        let start = now();
        let mut x = 0u64;
        while now().saturating_sub(start) < ms * 1_000_000 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    #[test]
    fn host_work_inside_polls_is_charged_and_waiting_is_not() {
        let meter = CpuMeter::new(50_000_000, 1000);
        let m = meter.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(Metered::new(meter.clone(), async move {
            assert!(
                !m.over_budget(),
                "the first interruption only starts timing"
            );
            burn(20);
            assert!(!m.over_budget());
            // Sleeping is not CPU.
            tokio::time::sleep(std::time::Duration::from_millis(60)).await;
            assert!(!m.over_budget());
            burn(40);
            assert!(m.over_budget(), "used {} ns", m.used_ns());
        }));
        assert!(meter.hit());
        assert!(meter.used_ns() >= 60_000_000);
    }
}
