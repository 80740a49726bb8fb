//! Turn Home Assistant state objects (hostile JSON) into small, bounded
//! summaries: known fields only, strings cleaned and capped.

use serde_json::{Map, Value, json};

/// Longest string value kept (Home Assistant caps a state at 255 chars).
pub const MAX_TEXT: usize = 256;
/// Attributes kept per entity.
pub const MAX_ATTRIBUTES: usize = 24;

/// Drop control characters (terminal escape sequences start with one) and
/// cap the length in characters.
pub fn clean(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .take(max)
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

fn text(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(clean(s, MAX_TEXT)),
        Value::Number(_) | Value::Bool(_) | Value::Null => v.clone(),
        // Nested values (lists of effects, colour tuples…) kept as capped JSON text.
        other => Value::String(clean(&other.to_string(), MAX_TEXT)),
    }
}

/// A state object as `{entity_id, state, name, last_changed, attributes?}`,
/// or `None` when it lacks a string `entity_id` and `state`.
pub fn state(v: &Value, with_attributes: bool) -> Option<Value> {
    let entity_id = v.get("entity_id")?.as_str()?;
    let state = v.get("state")?.as_str()?;
    let attrs = v.get("attributes").and_then(Value::as_object);
    let attr = |k: &str| {
        attrs
            .and_then(|a| a.get(k))
            .map(text)
            .unwrap_or(Value::Null)
    };
    let mut out = json!({
        "entity_id": clean(entity_id, MAX_TEXT),
        "state": clean(state, MAX_TEXT),
        "name": attr("friendly_name"),
        "last_changed": v.get("last_changed").map(text).unwrap_or(Value::Null),
    });
    if let Some(unit) = attrs.and_then(|a| a.get("unit_of_measurement")) {
        out["unit"] = text(unit);
    }
    if with_attributes {
        let mut kept = Map::new();
        let all = attrs.map(Map::len).unwrap_or(0);
        for (k, val) in attrs.into_iter().flatten().take(MAX_ATTRIBUTES) {
            kept.insert(clean(k, 64), text(val));
        }
        out["attributes"] = Value::Object(kept);
        if all > MAX_ATTRIBUTES {
            out["attributes_truncated"] = Value::Bool(true);
        }
    }
    Some(out)
}

/// Summaries of a list of states, at most `limit`, filtered by domain.
pub struct List {
    /// The kept summaries.
    pub items: Vec<Value>,
    /// How many matched the filter in all.
    pub matched: usize,
    /// Entries that were not state objects (skipped).
    pub skipped: usize,
}

/// Summarize an array of states.
pub fn list(states: &[Value], domain: Option<&str>, limit: usize, attrs: bool) -> List {
    let mut out = List {
        items: Vec::new(),
        matched: 0,
        skipped: 0,
    };
    for s in states {
        let Some(summary) = state(s, attrs) else {
            out.skipped += 1;
            continue;
        };
        let id = summary["entity_id"].as_str().unwrap_or("");
        if domain.is_some_and(|d| id.split('.').next() != Some(d)) {
            continue;
        }
        out.matched += 1;
        if out.items.len() < limit {
            out.items.push(summary);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_escapes_and_caps() {
        assert_eq!(clean("a\u{1b}[31mb\u{7}", 10), "a[31mb");
        assert_eq!(clean("abcdef", 3), "abc…");
    }
}
