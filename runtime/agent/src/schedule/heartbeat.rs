//! The heartbeat: every `[heartbeat] every_minutes`, a turn in the
//! "Heartbeat" session is given the user's checklist (their file, framed as
//! theirs, capped at [`MAX_CHECKLIST_BYTES`]) and asked to answer exactly
//! `HEARTBEAT_OK` when nothing needs the owner. That answer is not
//! delivered; anything else is. No file, or an empty one: no turn.

use super::runner::{Fired, Runner, stop_name, target};
use crate::agent::config::HeartbeatSection;
use crate::agent::turn::TurnOptions;
use crate::daemon::turns::Asking;
use std::path::PathBuf;
use std::sync::Mutex;

/// The most of the checklist given to the model.
pub const MAX_CHECKLIST_BYTES: usize = 16 * 1024;

/// The answer that means "nothing to say".
pub const OK: &str = "HEARTBEAT_OK";

/// The heartbeat's settings and when it runs next.
pub struct Heartbeat {
    every_ms: i64,
    deliver: Option<String>,
    file: PathBuf,
    next: Mutex<Option<i64>>,
}

/// Whether `answer` is the silent answer (trimmed, any case, with or
/// without punctuation or Markdown around it).
pub fn is_ok(answer: &str) -> bool {
    let t = answer
        .trim()
        .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    t.eq_ignore_ascii_case(OK)
}

/// The heartbeat turn's prompt around the checklist.
pub fn prompt(checklist: &str) -> String {
    let list = chitin_sandbox::text::cap(checklist, MAX_CHECKLIST_BYTES);
    format!(
        "This is a scheduled heartbeat check, not a message from the owner. Below is the owner's checklist (their file HEARTBEAT.md, their words). Go through it with the tools you have. If nothing needs the owner's attention now, answer exactly {OK} and nothing else. Otherwise answer with a short message for the owner saying what needs them.\n\n<checklist>\n{}\n</checklist>",
        list.replace("</checklist>", "</ checklist>")
    )
}

impl Heartbeat {
    /// From `[heartbeat]` (`None` when off); `default_file` is the data
    /// directory's `HEARTBEAT.md`.
    pub fn new(section: &HeartbeatSection, default_file: PathBuf) -> Option<Self> {
        section.enabled.then(|| Heartbeat {
            every_ms: section
                .every_minutes
                .max(crate::agent::config::MIN_HEARTBEAT_MINUTES) as i64
                * 60_000,
            deliver: section.deliver.clone(),
            file: section.file.clone().unwrap_or(default_file),
            next: Mutex::new(None),
        })
    }

    /// Run the heartbeat if it is due at `now` (the first one is one
    /// interval after the first tick).
    pub(super) async fn tick(&self, runner: &Runner, now: i64) -> Option<Fired> {
        {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            match *next {
                Some(n) if n <= now => *next = Some(now + self.every_ms),
                Some(_) => return None,
                None => {
                    *next = Some(now + self.every_ms);
                    return None;
                }
            }
        }
        let checklist = std::fs::read_to_string(&self.file).unwrap_or_default();
        if checklist.trim().is_empty() {
            tracing::debug!(file = %self.file.display(), "heartbeat: no checklist; skipped");
            return None;
        }
        let session = match runner.session("heartbeat", "Heartbeat") {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("heartbeat: {e}");
                return None;
            }
        };
        let opts = TurnOptions {
            job: Some("heartbeat".into()),
            ..TurnOptions::default()
        };
        let (stop, text) = match runner
            .turn(&session, prompt(&checklist), Asking::Deny, opts, None)
            .await
        {
            Ok((stop, text, _)) => (stop_name(stop), text),
            Err(e) => {
                tracing::warn!("heartbeat: {e}");
                ("error".to_string(), String::new())
            }
        };
        let mut delivered = false;
        if stop == "answer"
            && !is_ok(&text)
            && !text.trim().is_empty()
            && let Some(t) = target(self.deliver.as_deref())
        {
            delivered = runner
                .deliver(&t, &format!("**Heartbeat**\n\n{text}"))
                .await;
        }
        Some(Fired {
            job: "heartbeat".into(),
            due_ms: now,
            started_ms: now,
            stop,
            text,
            delivered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_silent_answer() {
        for ok in [
            "HEARTBEAT_OK",
            " heartbeat_ok.\n",
            "**HEARTBEAT_OK**",
            "`HEARTBEAT_OK`!",
        ] {
            assert!(is_ok(ok), "{ok}");
        }
        for no in ["HEARTBEAT_OK but the disk is full", "", "OK"] {
            assert!(!is_ok(no), "{no}");
        }
    }

    #[test]
    fn the_checklist_is_framed_and_capped() {
        let p = prompt(&"x".repeat(100_000));
        assert!(p.len() < MAX_CHECKLIST_BYTES + 1000);
        assert!(prompt("a</checklist>b").matches("</checklist>").count() == 1);
    }
}
