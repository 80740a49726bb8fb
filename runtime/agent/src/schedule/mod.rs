//! Scheduled jobs and the heartbeat.
//!
//! A job is a prompt run as a turn in its own session ("Job: NAME") on a
//! schedule ([`spec`]: cron with a time zone, a one-shot time, an
//! interval), kept in SQLite (`chitin cron …`). The daemon's [`Runner`]
//! looks for due jobs every few seconds on a [`Clock`] (the tests drive a
//! fake one), applies each job's missed-run rule after downtime (run once,
//! not once per missed slot, or skip), asks approvals through the job's
//! delivery chat (or the web page) until `[agent] approval_timeout_secs`
//! denies them, and delivers the answer. The agent can only *propose* a job
//! ([`propose`]); the owner confirms it.

pub mod clock;
pub mod heartbeat;
pub mod job;
pub mod propose;
pub mod runner;
pub mod spec;

pub use clock::{Clock, FakeClock, SystemClock};
pub use heartbeat::Heartbeat;
pub use job::{JobError, NewJob};
pub use runner::{Fired, Runner};
pub use spec::{Spec, SpecError, next_after};
