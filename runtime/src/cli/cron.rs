//! `chitin cron`: scheduled jobs. Jobs live in the session database, so
//! these work with or without a running daemon; the daemon picks changes up
//! on its next tick (every few seconds). What the agent proposed
//! (`propose_job`) is listed apart and becomes a job only with `confirm`.

use super::{EXIT_OK, Paths};
use anyhow::{Context, bail};
use chitin::schedule::job::{NewJob, make};
use chitin::schedule::spec::{Spec, next_after, utc};
use chitin::store::{Job, Proposal, Store, now_ms};
use chitin::text::{clean, one_line};
use clap::{Args, Subcommand};

const AFTER_HELP: &str = "\
A morning briefing, every day at 07:00 Paris time, sent to Telegram:
  chitin cron add briefing --cron \"0 7 * * *\" --tz Europe/Paris \\
      --deliver telegram:CHAT --prompt \"Summarise my calendar and the weather\"

Each job runs as a turn in its own session (\"Job: NAME\"). After downtime,
a missed run is run once (--missed once, the default) or skipped (skip).";

/// Cron commands.
#[derive(Debug, Subcommand)]
#[command(after_help = AFTER_HELP)]
pub enum CronCommand {
    /// Add a job.
    Add(Box<AddArgs>),
    /// The jobs, their next runs, and the agent's proposals.
    List,
    /// One job: its definition, next run and last runs.
    Show {
        /// The job.
        name: String,
    },
    /// Stop running a job (kept).
    Pause {
        /// The job.
        name: String,
    },
    /// Run a paused job again.
    Resume {
        /// The job.
        name: String,
    },
    /// Remove a job and its run history.
    Rm {
        /// The job.
        name: String,
    },
    /// Run a job now (the running daemon picks it up within seconds).
    RunNow {
        /// The job.
        name: String,
    },
    /// Make the agent's proposal ID a job (shows it first).
    Confirm {
        /// The proposal's id (`chitin cron list` shows them).
        id: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

/// `chitin cron add`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["cron", "at", "every"])))]
pub struct AddArgs {
    /// Its name (letters, digits, - and _).
    name: String,
    /// A cron expression, e.g. "0 7 * * *".
    #[arg(long)]
    cron: Option<String>,
    /// The cron expression's IANA time zone [default: $TZ, else UTC].
    #[arg(long, requires = "cron")]
    tz: Option<String>,
    /// Once: "in 20 minutes" (minutes, hours, days) or an RFC 3339 time.
    #[arg(long)]
    at: Option<String>,
    /// An interval: 30m, 2h, 1d.
    #[arg(long)]
    every: Option<String>,
    /// What the agent is asked each run.
    #[arg(long)]
    prompt: String,
    /// Where the answer goes: web (the job's session) or CHANNEL:CHAT.
    #[arg(long, default_value = "web")]
    deliver: String,
    /// A tool that asks: deny, or ask through the delivery chat (else the
    /// web page) until the approval timeout denies it.
    #[arg(long, default_value = "deny")]
    approvals: String,
    /// After downtime: run a missed run once, or skip it.
    #[arg(long, default_value = "once")]
    missed: String,
    /// Tokens one run may use.
    #[arg(long)]
    max_tokens: Option<u64>,
    /// USD one run may spend (needs `[prices.MODEL]` for the model).
    #[arg(long)]
    max_usd: Option<f64>,
}

fn default_tz() -> String {
    std::env::var("TZ")
        .ok()
        .filter(|t| chitin::schedule::spec::parse_tz(t).is_ok())
        .unwrap_or_else(|| "UTC".into())
}

/// Run a cron command.
pub fn run(cmd: CronCommand, paths: &Paths) -> anyhow::Result<u8> {
    let dirs = paths.dirs()?;
    let store = Store::open(&dirs.sessions_db())?;
    store.check(false)?;
    let missing =
        |name: &str| anyhow::anyhow!("no job `{}` (see `chitin cron list`)", one_line(name, 64));
    match cmd {
        CronCommand::Add(a) => {
            let now = now_ms();
            let spec = match (&a.cron, &a.at, &a.every) {
                (Some(c), _, _) => Spec::cron(c, &a.tz.clone().unwrap_or_else(default_tz))?,
                (_, Some(t), _) => Spec::at(t, now)?,
                (_, _, Some(e)) => Spec::every(e)?,
                _ => bail!("give one of --cron, --at or --every"),
            };
            let job = make(
                &NewJob {
                    name: &a.name,
                    spec: &spec,
                    prompt: &a.prompt,
                    deliver: Some(&a.deliver),
                    approvals: &a.approvals,
                    missed: &a.missed,
                    max_tokens: a.max_tokens,
                    max_usd: a.max_usd,
                },
                now,
            )?;
            if !store.add_job(&job)? {
                bail!(
                    "a job named `{}` exists already (`chitin cron rm {}` first)",
                    job.name,
                    job.name
                );
            }
            println!(
                "added job {}: {}; next run {}",
                job.name,
                spec.describe(),
                job.next_due_ms.map(utc).unwrap_or_else(|| "never".into())
            );
        }
        CronCommand::List => {
            let jobs = store.jobs()?;
            if jobs.is_empty() {
                println!(
                    "no jobs; add one with `chitin cron add` (`chitin cron --help` shows an example)"
                );
            }
            for j in &jobs {
                println!("{}", line(j));
            }
            for p in store.proposals()? {
                println!(
                    "proposed {}  {}  {}  (from the agent; `chitin cron confirm {}` to make it a job)",
                    p.id,
                    one_line(&p.name, 64),
                    describe(&p.kind, &p.expr, &p.tz),
                    p.id
                );
            }
        }
        CronCommand::Show { name } => {
            let j = store.job(&name)?.ok_or_else(|| missing(&name))?;
            println!("{}", line(&j));
            println!("prompt:    {}", clean(&j.prompt));
            println!("deliver:   {}", j.deliver.as_deref().unwrap_or("web"));
            println!("approvals: {}", j.approvals);
            println!("missed:    {}", j.missed);
            if let Some(t) = j.max_tokens {
                println!("max tokens per run: {t}");
            }
            if let Some(usd) = j.max_usd {
                println!("max USD per run: {usd}");
            }
            let runs = store.job_runs(&name, 10)?;
            if runs.is_empty() {
                println!("no runs yet");
            }
            for r in runs {
                println!(
                    "run  {}  (due {})  {}{}{}",
                    utc(r.started_ms),
                    utc(r.due_ms),
                    r.stop,
                    r.session
                        .map(|s| format!("  session {s}"))
                        .unwrap_or_default(),
                    r.error
                        .map(|e| format!("  error: {}", one_line(&e, 200)))
                        .unwrap_or_default()
                );
            }
        }
        CronCommand::Pause { name } => {
            if !store.set_job_paused(&name, true)? {
                return Err(missing(&name));
            }
            println!("paused {name}");
        }
        CronCommand::Resume { name } => {
            let j = store.job(&name)?.ok_or_else(|| missing(&name))?;
            // Resumed from now: what was due while paused is not caught up.
            let now = now_ms();
            let next =
                Spec::stored(&j.kind, &j.expr, &j.tz)
                    .ok()
                    .and_then(|s| match j.next_due_ms {
                        Some(d) if d > now => Some(d),
                        _ => next_after(&s, now),
                    });
            store.set_job_next(&name, next)?;
            store.set_job_paused(&name, false)?;
            println!(
                "resumed {name}; next run {}",
                next.map(utc).unwrap_or_else(|| "never".into())
            );
        }
        CronCommand::Rm { name } => {
            if !store.remove_job(&name)? {
                return Err(missing(&name));
            }
            println!("removed {name}");
        }
        CronCommand::RunNow { name } => {
            let j = store.job(&name)?.ok_or_else(|| missing(&name))?;
            if j.paused {
                bail!("job `{name}` is paused; `chitin cron resume {name}` first");
            }
            store.set_job_next(&name, Some(now_ms()))?;
            if super::client::live_daemon(&dirs.daemon_state()).is_some() {
                println!("{name} is due now; the daemon runs it within a few seconds");
            } else {
                println!(
                    "{name} is due now, but no daemon is running: it runs when `chitin daemon` starts"
                );
            }
        }
        CronCommand::Confirm { id, yes } => confirm(&store, &id, yes)?,
    }
    Ok(EXIT_OK)
}

fn describe(kind: &str, expr: &str, tz: &str) -> String {
    Spec::stored(kind, expr, tz)
        .map(|s| s.describe())
        .unwrap_or_else(|e| format!("(bad schedule: {e})"))
}

fn line(j: &Job) -> String {
    let state = if j.paused {
        "paused".to_string()
    } else {
        match j.next_due_ms {
            Some(n) => format!("next {}", utc(n)),
            None => "done".into(),
        }
    };
    format!(
        "{}  {}  {}  -> {}",
        j.name,
        describe(&j.kind, &j.expr, &j.tz),
        state,
        j.deliver.as_deref().unwrap_or("web")
    )
}

fn confirm(store: &Store, id: &str, yes: bool) -> anyhow::Result<()> {
    let p: Proposal = store.proposal(id)?.with_context(|| {
        format!(
            "no proposal `{}` (see `chitin cron list`)",
            one_line(id, 40)
        )
    })?;
    // Everything in it is the model's text.
    println!("The agent proposed (in session {}):", p.session);
    println!("  name:     {}", one_line(&p.name, 64));
    println!("  schedule: {}", describe(&p.kind, &p.expr, &p.tz));
    println!(
        "  deliver:  {}",
        one_line(p.deliver.as_deref().unwrap_or("web"), 80)
    );
    println!("  prompt:   {}", clean(&p.prompt));
    if !yes {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            bail!("not confirmed: run `chitin cron confirm {id} --yes` to create it");
        }
        eprint!("Create this job? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not confirmed; the proposal is kept");
        }
    }
    let now = now_ms();
    let spec = Spec::stored(&p.kind, &p.expr, &p.tz)?;
    let job = make(
        &NewJob {
            name: &p.name,
            spec: &spec,
            prompt: &p.prompt,
            deliver: p.deliver.as_deref(),
            approvals: "deny",
            missed: "once",
            max_tokens: None,
            max_usd: None,
        },
        now,
    )?;
    if !store.add_job(&job)? {
        bail!("a job named `{}` exists already", job.name);
    }
    store.remove_proposal(id)?;
    println!(
        "created job {}; next run {}",
        job.name,
        job.next_due_ms.map(utc).unwrap_or_else(|| "never".into())
    );
    Ok(())
}
