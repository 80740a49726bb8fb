//! Keeping the history within the model's reach: long tool outputs are
//! truncated with a note, a history that would overflow the context has its
//! older tool outputs elided and then its oldest exchanges dropped, and a
//! history cut short by a crash gets its missing tool results filled in.

use crate::messages::Message;
use std::collections::HashSet;

/// Cut `output` to at most `max` bytes (on a character boundary) with a note.
pub fn truncate(output: &str, max: usize) -> String {
    if output.len() <= max {
        return output.to_string();
    }
    let mut end = max;
    while !output.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n[truncated: the first {end} of {} bytes are shown]",
        &output[..end],
        output.len()
    )
}

/// A rough token estimate (4 bytes a token, plus overhead per message).
/// The current turn's reasoning counts: it is sent back with its steps.
pub fn estimate(messages: &[Message]) -> u64 {
    let current = messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let bytes = match m {
                Message::User { text } => text.len(),
                Message::Assistant {
                    text,
                    tool_calls,
                    reasoning,
                } => {
                    let thought = if i > current {
                        reasoning
                            .iter()
                            .map(|r| {
                                r.text.len()
                                    + r.signature.as_ref().map_or(0, String::len)
                                    + r.data.as_ref().map_or(0, String::len)
                            })
                            .sum()
                    } else {
                        0
                    };
                    text.len()
                        + thought
                        + tool_calls
                            .iter()
                            .map(|c| c.name.len() + c.arguments.len() + c.id.len())
                            .sum::<usize>()
                }
                Message::Tool { output, name, .. } => output.len() + name.len(),
            };
            (bytes / 4 + 4) as u64
        })
        .sum()
}

/// Give every tool call a result: a turn interrupted by a crash leaves an
/// assistant message whose calls were never answered, which providers reject.
pub fn repair(history: Vec<Message>) -> Vec<Message> {
    let answered: HashSet<String> = history
        .iter()
        .filter_map(|m| match m {
            Message::Tool { call_id, .. } => Some(call_id.clone()),
            _ => None,
        })
        .collect();
    let mut out = Vec::with_capacity(history.len());
    let mut pending: Vec<(String, String)> = Vec::new();
    let flush = |out: &mut Vec<Message>, pending: &mut Vec<(String, String)>| {
        for (call_id, name) in pending.drain(..) {
            out.push(Message::Tool {
                call_id,
                name,
                output: "interrupted: this call never finished and has no result".into(),
                is_error: true,
            });
        }
    };
    for m in history {
        match &m {
            Message::Tool { .. } => {}
            _ => flush(&mut out, &mut pending),
        }
        if let Message::Assistant { tool_calls, .. } = &m {
            pending = tool_calls
                .iter()
                .filter(|c| !answered.contains(&c.id))
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect();
        }
        out.push(m);
    }
    flush(&mut out, &mut pending);
    out
}

/// Messages whose tool outputs are elided together (see [`fit`]).
pub const ELIDE_RUN: usize = 8;

/// A tighter fit, after the provider said the history is over its context
/// window: [`fit`] to `budget`, then the current turn's tool outputs too
/// are elided, oldest first, all but the last step's.
pub fn shrink(history: &[Message], budget: u64) -> Vec<Message> {
    let mut msgs = fit(history, budget);
    let current = msgs
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    let last_step = msgs
        .iter()
        .rposition(|m| matches!(m, Message::Assistant { .. }))
        .unwrap_or(msgs.len());
    for i in current..last_step {
        if estimate(&msgs) <= budget {
            return msgs;
        }
        if let Message::Tool { output, .. } = &mut msgs[i]
            && output.len() > 200
        {
            *output = format!("[output elided to fit the context: {} bytes]", output.len());
        }
    }
    // Still over: the last step's outputs (often what overflowed) keep
    // their head and tail, sharing what the budget leaves.
    let over = estimate(&msgs).saturating_sub(budget);
    let last: Vec<usize> = (last_step..msgs.len())
        .filter(|&i| matches!(&msgs[i], Message::Tool { output, .. } if output.len() > 2_000))
        .collect();
    if over > 0 && !last.is_empty() {
        let cut_each = (over as usize * 4) / last.len();
        for i in last {
            if let Message::Tool { output, .. } = &mut msgs[i] {
                let keep = output.len().saturating_sub(cut_each).max(1_000);
                *output = head_and_tail(output, keep);
            }
        }
    }
    msgs
}

/// `text` cut to about `keep` bytes: its head and tail, with a note
/// between them (on character boundaries).
fn head_and_tail(text: &str, keep: usize) -> String {
    if text.len() <= keep {
        return text.to_string();
    }
    let mut head = keep / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - keep / 2;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{}\n[... {} bytes elided to fit the context ...]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// Fit `history` into `budget` estimated tokens. The current turn (from the
/// last user message on) is kept whole; before it, tool outputs are elided
/// oldest first, then whole exchanges are dropped oldest first.
pub fn fit(history: &[Message], budget: u64) -> Vec<Message> {
    let mut msgs = history.to_vec();
    if estimate(&msgs) <= budget {
        return msgs;
    }
    let mut current = msgs
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    for i in 0..current {
        // Elided in runs of ELIDE_RUN messages: the prefix the provider
        // caches then changes once a run, not at every step.
        if i % ELIDE_RUN == 0 && estimate(&msgs) <= budget {
            return msgs;
        }
        if let Message::Tool { output, .. } = &mut msgs[i]
            && output.len() > 200
        {
            *output = format!("[output elided to fit the context: {} bytes]", output.len());
        }
    }
    let mut dropped = 0usize;
    while estimate(&msgs) > budget {
        // Drop up to the next user message, so the history never starts
        // with tool results whose calls are gone; never into the current turn.
        let Some(next_user) = msgs
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, m)| matches!(m, Message::User { .. }))
            .map(|(i, _)| i)
        else {
            break;
        };
        if next_user > current {
            break;
        }
        msgs.drain(..next_user);
        current -= next_user;
        dropped += next_user;
    }
    if dropped > 0
        && let Some(Message::User { text }) = msgs.first_mut()
    {
        *text = format!("[{dropped} earlier messages were omitted to fit the context]\n\n{text}");
    }
    msgs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ToolCall;

    fn user(t: &str) -> Message {
        Message::User { text: t.into() }
    }
    fn call(id: &str) -> Message {
        Message::assistant(
            "",
            vec![ToolCall {
                id: id.into(),
                name: "files__read".into(),
                arguments: "{}".into(),
            }],
        )
    }
    fn result(id: &str, out: &str) -> Message {
        Message::Tool {
            call_id: id.into(),
            name: "files__read".into(),
            output: out.into(),
            is_error: false,
        }
    }

    #[test]
    fn truncation_keeps_char_boundaries_and_says_so() {
        let t = truncate(&"é".repeat(300), 301);
        assert!(t.starts_with(&"é".repeat(150)));
        assert!(
            t.contains("[truncated: the first 300 of 600 bytes are shown]"),
            "{t}"
        );
        assert_eq!(truncate("short", 300), "short");
    }

    #[test]
    fn repair_answers_dangling_calls() {
        let h = repair(vec![user("a"), call("1"), user("b")]);
        assert_eq!(h.len(), 4);
        assert!(matches!(&h[2], Message::Tool { call_id, is_error: true, .. } if call_id == "1"));
        let whole = vec![user("a"), call("1"), result("1", "x")];
        assert_eq!(repair(whole.clone()), whole);
    }

    #[test]
    fn fit_elides_old_outputs_then_drops_old_turns_but_keeps_the_current_one() {
        let big = "x".repeat(40_000);
        let h = vec![
            user("first"),
            call("1"),
            result("1", &big),
            user("second"),
            call("2"),
            result("2", &big),
            user("now"),
            call("3"),
            result("3", &big),
        ];
        let fitted = fit(&h, 11_000);
        // The current turn's output is whole; older outputs are elided.
        assert!(
            matches!(&fitted[fitted.len() - 1], Message::Tool { output, .. } if output.len() == 40_000)
        );
        assert!(fitted.iter().filter(|m| matches!(m, Message::Tool { output, .. } if output.starts_with("[output elided"))).count() == 2);
        // A tighter budget drops old turns and says so.
        let fitted = fit(&h, 10_050);
        assert!(
            matches!(&fitted[0], Message::User { text } if text.contains("earlier messages were omitted"))
        );
        assert!(
            matches!(&fitted[fitted.len() - 1], Message::Tool { call_id, .. } if call_id == "3")
        );
        assert!(estimate(&fit(&h, 1_000_000)) == estimate(&h));
    }

    #[test]
    fn elision_moves_in_runs_so_the_cached_prefix_holds() {
        let out = "y".repeat(4_000);
        let mut h = vec![user("start")];
        for i in 0..40 {
            h.push(call(&i.to_string()));
            h.push(result(&i.to_string(), &out));
        }
        h.push(user("now"));
        // Growing budgets past each other: the elided prefix changes only
        // at run boundaries.
        let elided = |f: &[Message]| {
            f.iter()
                .take_while(|m| !matches!(m, Message::Tool { output, .. } if output.len() == 4_000))
                .count()
        };
        let mut seen = std::collections::BTreeSet::new();
        for budget in (20_000..40_000).step_by(500) {
            seen.insert(elided(&fit(&h, budget)));
        }
        assert!(seen.len() > 2, "{seen:?}");
        assert!(seen.iter().all(|n| n % ELIDE_RUN == 0), "{seen:?}");
    }

    #[test]
    fn shrink_elides_the_current_turn_but_its_last_step() {
        let big = "z".repeat(40_000);
        let h = vec![
            user("now"),
            call("1"),
            result("1", &big),
            call("2"),
            result("2", &big),
        ];
        assert_eq!(fit(&h, 5_000), h);
        let s = shrink(&h, 12_000);
        assert!(
            matches!(&s[2], Message::Tool { output, .. } if output.starts_with("[output elided"))
        );
        assert!(matches!(&s[4], Message::Tool { output, .. } if output.len() == 40_000));
    }
}
