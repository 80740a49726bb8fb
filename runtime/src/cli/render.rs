//! Showing a turn in the terminal: answer text on stdout as it streams,
//! tool calls, capability uses and approvals on stderr.

use chitin::agent::events::{Stop, TurnEvent};
use std::io::{BufRead, IsTerminal, Write};

/// Print one event. Returns the final answer text on `done`.
pub fn show(event: &TurnEvent, verbose: u8) {
    let mut out = std::io::stdout();
    match event {
        TurnEvent::TextDelta { text } => {
            let _ = write!(out, "{text}");
            let _ = out.flush();
        }
        TurnEvent::ToolCallStarted { tool, input, .. } => {
            eprintln!("\n→ {tool} {}", one_line(input, 200));
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
            eprintln!("{mark} {tool} ({elapsed_ms} ms)");
            for c in capabilities {
                if c.decision == "deny" || verbose > 0 {
                    eprintln!(
                        "    {} {} {}{}",
                        c.capability,
                        c.decision,
                        c.target,
                        c.reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    );
                }
            }
            if !ok || verbose > 0 {
                eprintln!("    {}", one_line(output, 300));
            }
        }
        TurnEvent::ApprovalResolved { approved, by, .. } if by != "user" => {
            eprintln!(
                "  ({} by {by})",
                if *approved { "approved" } else { "denied" }
            );
        }
        TurnEvent::Usage {
            turn_total,
            day_total,
            ..
        } if verbose > 0 => {
            eprintln!("  [tokens: {turn_total} this turn, {day_total} today]");
        }
        TurnEvent::Error { message } => eprintln!("\nerror: {message}"),
        TurnEvent::Done { stop, .. } => {
            let _ = writeln!(out);
            match stop {
                Stop::Answer | Stop::Error => {}
                Stop::StepLimit => eprintln!(
                    "(stopped: the step limit was reached; raise [agent] max_steps to allow more)"
                ),
                Stop::Budget => eprintln!("(stopped: the token budget is spent)"),
                Stop::Cancelled => eprintln!("(cancelled)"),
            }
        }
        _ => {}
    }
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// Ask on the terminal (blocking). `None` when stdin is not a terminal.
pub fn prompt_approval(
    tool: &str,
    input: &str,
    effects: &[String],
    timeout_secs: u64,
) -> Option<bool> {
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "\n? {tool} needs approval ({}), but there is no terminal to ask: denied (use --yes to approve tools up front)",
            effects.join(", ")
        );
        return None;
    }
    eprint!(
        "\n? allow {tool} {} [{}]  (y/N, {timeout_secs}s) ",
        one_line(input, 200),
        effects.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    Some(matches!(line.trim(), "y" | "Y" | "yes"))
}
