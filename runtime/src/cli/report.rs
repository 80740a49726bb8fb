//! Human-readable output: tool lists, call results, denials with the flag
//! that would grant what was missing.

use chitin::skill::call::CallOutcome;
use chitin::{Decision, LoadedSkill, ToolInfo};

/// Print tools as text.
pub fn print_tools(skill: &LoadedSkill, tools: &[ToolInfo]) {
    println!("{} — {} tool(s)", skill.name, tools.len());
    for t in tools {
        println!();
        println!("  {}.{}", skill.name, t.name);
        println!("    {}", t.description);
        if !t.effects.is_empty() {
            println!("    effects: {}", t.effects.join(", "));
        }
        let schema = serde_json::to_string_pretty(&t.input_schema).unwrap_or_default();
        println!("    input schema:");
        for line in schema.lines() {
            println!("      {line}");
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
            eprintln!("[{}] {}", l.level, l.message);
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
                e.target,
                e.reason
            );
        }
    }
    match &outcome.result {
        Ok(out) => match serde_json::from_str::<serde_json::Value>(out) {
            Ok(v) if v.is_object() || v.is_array() => println!(
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_else(|_| out.clone())
            ),
            _ => println!("{out}"),
        },
        Err(err) => {
            eprintln!("error: {}.{tool}: {err}", skill.name);
            let denials: Vec<_> = outcome.denials().collect();
            if !denials.is_empty() {
                eprintln!("the sandbox refused:");
                for d in denials {
                    eprintln!("  - {}: {} — {}", d.capability, d.target, d.reason);
                    if let Some(h) = d.hint.as_ref().filter(|_| !installed) {
                        eprintln!("    {h}");
                    }
                }
            }
            if installed {
                let name = &skill.name;
                for u in &outcome.ungranted {
                    eprintln!(
                        "the skill requests to {}, not granted: chitin skill grant {name} {}",
                        u.what, u.id
                    );
                }
                eprintln!(
                    "installed skills run with their recorded grants; see `chitin skill info {name}`"
                );
            } else if !outcome.ungranted.is_empty() {
                eprintln!("the skill requests capabilities you did not grant:");
                for u in &outcome.ungranted {
                    eprintln!("  - {}: {}", u.capability, u.what);
                    eprintln!("    grant it with {}", u.hint);
                }
                eprintln!("  (or accept everything the skill requests with --grant-requested)");
            }
        }
    }
}
