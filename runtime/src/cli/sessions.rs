//! `chitin sessions list|show|export|rename|rm` and `chitin audit`: the
//! session database (safe while the daemon runs: SQLite WAL, and every
//! change is one transaction; a turn still running in another process keeps
//! its session from being deleted, and a daemon whose session was deleted
//! under it ends that turn with an error instead of recreating it).

use super::{EXIT_OK, EXIT_USAGE, Paths};
use anyhow::Context;
use chitin::messages::Message;
use chitin::store::{MAX_PAGE, SessionInfo, Store};
use chitin::text::clean;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

/// Session commands.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, most recent first.
    List {
        /// Only sessions whose title or messages contain TEXT (ASCII
        /// letters match either case).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// At most N sessions (default: all).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Show a session's conversation and tool calls.
    Show {
        /// Session id.
        id: String,
    },
    /// Export a session as JSONL: one line per recorded event.
    Export {
        /// Session id.
        id: String,
        /// Write to FILE instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Give a session a new title.
    Rename {
        /// Session id.
        id: String,
        /// The title: one line, at most 200 characters.
        title: String,
    },
    /// Delete a session and everything recorded for it.
    #[command(alias = "delete")]
    Rm {
        /// Session id.
        id: String,
        /// Do not ask (needed when there is no terminal to ask on).
        #[arg(long, short)]
        yes: bool,
    },
}

/// Up to `limit` sessions (all without one), a page at a time.
fn listing(
    store: &Store,
    search: Option<&str>,
    limit: Option<u32>,
) -> anyhow::Result<Vec<SessionInfo>> {
    let search = search.map(str::trim).filter(|s| !s.is_empty());
    if search.is_none() && limit.is_none() {
        // One query: pages could miss a session that became active while
        // they were read (it moves ahead of the cursor).
        return Ok(store.sessions()?);
    }
    let want = limit.map_or(usize::MAX, |n| n as usize);
    let mut out = Vec::new();
    let mut before: Option<String> = None;
    while out.len() < want {
        let n = (want - out.len()).min(MAX_PAGE as usize) as u32;
        let page = match search {
            Some(q) => store.search_sessions(q, n, before.as_deref())?,
            None => store.sessions_page(n, before.as_deref())?,
        };
        out.extend(page.sessions);
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    Ok(out)
}

/// Ask on the terminal whether to delete; `None` without a terminal.
fn confirm_delete(info: &SessionInfo, messages: usize) -> anyhow::Result<Option<bool>> {
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    eprint!(
        "delete session {} \"{}\" ({messages} message{}) and everything recorded for it? [y/N] ",
        clean(&info.id),
        clean(&info.title),
        if messages == 1 { "" } else { "s" }
    );
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(Some(matches!(line.trim(), "y" | "Y" | "yes")))
}

fn open(paths: &Paths) -> anyhow::Result<Store> {
    Ok(Store::open(&paths.dirs()?.sessions_db())?)
}

pub(super) fn when(ms: i64) -> String {
    let secs = ms / 1000;
    let (d, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = d + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// A turn note `sessions show` prints: a compaction's summary (which the
/// model sees from then on in place of the messages before it) and the
/// memory recalled at the session's start.
fn show_note(data: &serde_json::Value) {
    let text = data["text"].as_str().unwrap_or_default();
    match data["event"].as_str() {
        Some("summary") => println!(
            "\n(compacted: the {} earlier messages are replaced, for the model, by its summary:)\n{}",
            data["replaced"].as_u64().unwrap_or(0),
            clean(text)
        ),
        Some("memory") => println!("\n(memory offered at the start:)\n{}", clean(text)),
        Some("compaction_failed") => {
            println!("\n(compaction: the summary failed; older exchanges were elided instead)")
        }
        _ => {}
    }
}

/// Run a sessions command.
pub fn run(cmd: SessionsCommand, paths: &Paths) -> anyhow::Result<u8> {
    let store = open(paths)?;
    match cmd {
        SessionsCommand::List { search, limit } => {
            let all = listing(&store, search.as_deref(), limit)?;
            if all.is_empty() {
                match search {
                    Some(q) => eprintln!("no session matches `{}`", clean(&q)),
                    None => {
                        eprintln!("no sessions yet (start one with `chitin chat` or `chitin ask`)")
                    }
                }
            }
            for s in all {
                println!("{}\t{}\t{}", s.id, when(s.updated_ms), clean(&s.title));
            }
        }
        SessionsCommand::Show { id } => {
            let info = store.session(&id)?;
            println!(
                "{} — {} (started {})",
                clean(&info.id),
                clean(&info.title),
                when(info.created_ms)
            );
            for e in store.events(&id)? {
                let m: Message = match e.kind.as_str() {
                    "message" => match serde_json::from_value(e.data) {
                        Ok(m) => m,
                        Err(_) => continue,
                    },
                    "turn" => {
                        show_note(&e.data);
                        continue;
                    }
                    _ => continue,
                };
                match m {
                    Message::User { text } => println!("\nuser: {}", clean(&text)),
                    Message::Assistant {
                        text,
                        tool_calls,
                        reasoning,
                    } => {
                        let thought: String = reasoning.iter().map(|r| r.text.as_str()).collect();
                        if !thought.is_empty() {
                            let short: String = thought.chars().take(300).collect();
                            let more = if short.len() < thought.len() {
                                "…"
                            } else {
                                ""
                            };
                            println!("\n  (reasoning: {}{more})", clean(&short));
                        }
                        if !text.is_empty() {
                            println!("\nassistant: {}", clean(&text));
                        }
                        for c in tool_calls {
                            println!("  → {} {}", clean(&c.name), clean(&c.arguments));
                        }
                    }
                    Message::Tool {
                        name,
                        output,
                        is_error,
                        ..
                    } => {
                        let mark = if is_error { "✗" } else { "✓" };
                        let short: String = output.chars().take(300).collect();
                        println!("  {mark} {}: {}", clean(&name), clean(&short));
                    }
                }
            }
        }
        SessionsCommand::Export { id, output } => {
            let events = store.events(&id)?;
            let mut out: Box<dyn Write> = match &output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                )),
                None => Box::new(std::io::stdout().lock()),
            };
            for e in &events {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
            }
            out.flush()?;
            if let Some(p) = output {
                eprintln!("wrote {} events to {}", events.len(), p.display());
            }
        }
        SessionsCommand::Rename { id, title } => {
            let info = store.rename_session(&id, &title)?;
            eprintln!("renamed {} to \"{}\"", clean(&info.id), clean(&info.title));
        }
        SessionsCommand::Rm { id, yes } => {
            let info = store.session(&id)?;
            if !yes {
                let messages = store.messages(&id)?.len();
                match confirm_delete(&info, messages)? {
                    Some(true) => {}
                    Some(false) => {
                        eprintln!("kept session {}", clean(&info.id));
                        return Ok(EXIT_OK);
                    }
                    None => {
                        eprintln!(
                            "refusing to delete session {} without asking: there is no terminal to ask on; pass --yes to delete it",
                            clean(&info.id)
                        );
                        return Ok(EXIT_USAGE);
                    }
                }
            }
            let events = store.delete_session(&id)?;
            let scratch = chitin::interpreter::scratch::Scratch::new(&paths.dirs()?.scratch(), 0);
            if let Err(e) = scratch.remove(&id) {
                eprintln!("warning: the session's scratch directory was not removed: {e}");
            }
            eprintln!(
                "deleted session {} \"{}\" ({events} recorded events)",
                clean(&info.id),
                clean(&info.title)
            );
        }
    }
    Ok(EXIT_OK)
}

/// `chitin audit`: recent capability uses and denials.
pub fn audit(
    paths: &Paths,
    session: Option<String>,
    denied: bool,
    limit: u32,
) -> anyhow::Result<u8> {
    let store = open(paths)?;
    let events = store.audit(limit, session.as_deref(), denied)?;
    if events.is_empty() {
        eprintln!("no audit events recorded yet");
    }
    for e in events {
        let d = &e.data;
        let s = |k: &str| clean(d[k].as_str().unwrap_or(""));
        let reason = if s("decision") == "deny" {
            format!(" — {}", s("reason"))
        } else {
            String::new()
        };
        println!(
            "{}  {}  {}.{}  {} {} {}{}",
            when(e.ts_ms),
            e.session_id,
            s("skill"),
            s("tool"),
            s("capability"),
            s("decision").to_uppercase(),
            s("target"),
            reason
        );
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(super::when(0), "1970-01-01 00:00:00Z");
        assert_eq!(
            super::when(1_795_305_600_000 + 3_661_000),
            "2026-11-22 01:01:01Z"
        );
    }
}
