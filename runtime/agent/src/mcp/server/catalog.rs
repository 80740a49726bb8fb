//! The tools served, as the signed packages describe them (never as
//! running code says), and the one signal that they changed: the set of
//! tools and the package digests they come from. A grant or a policy change
//! leaves the list as it is; an install, upgrade or removal changes it, and
//! only then is `notifications/tools/list_changed` sent.

use crate::agent::Agent;
use rmcp::model::{Tool, ToolAnnotations};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often the install records are looked at (one `stat` per skill).
pub const WATCH_EVERY: Duration = Duration::from_millis(500);

/// What identifies the list: each tool's name and its package digest.
pub type Fingerprint = BTreeSet<(String, String)>;

/// The served list's fingerprint now.
pub fn fingerprint(agent: &Agent) -> Fingerprint {
    agent
        .toolbox()
        .entries()
        .iter()
        .map(|t| (t.name.clone(), t.package.clone()))
        .collect()
}

/// The tools as MCP describes them: name, the package's description and
/// input schema, and hints from the package's declared effects.
pub fn tools(agent: &Agent) -> Vec<Tool> {
    agent
        .toolbox()
        .entries()
        .iter()
        .map(|t| {
            let schema = match &t.info.input_schema {
                serde_json::Value::Object(o) => o.clone(),
                _ => serde_json::Map::from_iter([(
                    "type".to_string(),
                    serde_json::Value::String("object".into()),
                )]),
            };
            let read_only = !t.info.effects.is_empty()
                && t.info.effects.iter().all(|e| e == "reads-files")
                && !t.reaches_out;
            let mut annotations = ToolAnnotations::new()
                .read_only(read_only)
                .open_world(t.reaches_out);
            annotations.title = Some(format!("{} (sandboxed by Chitin)", t.name));
            Tool::new(t.name.clone(), t.info.description.clone(), Arc::new(schema))
                .with_annotations(annotations)
        })
        .collect()
}

/// Follow the install records until `stop`: the receiver's value changes
/// (a generation count) whenever the served list does.
pub fn watch(agent: Agent, stop: CancellationToken) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        agent.toolbox().refresh().await;
        let mut last = fingerprint(&agent);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(WATCH_EVERY) => {}
            }
            agent.toolbox().refresh().await;
            let now = fingerprint(&agent);
            if now != last {
                last = now;
                tx.send_modify(|g| *g += 1);
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    rx
}
