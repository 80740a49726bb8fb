//! Showing a turn in the terminal: answer text on stdout as it streams,
//! tool calls, capability uses and approvals on stderr. Everything printed
//! comes from the model, a skill or a provider, so control characters are
//! escaped first: no escape sequence reaches the terminal.

use chitin::agent::events::{Stop, TurnEvent};
use std::io::{BufRead, IsTerminal, Write};

/// `text` with every control character (except newline and tab), DEL, C1
/// controls and bidirectional or zero-width formatting characters escaped.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi_or_invisible = matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
        );
        if (c.is_control() && c != '\n' && c != '\t') || bidi_or_invisible {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = clean(text)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// Print one event.
pub fn show(event: &TurnEvent, verbose: u8) {
    let mut out = std::io::stdout();
    match event {
        TurnEvent::TextDelta { text } => {
            let _ = write!(out, "{}", clean(text));
            let _ = out.flush();
        }
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
                if c.decision == "deny" || verbose > 0 {
                    eprintln!(
                        "    {} {} {}{}",
                        clean(&c.capability),
                        clean(&c.decision),
                        clean(&c.target),
                        c.reason
                            .as_deref()
                            .map(|r| format!(": {}", clean(r)))
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
        TurnEvent::Error { message } => eprintln!("\nerror: {}", clean(message)),
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
    let effects = clean(&effects.join(", "));
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
    fn escapes_reach_the_terminal_only_as_text() {
        let hostile = "ok\u{1b}]52;c;Y3VybCBldmlsfHNo\u{7}\r\u{9b}2J\u{202e}txt.exe\u{200b}";
        let shown = clean(hostile);
        assert!(
            !shown
                .chars()
                .any(|c| c.is_control() || c == '\u{202e}' || c == '\u{200b}'),
            "{shown:?}"
        );
        assert!(shown.starts_with("ok\\u{1b}]52;"), "{shown}");
        assert_eq!(clean("line\n\ttab é"), "line\n\ttab é");
        let args = format!(
            r#"{{"content":"{}","path":".git/hooks/post-checkout"}}"#,
            "a".repeat(500)
        );
        assert!(
            full_arguments(&args).contains(".git/hooks/post-checkout"),
            "nothing is cut from what is approved"
        );
    }
}
