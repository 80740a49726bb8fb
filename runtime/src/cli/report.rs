//! Human-readable output: tool lists, call results, denials with the flag
//! that would grant what was missing. Everything the skill wrote (tool
//! descriptions, outputs, errors, logs) is cleaned of control characters and
//! set apart from the host's own lines, so it cannot forge them.

use chitin::CallOutcome;
use chitin::text::{clean, clean_json};
use chitin::{Decision, LoadedSkill, ToolInfo};

/// Print `text` (the skill's words) one indented, marked line at a time.
fn quoted(text: &str, indent: &str) {
    for line in clean(text).lines() {
        println!("{indent}│ {line}");
    }
}

/// Print tools as text. The host's facts (name, declared effects) come
/// first on the tool's own line; the description follows, marked as the
/// skill's words.
pub fn print_tools(skill: &LoadedSkill, tools: &[ToolInfo]) {
    let name = clean(&skill.name);
    println!("{name} — {} tool(s)", tools.len());
    for t in tools {
        println!();
        let effects = if t.effects.is_empty() {
            "no declared effects".to_string()
        } else {
            format!("effects: {}", t.effects.join(", "))
        };
        println!("  {name}.{}  [{}]", clean(&t.name), clean(&effects));
        quoted(&t.description, "    ");
        let schema = serde_json::to_string_pretty(&t.input_schema).unwrap_or_default();
        println!("    input schema:");
        for line in clean_json(&schema).lines() {
            println!("      {}", clean(line));
        }
    }
}

/// Print a call's output (stdout) and problems (stderr).
/// `installed`: the skill runs with recorded grants, changed with
/// `chitin skill grant|revoke` rather than flags.
pub fn print_outcome(
    skill: &LoadedSkill,
    tool: &str,
    outcome: &CallOutcome,
    verbose: u8,
    installed: bool,
) {
    if verbose > 0 {
        for l in &outcome.logs {
            for line in clean(&l.message).lines() {
                eprintln!("[{}] {line}", l.level);
            }
        }
        if outcome.logs_dropped > 0 {
            eprintln!(
                "({} log lines dropped over the log budget)",
                outcome.logs_dropped
            );
        }
        for e in &outcome.audit {
            let d = if e.decision == Decision::Allow {
                "allow"
            } else {
                "DENY "
            };
            eprintln!(
                "audit: {d} {:<6} {} — {}",
                e.capability.to_string(),
                chitin::text::one_line(&e.target, 500),
                chitin::text::one_line(&e.reason, 500)
            );
        }
    }
    match &outcome.result {
        Ok(out) => match serde_json::from_str::<serde_json::Value>(out) {
            Ok(v) if v.is_object() || v.is_array() => println!(
                "{}",
                clean(&clean_json(
                    &serde_json::to_string_pretty(&v).unwrap_or_else(|_| out.clone())
                ))
            ),
            _ => println!("{}", clean(out)),
        },
        Err(err) => {
            eprintln!(
                "error: {}.{}: {}",
                skill.name,
                clean(tool),
                clean(&err.to_string())
            );
            let denials: Vec<_> = outcome.denials().collect();
            if !denials.is_empty() {
                eprintln!("the sandbox refused:");
                for d in denials {
                    eprintln!(
                        "  - {}: {} — {}",
                        d.capability,
                        chitin::text::one_line(&d.target, 500),
                        chitin::text::one_line(&d.reason, 500)
                    );
                    if let Some(h) = d.hint.as_ref().filter(|_| !installed) {
                        eprintln!("    {}", clean(h));
                    }
                }
            }
            if installed {
                let name = clean(&skill.name);
                for u in &outcome.ungranted {
                    eprintln!(
                        "the skill requests to {}, not granted: chitin skill grant {name} {}",
                        clean(&u.what),
                        clean(&u.id.to_string())
                    );
                }
                eprintln!(
                    "installed skills run with their recorded grants; see `chitin skill info {name}`"
                );
            } else if !outcome.ungranted.is_empty() {
                eprintln!("the skill requests capabilities you did not grant:");
                for u in &outcome.ungranted {
                    eprintln!("  - {}: {}", u.capability, clean(&u.what));
                    eprintln!("    grant it with {}", clean(&u.hint));
                }
                eprintln!("  (or accept everything the skill requests with --grant-requested)");
            }
        }
    }
}
