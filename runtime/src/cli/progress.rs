//! Long work, shown while it lasts: a spinner on a terminal, plain lines
//! otherwise (logs, CI), and how long it took at the end. Work that finishes
//! within [`delay`] shows nothing, so a cached load stays silent.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long work may take before it is shown (`CHITIN_PROGRESS_AFTER_MS`
/// changes it; tests set 0).
fn delay() -> Duration {
    std::env::var("CHITIN_PROGRESS_AFTER_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_millis(800), Duration::from_millis)
}

/// Work being shown; finished (and its time printed) when dropped.
pub struct Shown {
    done: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Show `what` (already clean text) while the returned guard lives.
pub fn start(what: &str) -> Shown {
    let what = chitin::text::one_line(what, 200);
    let (tx, rx) = mpsc::channel::<()>();
    let after = delay();
    let terminal = std::io::stderr().is_terminal();
    let thread = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let started = Instant::now();
            if rx.recv_timeout(after) != Err(mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            if terminal {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                    bar.set_style(style);
                }
                bar.set_message(what.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                let _ = rx.recv();
                bar.finish_and_clear();
            } else {
                eprintln!("{what} ...");
                let _ = rx.recv();
            }
            eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
        })
        .ok();
    Shown {
        done: Some(tx),
        thread,
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        // Closing the channel ends the wait; joining keeps the output in order.
        self.done.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Run `work`, shown as `what` if it takes a while.
pub fn during<T>(what: &str, work: impl FnOnce() -> T) -> T {
    let _shown = start(what);
    work()
}
