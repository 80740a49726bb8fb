//! The runner: each tick it finds the jobs due at the clock's now (one
//! index range scan), sets each one's next due time before it starts (so a
//! slow run is never started twice), applies the job's missed-run rule,
//! runs the turn in the job's own session ("Job: NAME"), delivers the
//! answer and records the run. Bounded: at most [`MAX_PER_TICK`] jobs start
//! per tick, one run per job at a time.

use super::clock::Clock;
use super::heartbeat::Heartbeat;
use super::spec::{Spec, next_after};
use crate::agent::events::{Stop, TurnEvent};
use crate::agent::turn::TurnOptions;
use crate::channels::{ChatRef, Hub};
use crate::daemon::turns::{Asking, PendingApproval, StartError, Turns};
use crate::store::{Job, JobRun, Store};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Jobs started per tick, at most (the rest wait for the next tick).
pub const MAX_PER_TICK: usize = 16;

/// A run this late (ms) after its due time counts as missed.
pub const GRACE_MS: i64 = 60_000;

/// How often the daemon's runner looks for due jobs.
pub const TICK: Duration = Duration::from_secs(5);

/// How long a run waits for another turn in its session to end.
const BUSY_WAIT: Duration = Duration::from_secs(600);

/// What one tick did for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The job (`heartbeat` for the heartbeat).
    pub job: String,
    /// The slot it ran for.
    pub due_ms: i64,
    /// The clock when it started.
    pub started_ms: i64,
    /// How the turn ended (`skipped` when the missed rule skipped it).
    pub stop: String,
    /// The answer.
    pub text: String,
    /// Whether the answer was sent to a chat.
    pub delivered: bool,
}

/// The scheduler.
pub struct Runner {
    turns: Arc<Turns>,
    hub: Option<Arc<Hub>>,
    clock: Arc<dyn Clock>,
    running: Mutex<HashSet<String>>,
    heartbeat: Option<Heartbeat>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes a job from the running set when its run ends, however it ends.
struct Running<'a>(&'a Runner, String);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        lock(&self.0.running).remove(&self.1);
    }
}

/// A stop as stored (`answer`, `error`, …).
pub fn stop_name(stop: Stop) -> String {
    serde_json::to_value(stop)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{stop:?}"))
}

/// Where an answer goes: a chat, or `None` for the web page.
pub fn target(deliver: Option<&str>) -> Option<ChatRef> {
    deliver
        .filter(|d| *d != "web")
        .and_then(ChatRef::parse_target)
}

impl Runner {
    /// A runner over the daemon's turns, delivering through `hub` (none:
    /// answers stay in the jobs' sessions), on `clock`.
    pub fn new(turns: Arc<Turns>, hub: Option<Arc<Hub>>, clock: Arc<dyn Clock>) -> Self {
        Runner {
            turns,
            hub,
            clock,
            running: Mutex::default(),
            heartbeat: None,
        }
    }

    /// With the heartbeat (see [`Heartbeat`]).
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = Some(heartbeat);
        self
    }

    fn store(&self) -> &Arc<Store> {
        self.turns.agent().store()
    }

    /// Run what is due at the clock's now (and the heartbeat, when due);
    /// returns when those runs ended.
    pub async fn tick(&self) -> Vec<Fired> {
        let now = self.clock.now_ms();
        let mut out = Vec::new();
        let due = match self.store().due_jobs(now, MAX_PER_TICK) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("scheduler: cannot read the jobs: {e}");
                Vec::new()
            }
        };
        let mut runs = Vec::new();
        for job in due {
            if !lock(&self.running).insert(job.name.clone()) {
                continue;
            }
            let guard = Running(self, job.name.clone());
            match self.plan(&job, now) {
                Ok(true) => runs.push(async move {
                    let _guard = guard;
                    self.run(&job, now).await
                }),
                Ok(false) => out.push(self.skip(&job, now)),
                Err(why) => {
                    tracing::error!(job = %job.name, "scheduler: {why}");
                }
            }
        }
        out.extend(futures_util::future::join_all(runs).await);
        if let Some(h) = &self.heartbeat
            && let Some(f) = h.tick(self, now).await
        {
            out.push(f);
        }
        out
    }

    /// Set the job's next due time; whether this slot runs (false: the
    /// missed rule skips it).
    fn plan(&self, job: &Job, now: i64) -> Result<bool, String> {
        let due = job.next_due_ms.unwrap_or(now);
        let spec = Spec::stored(&job.kind, &job.expr, &job.tz);
        let next = spec.as_ref().ok().and_then(|s| next_after(s, now));
        self.store()
            .set_job_next(&job.name, next)
            .map_err(|e| e.to_string())?;
        if let Err(e) = spec {
            return Err(format!("job `{}` has a bad schedule: {e}", job.name));
        }
        Ok(!(job.missed == "skip" && now - due > GRACE_MS))
    }

    fn skip(&self, job: &Job, now: i64) -> Fired {
        let due = job.next_due_ms.unwrap_or(now);
        tracing::info!(job = %job.name, "scheduler: a missed run was skipped (missed = skip)");
        self.record(JobRun {
            job: job.name.clone(),
            due_ms: due,
            started_ms: now,
            session: None,
            turn: None,
            stop: "skipped".into(),
            error: None,
        });
        Fired {
            job: job.name.clone(),
            due_ms: due,
            started_ms: now,
            stop: "skipped".into(),
            text: String::new(),
            delivered: false,
        }
    }

    fn record(&self, run: JobRun) {
        if let Err(e) = self.store().record_job_run(&run) {
            tracing::error!(job = %run.job, "scheduler: cannot record a run: {e}");
        }
    }

    /// The session that `key` runs in, made with `title` the first time.
    pub(super) fn session(&self, key: &str, title: &str) -> Result<String, String> {
        let store = self.store();
        if let Some(s) = store.chat_session(key).map_err(|e| e.to_string())? {
            return Ok(s);
        }
        let s = store.create_session(title).map_err(|e| e.to_string())?;
        store
            .set_chat_session(key, &s.id)
            .map_err(|e| e.to_string())?;
        Ok(s.id)
    }

    async fn run(&self, job: &Job, now: i64) -> Fired {
        let due = job.next_due_ms.unwrap_or(now);
        let target = target(job.deliver.as_deref());
        let asking = if job.approvals == "ask" {
            Asking::Api
        } else {
            Asking::Deny
        };
        let opts = TurnOptions {
            job: Some(job.name.clone()),
            max_tokens: job.max_tokens,
            max_usd: job.max_usd,
        };
        let title = format!("Job: {}", job.name);
        let (session, result) = match self.session(&format!("job:{}", job.name), &title) {
            Ok(s) => {
                let r = self
                    .turn(&s, job.prompt.clone(), asking, opts, target.as_ref())
                    .await;
                (Some(s), r)
            }
            Err(e) => (None, Err(e)),
        };
        let (stop, text, error) = match result {
            Ok((stop, text, error)) => (stop_name(stop), text, error),
            Err(e) => ("error".to_string(), String::new(), Some(e)),
        };
        let delivered = match &target {
            Some(t) => {
                let body = delivery(&job.name, &stop, &text, error.as_deref());
                self.deliver(t, &body).await
            }
            None => false,
        };
        tracing::info!(job = %job.name, stop = %stop, delivered, "scheduler: job ran");
        self.record(JobRun {
            job: job.name.clone(),
            due_ms: due,
            started_ms: now,
            session,
            turn: None,
            stop: stop.clone(),
            error: error.clone(),
        });
        Fired {
            job: job.name.clone(),
            due_ms: due,
            started_ms: now,
            stop,
            text,
            delivered,
        }
    }

    /// Send `body` to a chat; whether it went.
    pub(super) async fn deliver(&self, target: &ChatRef, body: &str) -> bool {
        let Some(hub) = &self.hub else {
            tracing::warn!(target = %target.key(), "scheduler: no channels are running; the answer stays in its session");
            return false;
        };
        match hub.deliver(target, body).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(target = %target.key(), "scheduler: answer not delivered: {e}");
                false
            }
        }
    }

    /// Run one turn in `session` to its end: (stop, answer, error).
    pub(super) async fn turn(
        &self,
        session: &str,
        text: String,
        asking: Asking,
        opts: TurnOptions,
        ask_in: Option<&ChatRef>,
    ) -> Result<(Stop, String, Option<String>), String> {
        let started = tokio::time::Instant::now();
        let mut rx = loop {
            match self
                .turns
                .start_opts(session, text.clone(), asking, opts.clone())
            {
                Ok(rx) => break rx,
                Err(StartError::Busy) if started.elapsed() < BUSY_WAIT => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(StartError::Busy) => {
                    return Err(format!(
                        "another turn kept the session busy for {} s",
                        BUSY_WAIT.as_secs()
                    ));
                }
                Err(StartError::ShuttingDown) => return Err("the daemon is shutting down".into()),
            }
        };
        let mut error = None;
        while let Some(event) = rx.recv().await {
            match event {
                TurnEvent::ApprovalRequested {
                    approval_id,
                    call_id,
                    tool,
                    input,
                    effects,
                    timeout_secs,
                } => {
                    // Without a chat to ask in, the question waits in the
                    // web page (the session's pending approvals) until
                    // its timeout denies it.
                    if let (Some(hub), Some(chat)) = (&self.hub, ask_in) {
                        let asked = PendingApproval {
                            approval_id,
                            call_id,
                            tool,
                            input,
                            effects,
                            timeout_secs,
                        };
                        if let Err(e) = hub.ask_in_chat(chat, session, &asked).await {
                            tracing::warn!("scheduler: cannot ask for an approval: {e}");
                        }
                    }
                }
                TurnEvent::ApprovalResolved { approval_id, .. } => {
                    if let Some(hub) = &self.hub {
                        hub.asked_done(&approval_id);
                    }
                }
                TurnEvent::Error { message } => error = Some(message),
                TurnEvent::Done { stop, text } => return Ok((stop, text, error)),
                _ => {}
            }
        }
        Err("the turn ended without a result".into())
    }

    /// Run ticks every [`TICK`] until `stop` (the daemon's runner). A tick
    /// runs in its own task, so a long run does not hold up other jobs.
    pub async fn serve(self: Arc<Self>, stop: CancellationToken) {
        let tasks = tokio_util::task::TaskTracker::new();
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.cancelled() => break,
            }
            // Bounded: a tick still running keeps its jobs in `running`;
            // at most a few ticks overlap before their turns end.
            if tasks.len() < 4 * MAX_PER_TICK {
                let me = self.clone();
                tasks.spawn(async move {
                    me.tick().await;
                });
            }
        }
        tasks.close();
        // The turns were cancelled by the shutdown: their ends are quick.
        let _ = tokio::time::timeout(Duration::from_secs(10), tasks.wait()).await;
    }
}

/// What is sent to the chat for a run.
fn delivery(name: &str, stop: &str, text: &str, error: Option<&str>) -> String {
    match stop {
        "error" | "cancelled" | "interrupted" => format!(
            "Job `{name}`: the run failed: {}",
            chitin_sandbox::text::one_line(error.unwrap_or("see the daemon's log"), 300)
        ),
        _ if text.trim().is_empty() => format!("Job `{name}`: (no answer)"),
        _ => format!("**{name}**\n\n{text}"),
    }
}
