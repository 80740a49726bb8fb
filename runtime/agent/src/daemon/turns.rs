//! Turns running in the daemon: at most one per session, each in its own
//! task (a client that goes away does not stop it), cancellable, with its
//! pending approvals answerable from any authenticated request.

use crate::agent::Agent;
use crate::agent::approvals::{ApprovalRequest, Approver, DenyAll};
use crate::agent::events::TurnEvent;
use crate::agent::turn::{TurnIo, TurnOptions};
use crate::provider::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

type Pending = Arc<Mutex<HashMap<String, Waiting>>>;

/// A question waiting for its answer.
struct Waiting {
    answer: oneshot::Sender<bool>,
    request: ApprovalRequest,
    asked: Instant,
}

/// An approval a running turn waits for, as a client that opens the
/// session while it waits sees it (the fields of `approval_requested`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingApproval {
    /// Id to answer with.
    pub approval_id: String,
    /// The model's call id.
    pub call_id: String,
    /// Namespaced tool name.
    pub tool: String,
    /// Arguments as the model sent them.
    pub input: String,
    /// Declared effects.
    pub effects: Vec<String>,
    /// Seconds left before it counts as denied.
    pub timeout_secs: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Asks through the web/API channel: the question goes out as an event and
/// waits for `POST .../approvals/{id}`.
struct ApiApprover {
    pending: Pending,
}

impl Approver for ApiApprover {
    fn ask(&self, request: ApprovalRequest) -> BoxFuture<'_, Option<bool>> {
        let (tx, rx) = oneshot::channel();
        let id = request.approval_id.clone();
        lock(&self.pending).insert(
            id.clone(),
            Waiting {
                answer: tx,
                request,
                asked: Instant::now(),
            },
        );
        // Unregistered however the wait ends (answer, timeout, cancel).
        let registered = Registered(self.pending.clone(), id);
        Box::pin(async move {
            let _registered = registered;
            rx.await.ok()
        })
    }
}

/// A pending approval, removed from the table when dropped.
struct Registered(Pending, String);

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.0).remove(&self.1);
    }
}

struct Running {
    cancel: CancellationToken,
    pending: Pending,
    /// Which turn (or reservation) holds the session.
    serial: u64,
}

/// Marks a session free when the turn's task ends, however it ends (or
/// as soon as its `done` is out, so the next message can start at once).
struct Free(Arc<Turns>, String, u64);

impl Free {
    fn release(&self) {
        let mut running = lock(&self.0.running);
        // Only this turn's own entry: a next turn may hold the session now.
        if running.get(&self.1).is_some_and(|r| r.serial == self.2) {
            running.remove(&self.1);
            if running.is_empty() {
                let _ = self.0.trim.idle();
            }
        }
    }
}

impl Drop for Free {
    fn drop(&mut self) {
        self.release();
    }
}

/// A session held by [`Turns::reserve`]: no turn starts in it meanwhile.
pub struct Reserved(#[allow(dead_code)] Free);

/// The daemon's running turns.
pub struct Turns {
    agent: Agent,
    running: Mutex<HashMap<String, Running>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    trim: Arc<super::memory::IdleTrim>,
    serial: std::sync::atomic::AtomicU64,
}

/// How a turn's approvals are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asking {
    /// As `approval_requested` events, answered with [`Turns::answer`]
    /// (the web page, the API, a chat's buttons).
    Api,
    /// Nobody can answer (a webhook, an API client that cannot ask): a
    /// tool that asks is denied at once, and the model told why.
    Deny,
}

/// Why a turn cannot start.
#[derive(Debug, PartialEq, Eq)]
pub enum StartError {
    /// Another turn is running in the session.
    Busy,
    /// The daemon is shutting down.
    ShuttingDown,
}

impl Turns {
    /// No turns yet.
    pub fn new(agent: Agent, shutdown: CancellationToken) -> Self {
        Turns {
            agent,
            running: Mutex::new(HashMap::new()),
            tracker: TaskTracker::new(),
            shutdown,
            trim: Arc::default(),
            serial: Default::default(),
        }
    }

    fn next_serial(&self) -> u64 {
        self.serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The agent.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Start a turn; its events arrive on the returned channel, which closes
    /// after `done`.
    pub fn start(
        self: &Arc<Self>,
        session_id: &str,
        text: String,
    ) -> Result<mpsc::UnboundedReceiver<TurnEvent>, StartError> {
        self.start_with(session_id, text, Asking::Api)
    }

    /// [`Turns::start`], choosing how approvals are asked.
    pub fn start_with(
        self: &Arc<Self>,
        session_id: &str,
        text: String,
        asking: Asking,
    ) -> Result<mpsc::UnboundedReceiver<TurnEvent>, StartError> {
        self.start_opts(session_id, text, asking, TurnOptions::default())
    }

    /// [`Turns::start_with`] with the turn's own limits and labels (a
    /// scheduled job's run).
    pub fn start_opts(
        self: &Arc<Self>,
        session_id: &str,
        text: String,
        asking: Asking,
        opts: TurnOptions,
    ) -> Result<mpsc::UnboundedReceiver<TurnEvent>, StartError> {
        if self.shutdown.is_cancelled() {
            return Err(StartError::ShuttingDown);
        }
        let cancel = self.shutdown.child_token();
        let pending: Pending = Arc::default();
        let serial = self.next_serial();
        {
            let mut running = lock(&self.running);
            if running.contains_key(session_id) {
                return Err(StartError::Busy);
            }
            self.trim.started();
            running.insert(
                session_id.to_string(),
                Running {
                    cancel: cancel.clone(),
                    pending: pending.clone(),
                    serial,
                },
            );
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let me = self.clone();
        let session = session_id.to_string();
        self.tracker.spawn(async move {
            // Free the session even if the turn panics.
            let free = Free(me.clone(), session.clone(), serial);
            let api = ApiApprover { pending };
            let approver: &dyn Approver = match asking {
                Asking::Api => &api,
                Asking::Deny => &DenyAll,
            };
            let send = |e: TurnEvent| {
                // `done` comes after the turn's last record: the session is
                // free for the next turn before the client hears of it.
                if matches!(e, TurnEvent::Done { .. }) {
                    free.release();
                }
                let _ = tx.send(e);
            };
            let io = TurnIo {
                events: &send,
                approver,
                cancel,
            };
            let summary = me.agent.run_turn_with(&session, &text, &io, opts).await;
            tracing::info!(session = %session, turn = %summary.turn_id, stop = ?summary.stop, tokens = summary.usage.total(), "turn finished");
            if let Some(error) = &summary.error {
                // The client was told; the operator reads the log.
                tracing::error!(session = %session, turn = %summary.turn_id, "turn failed: {}", chitin_sandbox::text::one_line(error, 500));
            }
        });
        Ok(rx)
    }

    /// Answer a pending approval; false if there is none with that id.
    pub fn answer(&self, session_id: &str, approval_id: &str, approve: bool) -> bool {
        let running = lock(&self.running);
        let Some(r) = running.get(session_id) else {
            return false;
        };
        let waiting = lock(&r.pending).remove(approval_id);
        waiting.is_some_and(|w| w.answer.send(approve).is_ok())
    }

    /// Whether a turn runs in the session.
    pub fn is_running(&self, session_id: &str) -> bool {
        lock(&self.running).contains_key(session_id)
    }

    /// The approvals the session's running turn waits for, oldest first;
    /// `None` when no turn runs in it.
    pub fn pending_approvals(&self, session_id: &str) -> Option<Vec<PendingApproval>> {
        let running = lock(&self.running);
        let pending = lock(&running.get(session_id)?.pending);
        let mut waiting: Vec<&Waiting> = pending.values().collect();
        waiting.sort_by_key(|w| w.asked);
        Some(
            waiting
                .into_iter()
                .map(|w| PendingApproval {
                    approval_id: w.request.approval_id.clone(),
                    call_id: w.request.call_id.clone(),
                    tool: w.request.tool.clone(),
                    input: w.request.input.clone(),
                    effects: w.request.effects.clone(),
                    timeout_secs: w
                        .request
                        .timeout
                        .saturating_sub(w.asked.elapsed())
                        .as_secs_f64()
                        .ceil() as u64,
                })
                .collect(),
        )
    }

    /// Hold off new turns in the session until the returned guard drops;
    /// `None` when a turn runs (or another holder has it). The lock is held
    /// only to mark the session, so slow work under the guard (deleting a
    /// session) blocks nothing else.
    pub fn reserve(self: &Arc<Self>, session_id: &str) -> Option<Reserved> {
        let mut running = lock(&self.running);
        if running.contains_key(session_id) {
            return None;
        }
        let serial = self.next_serial();
        running.insert(
            session_id.to_string(),
            Running {
                cancel: CancellationToken::new(),
                pending: Pending::default(),
                serial,
            },
        );
        Some(Reserved(Free(self.clone(), session_id.to_string(), serial)))
    }

    /// Cancel the session's running turn; false if none runs.
    pub fn cancel(&self, session_id: &str) -> bool {
        match lock(&self.running).get(session_id) {
            Some(r) => {
                r.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancel every turn and wait (bounded) for them to record their end.
    pub async fn shut_down(&self, grace: std::time::Duration) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }
}
