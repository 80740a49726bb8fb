//! OpenClaw's own frontmatter, `metadata.openclaw` (often one line of
//! JSON): tolerated with a warning. Chitin reads only what tells the user
//! what will not work here: host programs (`requires.bins`, `anyBins`),
//! host environment variables (`requires.env`), host config
//! (`requires.config`) and installer steps (`install`), none of which a
//! sandboxed skill gets.

use serde_json::Value;

/// Most items read from one list (hostile input).
const MAX_ITEMS: usize = 32;

fn names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .take(MAX_ITEMS)
            .filter_map(Value::as_str)
            .map(|s| chitin_sandbox::text::one_line(s, 80))
            .collect(),
        Some(Value::String(s)) => vec![chitin_sandbox::text::one_line(s, 80)],
        _ => Vec::new(),
    }
}

/// `(host_needs, warnings)` from the skill's metadata.
pub fn read(metadata: &serde_json::Map<String, Value>) -> (Vec<String>, Vec<String>) {
    let (mut needs, mut warnings) = (Vec::new(), Vec::new());
    let Some(raw) = metadata.get("openclaw") else {
        return (needs, warnings);
    };
    let parsed;
    let oc = match raw {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => {
                parsed = v;
                &parsed
            }
            Err(_) => {
                warnings.push("`metadata.openclaw` is not JSON (ignored)".into());
                return (needs, warnings);
            }
        },
        v => v,
    };
    warnings.push(
        "`metadata.openclaw` is OpenClaw's own metadata; Chitin reads only what it requires of the host"
            .into(),
    );
    let requires = oc.get("requires");
    let req = |k: &str| names(requires.and_then(|r| r.get(k)));
    for bin in req("bins") {
        needs.push(format!(
            "needs `{bin}` on the host (metadata.openclaw.requires.bins); Chitin does not run host programs"
        ));
    }
    let any = req("anyBins");
    if !any.is_empty() {
        needs.push(format!(
            "needs one of `{}` on the host (metadata.openclaw.requires.anyBins); Chitin does not run host programs",
            any.join("`, `")
        ));
    }
    for var in req("env") {
        needs.push(format!(
            "needs the environment variable `{var}` (metadata.openclaw.requires.env); Chitin gives skills no host environment (declare a secret in chitin.toml instead)"
        ));
    }
    for cfg in req("config") {
        needs.push(format!(
            "needs the host setting `{cfg}` (metadata.openclaw.requires.config); Chitin gives skills no host configuration"
        ));
    }
    if let Some(Value::Array(steps)) = oc.get("install")
        && !steps.is_empty()
    {
        needs.push(format!(
            "has {} installer step(s) (metadata.openclaw.install); Chitin does not run installers on the host",
            steps.len()
        ));
    }
    (needs, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_json_and_nested_maps_both_read() {
        let nested = serde_json::json!({"openclaw": {"emoji": "🎞", "requires": {"bins": ["ffmpeg"], "env": ["OPENAI_API_KEY"]}, "install": [{"kind": "brew"}]}});
        let as_string = serde_json::json!({"openclaw": nested["openclaw"].to_string()});
        for m in [nested, as_string] {
            let (needs, warnings) = read(m.as_object().unwrap());
            assert!(
                needs.iter().any(|n| n.contains("`ffmpeg` on the host")),
                "{needs:?}"
            );
            assert!(
                needs.iter().any(|n| n.contains("OPENAI_API_KEY")),
                "{needs:?}"
            );
            assert!(needs.iter().any(|n| n.contains("installer")), "{needs:?}");
            assert_eq!(warnings.len(), 1, "{warnings:?}");
        }
        let (needs, warnings) = read(
            serde_json::json!({"openclaw": "{not json"})
                .as_object()
                .unwrap(),
        );
        assert!(needs.is_empty() && warnings[0].contains("not JSON"));
        assert_eq!(read(&serde_json::Map::new()), (vec![], vec![]));
    }
}
