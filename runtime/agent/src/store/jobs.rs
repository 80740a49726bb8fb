//! Scheduled jobs (see [`crate::schedule`]): their definitions, next due
//! times, runs, and the jobs the agent proposed (which never run until the
//! owner confirms them).

use super::{Store, StoreError, now_ms};
use rusqlite::{OptionalExtension, params};

/// The jobs' tables (created with the rest of the schema). The runner's
/// query each tick is an index range scan on `jobs_by_due`.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    expr TEXT NOT NULL,
    tz TEXT NOT NULL,
    prompt TEXT NOT NULL,
    deliver TEXT,
    approvals TEXT NOT NULL,
    missed TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    max_tokens INTEGER,
    max_usd REAL,
    next_due_ms INTEGER,
    last_run_ms INTEGER,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_due ON jobs(paused, next_due_ms);
CREATE TABLE IF NOT EXISTS job_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    due_ms INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    session TEXT,
    turn TEXT,
    stop TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS job_runs_by_job ON job_runs(job, id);
CREATE TABLE IF NOT EXISTS job_proposals (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    expr TEXT NOT NULL,
    tz TEXT NOT NULL,
    prompt TEXT NOT NULL,
    deliver TEXT,
    session TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
";

/// Most runs kept per job (older ones are dropped as new ones are added).
pub const MAX_RUNS_KEPT: i64 = 200;

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Unique name.
    pub name: String,
    /// `cron`, `at` or `every`.
    pub kind: String,
    /// The expression (for `at`, ms since the epoch).
    pub expr: String,
    /// IANA time zone of a cron expression.
    pub tz: String,
    /// What the turn is asked.
    pub prompt: String,
    /// Where the answer goes (`telegram:CHAT`…); `None`: the web page.
    pub deliver: Option<String>,
    /// `deny` or `ask`.
    pub approvals: String,
    /// After downtime: `once` or `skip`.
    pub missed: String,
    /// Paused jobs do not run.
    pub paused: bool,
    /// Tokens one run may use.
    pub max_tokens: Option<u64>,
    /// USD one run may spend (a priced model).
    pub max_usd: Option<f64>,
    /// When it runs next; `None`: never again (a one-shot that ran).
    pub next_due_ms: Option<i64>,
    /// When it last started.
    pub last_run_ms: Option<i64>,
    /// Created, ms since the epoch.
    pub created_ms: i64,
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// The job.
    pub job: String,
    /// The slot it ran for.
    pub due_ms: i64,
    /// When it started.
    pub started_ms: i64,
    /// The session it ran in.
    pub session: Option<String>,
    /// The turn.
    pub turn: Option<String>,
    /// How it ended (`answer`, `error`, `skipped`…).
    pub stop: String,
    /// What went wrong.
    pub error: Option<String>,
}

/// A job the agent proposed; it runs only once the owner confirms it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Id (`p-` + hex).
    pub id: String,
    /// The job's name.
    pub name: String,
    /// `cron`, `at` or `every`.
    pub kind: String,
    /// The expression.
    pub expr: String,
    /// The time zone.
    pub tz: String,
    /// The prompt (the model's text).
    pub prompt: String,
    /// Where it would deliver.
    pub deliver: Option<String>,
    /// The session that proposed it.
    pub session: String,
    /// When.
    pub created_ms: i64,
}

const COLUMNS: &str = "name, kind, expr, tz, prompt, deliver, approvals, missed, paused, max_tokens, next_due_ms, last_run_ms, created_ms, max_usd";

fn row_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        name: r.get(0)?,
        kind: r.get(1)?,
        expr: r.get(2)?,
        tz: r.get(3)?,
        prompt: r.get(4)?,
        deliver: r.get(5)?,
        approvals: r.get(6)?,
        missed: r.get(7)?,
        paused: r.get::<_, i64>(8)? != 0,
        max_tokens: r.get::<_, Option<i64>>(9)?.map(|n| n.max(0) as u64),
        next_due_ms: r.get(10)?,
        last_run_ms: r.get(11)?,
        created_ms: r.get(12)?,
        max_usd: r.get(13)?,
    })
}

impl Store {
    /// Add a job; false when one has that name already.
    pub fn add_job(&self, job: &Job) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                &format!("INSERT OR IGNORE INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                params![
                    job.name,
                    job.kind,
                    job.expr,
                    job.tz,
                    job.prompt,
                    job.deliver,
                    job.approvals,
                    job.missed,
                    job.paused as i64,
                    job.max_tokens.map(|n| n.min(i64::MAX as u64) as i64),
                    job.next_due_ms,
                    job.last_run_ms,
                    job.created_ms,
                    job.max_usd,
                ],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n == 1)
    }

    /// Every job, by name.
    pub fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare(&format!("SELECT {COLUMNS} FROM jobs ORDER BY name"))
            .map_err(|e| self.sql(e))?;
        st.query_map([], row_job)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))
    }

    /// One job.
    pub fn job(&self, name: &str) -> Result<Option<Job>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE name = ?1"),
                [name],
                row_job,
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Pause or resume; false when there is no such job.
    pub fn set_job_paused(&self, name: &str, paused: bool) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE jobs SET paused = ?2 WHERE name = ?1",
                params![name, paused as i64],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n == 1)
    }

    /// Remove a job and its runs; false when there is no such job.
    pub fn remove_job(&self, name: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute("DELETE FROM jobs WHERE name = ?1", [name])
            .map_err(|e| self.sql(e))?;
        conn.execute("DELETE FROM job_runs WHERE job = ?1", [name])
            .map_err(|e| self.sql(e))?;
        Ok(n == 1)
    }

    /// The unpaused jobs due at `now` (earliest first), at most `limit`.
    pub fn due_jobs(&self, now: i64, limit: usize) -> Result<Vec<Job>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE paused = 0 AND next_due_ms IS NOT NULL AND next_due_ms <= ?1 ORDER BY next_due_ms LIMIT ?2"
            ))
            .map_err(|e| self.sql(e))?;
        st.query_map(params![now, limit as i64], row_job)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))
    }

    /// When the next unpaused job is due, if any.
    pub fn next_due(&self) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached("SELECT next_due_ms FROM jobs WHERE paused = 0 AND next_due_ms IS NOT NULL ORDER BY next_due_ms LIMIT 1")
            .map_err(|e| self.sql(e))?;
        st.query_row([], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Set when the job runs next (`None`: never); false when there is none.
    pub fn set_job_next(&self, name: &str, next: Option<i64>) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE jobs SET next_due_ms = ?2 WHERE name = ?1",
                params![name, next],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n == 1)
    }

    /// Record a run (and the job's last run), keeping the newest
    /// [`MAX_RUNS_KEPT`].
    pub fn record_job_run(&self, run: &JobRun) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        tx.execute(
            "INSERT INTO job_runs (job, due_ms, started_ms, session, turn, stop, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![run.job, run.due_ms, run.started_ms, run.session, run.turn, run.stop, run.error],
        )
        .map_err(|e| self.sql(e))?;
        if run.stop != "skipped" {
            tx.execute(
                "UPDATE jobs SET last_run_ms = ?2 WHERE name = ?1",
                params![run.job, run.started_ms],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.execute(
            "DELETE FROM job_runs WHERE job = ?1 AND id <= (SELECT id FROM job_runs WHERE job = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![run.job, MAX_RUNS_KEPT],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))
    }

    /// A job's newest runs, newest first, at most `limit`.
    pub fn job_runs(&self, name: &str, limit: usize) -> Result<Vec<JobRun>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT job, due_ms, started_ms, session, turn, stop, error FROM job_runs WHERE job = ?1 ORDER BY id DESC LIMIT ?2")
            .map_err(|e| self.sql(e))?;
        st.query_map(params![name, limit as i64], |r| {
            Ok(JobRun {
                job: r.get(0)?,
                due_ms: r.get(1)?,
                started_ms: r.get(2)?,
                session: r.get(3)?,
                turn: r.get(4)?,
                stop: r.get(5)?,
                error: r.get(6)?,
            })
        })
        .map_err(|e| self.sql(e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| self.sql(e))
    }

    /// Record a proposal (its id is set here); the proposal as stored.
    pub fn propose_job(&self, mut p: Proposal) -> Result<Proposal, StoreError> {
        p.id = super::new_id("p-");
        p.created_ms = now_ms();
        self.conn()
            .execute(
                "INSERT INTO job_proposals (id, name, kind, expr, tz, prompt, deliver, session, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![p.id, p.name, p.kind, p.expr, p.tz, p.prompt, p.deliver, p.session, p.created_ms],
            )
            .map_err(|e| self.sql(e))?;
        Ok(p)
    }

    /// Every proposal, oldest first.
    pub fn proposals(&self) -> Result<Vec<Proposal>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT id, name, kind, expr, tz, prompt, deliver, session, created_ms FROM job_proposals ORDER BY created_ms, id")
            .map_err(|e| self.sql(e))?;
        st.query_map([], row_proposal)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))
    }

    /// One proposal.
    pub fn proposal(&self, id: &str) -> Result<Option<Proposal>, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, name, kind, expr, tz, prompt, deliver, session, created_ms FROM job_proposals WHERE id = ?1",
                [id],
                row_proposal,
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Drop a proposal (confirmed or refused); false when there is none.
    pub fn remove_proposal(&self, id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute("DELETE FROM job_proposals WHERE id = ?1", [id])
            .map_err(|e| self.sql(e))?;
        Ok(n == 1)
    }
}

fn row_proposal(r: &rusqlite::Row<'_>) -> rusqlite::Result<Proposal> {
    Ok(Proposal {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        expr: r.get(3)?,
        tz: r.get(4)?,
        prompt: r.get(5)?,
        deliver: r.get(6)?,
        session: r.get(7)?,
        created_ms: r.get(8)?,
    })
}
