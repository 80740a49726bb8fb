//! Showing a turn in the terminal: answer text on stdout as it streams,
//! tool calls, capability uses and approvals on stderr. Everything printed
//! comes from the model, a skill or a provider, so control characters are
//! escaped first (`chitin::text::clean`): no escape sequence reaches the
//! terminal.

use chitin::agent::events::{Stop, TurnEvent};
use chitin::text::{clean, one_line};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// How much to show.
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    /// `-v` count.
    pub verbose: u8,
    /// Show the model's reasoning (dimmed, on stderr).
    pub reasoning: bool,
}

/// Where the reasoning display is in this turn: 0 none yet, 1 reasoning
/// being shown (or noted), 2 the answer started after it.
static REASONING: AtomicU8 = AtomicU8::new(0);

/// Whether answer text was streamed in this turn.
static STREAMED: AtomicBool = AtomicBool::new(false);

/// Print one event.
pub fn show(event: &TurnEvent, view: &View) {
    let verbose = view.verbose;
    let mut out = std::io::stdout();
    match event {
        TurnEvent::TurnStarted { .. } => {
            REASONING.store(0, Ordering::SeqCst);
            STREAMED.store(false, Ordering::SeqCst);
        }
        TurnEvent::ReasoningDelta { text } => {
            let mut err = std::io::stderr();
            let tty = err.is_terminal();
            let first = REASONING.swap(1, Ordering::SeqCst) == 0;
            if view.reasoning {
                let (dim, end) = if tty {
                    ("\x1b[2m", "\x1b[0m")
                } else {
                    ("", "")
                };
                if first {
                    let _ = write!(err, "{dim}thinking: {end}");
                }
                let _ = write!(err, "{dim}{}{end}", clean(text));
                let _ = err.flush();
            } else if first && tty {
                eprintln!("(the model is reasoning; --show-reasoning shows it)");
            }
        }
        TurnEvent::TextDelta { text } => {
            if REASONING.swap(2, Ordering::SeqCst) == 1 && view.reasoning {
                eprintln!();
            }
            if !text.is_empty() {
                STREAMED.store(true, Ordering::SeqCst);
            }
            let _ = write!(out, "{}", clean(text));
            let _ = out.flush();
        }
        TurnEvent::Failover { from, to, reason } => eprintln!(
            "\n({} failed: {}; continuing with {})",
            one_line(from, 300),
            one_line(reason, 1000),
            one_line(to, 300)
        ),
        TurnEvent::Notice { message } => eprintln!("\n(note: {})", one_line(message, 1000)),
        TurnEvent::ToolCallStarted { tool, input, .. } => {
            eprintln!("\n→ {} {}", clean(tool), one_line(input, 200));
        }
        TurnEvent::ToolCallFinished {
            tool,
            ok,
            output,
            elapsed_ms,
            capabilities,
            ..
        } => {
            let mark = if *ok { "✓" } else { "✗" };
            eprintln!("{mark} {} ({elapsed_ms} ms)", clean(tool));
            for c in capabilities {
                let denied = c.decision == chitin::Decision::Deny;
                if denied || verbose > 0 {
                    let decision = if denied { "deny" } else { "allow" };
                    eprintln!(
                        "    {} {decision} {}{}",
                        c.capability,
                        one_line(&c.target, 300),
                        if denied {
                            format!(": {}", one_line(&c.reason, 500))
                        } else {
                            String::new()
                        }
                    );
                }
            }
            if !ok || verbose > 0 {
                eprintln!("    {}", one_line(output, 300));
            }
        }
        TurnEvent::ApprovalResolved { approved, by, .. } if by != "user" => {
            eprintln!(
                "  ({} by {})",
                if *approved { "approved" } else { "denied" },
                clean(by)
            );
        }
        TurnEvent::Usage {
            turn_total,
            day_total,
            ..
        } if verbose > 0 => {
            eprintln!("  [tokens: {turn_total} this turn, {day_total} today]");
        }
        TurnEvent::Error { message } => eprintln!("\nerror: {}", one_line(message, 4000)),
        TurnEvent::Done { stop, text } => {
            if *stop == Stop::Refused && !STREAMED.load(Ordering::SeqCst) {
                // OpenAI's refusal field is not streamed as the answer:
                // shown once, here.
                let _ = write!(out, "{}", chitin::text::clean(text));
            }
            let _ = writeln!(out);
            match stop {
                Stop::Cut => eprintln!(
                    "(cut: the answer reached the model's output limit and may be incomplete; raise [agent] max_output_tokens, or ask for less)"
                ),
                Stop::Refused => eprintln!("(the model refused to answer)"),
                Stop::Filtered => {
                    eprintln!("(stopped: the provider's content filter stopped the answer)")
                }
                Stop::Answer | Stop::Error => {}
                Stop::StepLimit => eprintln!(
                    "(stopped: the step limit was reached; raise [agent] max_steps to allow more)"
                ),
                Stop::Budget => eprintln!("(stopped: the token budget is spent)"),
                Stop::Cancelled => eprintln!("(cancelled)"),
                Stop::Interrupted => eprintln!("(interrupted: Chitin stopped during the turn)"),
            }
        }
        _ => {}
    }
}

/// The arguments exactly as the tool will get them: pretty JSON when they
/// parse, else the raw text; never shortened (an approval must see it all).
fn full_arguments(input: &str) -> String {
    let shown = serde_json::from_str::<serde_json::Value>(input)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| input.to_string());
    clean(&shown)
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Ask on the terminal (blocking). `None` when stdin is not a terminal.
pub fn prompt_approval(
    tool: &str,
    input: &str,
    effects: &[String],
    timeout_secs: u64,
) -> Option<bool> {
    let tool = clean(tool);
    let effects = clean(&effects.join(", ")).into_owned();
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "\n? {tool} needs approval ({effects}), but there is no terminal to ask: denied (use --yes to approve tools up front)"
        );
        return None;
    }
    eprintln!(
        "\n? the model wants to run {tool} ({effects}) with:\n{}",
        full_arguments(input)
    );
    eprint!("  allow it? [y/N] ({timeout_secs}s) ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    Some(matches!(line.trim(), "y" | "Y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approvals_show_whole_arguments() {
        let args = format!(
            r#"{{"content":"{}","path":".git/hooks/post-checkout"}}"#,
            "a".repeat(500)
        );
        assert!(
            full_arguments(&args).contains(".git/hooks/post-checkout"),
            "nothing is cut from what is approved"
        );
        // JSON escapes decode to ESC, which is shown escaped again.
        assert!(!full_arguments(r#"{"a":"\u001b[2J"}"#).contains('\u{1b}'));
    }
}
