//! Benchmarks: the agent loop's own overhead per turn. A zero-latency
//! in-process provider isolates the loop (history, SQLite writes, events,
//! approvals policy); the same turn against the scripted HTTP model server on
//! 127.0.0.1 adds a real SSE round trip; a bare sandboxed tool call and a
//! bare provider round trip are the baselines, measured in the same run.
//!
//! Run: `scripts/build-skills && cargo bench -p chitin --profile dev --bench agent`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

#[path = "../../tests/support/model.rs"]
mod model;

use chitin::agent::Agent;
use chitin::agent::approvals::DenyAll;
use chitin::agent::config::AgentSection;
use chitin::agent::events::TurnEvent;
use chitin::agent::toolbox::Toolbox;
use chitin::agent::turn::TurnIo;
use chitin::capabilities::Grants;
use chitin::capabilities::fs::{Access, FsGrant};
use chitin::messages::{Completion, Message, StopReason, ToolCall, Usage};
use chitin::provider::{
    self, BoxFuture, ChatRequest, Delta, Provider, ProviderError, ProviderKind, ProviderSettings,
    TextSink,
};
use chitin::store::Store;
use chitin::{HostConfig, SkillHost};
use common::root;
use criterion::{Criterion, criterion_group};
use model::{ModelServer, Reply};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Answers instantly: a tool call after the user's message, text after a
/// tool result (or always text when `tools` is false).
struct Instant {
    tools: bool,
}

impl Provider for Instant {
    fn describe(&self) -> String {
        "in-process, zero latency".into()
    }
    fn complete<'a>(
        &'a self,
        req: ChatRequest<'a>,
        text: TextSink<'a>,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let usage = Usage {
                input_tokens: 10,
                output_tokens: 5,
                ..Usage::default()
            };
            if self.tools && matches!(req.messages.last(), Some(Message::User { .. })) {
                return Ok(Completion {
                    text: String::new(),
                    tool_calls: vec![ToolCall {
                        id: "c1".into(),
                        name: "files__list".into(),
                        arguments: "{}".into(),
                    }],
                    usage,
                    stop: StopReason::ToolUse,
                    refusal: None,
                    reasoning: Vec::new(),
                });
            }
            text(Delta::Text("done"));
            Ok(Completion {
                text: "done".into(),
                tool_calls: vec![],
                usage,
                stop: StopReason::EndTurn,
                refusal: None,
                reasoning: Vec::new(),
            })
        })
    }
    fn check(&self) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async { Ok("ok".into()) })
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    host: Arc<SkillHost>,
    workspace: PathBuf,
    db: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let workspace = tmp.path().join("ws");
        std::fs::create_dir(&workspace).unwrap();
        for i in 0..5 {
            std::fs::write(workspace.join(format!("f{i}.txt")), "x").unwrap();
        }
        let host = Arc::new(SkillHost::new(HostConfig::default()).unwrap());
        let db = tmp.path().join("sessions.db");
        Fixture {
            _tmp: tmp,
            host,
            workspace,
            db,
        }
    }

    fn toolbox(&self, rt: &tokio::runtime::Runtime) -> Toolbox {
        let p = root().join("skills/files");
        assert!(
            root()
                .join("target/wasm32-wasip2/release/skill_files.wasm")
                .exists(),
            "build the skills first: scripts/build-skills"
        );
        let loaded = self.host.load(&p).unwrap();
        let tools = rt.block_on(self.host.tools(&loaded)).unwrap();
        let grants = Grants {
            fs: vec![FsGrant::new(&self.workspace, "/workspace", Access::ReadOnly).unwrap()],
            ..Grants::default()
        };
        let mut tb = Toolbox::empty(self.host.clone(), self._tmp.path().join("secrets.json"));
        assert!(tb.add(loaded, grants, &tools).is_empty());
        tb
    }

    fn agent(&self, rt: &tokio::runtime::Runtime, provider: Box<dyn Provider>) -> Agent {
        let store = Arc::new(Store::open(&self.db).unwrap());
        Agent::new(
            AgentSection::default(),
            Ok(provider),
            self.toolbox(rt),
            store,
        )
    }
}

async fn one_turn(agent: &Agent) {
    let session = agent.store().create_session("bench").unwrap().id;
    let sink = |_e: TurnEvent| {};
    let io = TurnIo {
        events: &sink,
        approver: &DenyAll,
        cancel: CancellationToken::new(),
    };
    let s = agent.run_turn(&session, "hi", &io).await;
    assert_eq!(s.text, "done");
}

fn http_provider(server: &ModelServer) -> Box<dyn Provider> {
    provider::build(ProviderSettings {
        kind: ProviderKind::Openai,
        base_url: server.base_url(),
        model: "m".into(),
        api_key: None,
        timeout: Duration::from_secs(5),
        max_retries: 0,
        retry_base: Duration::from_millis(10),
        options: Default::default(),
    })
    .unwrap()
}

fn agent_turns(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fx = Fixture::new();
    let mut g = c.benchmark_group("agent");
    g.measurement_time(Duration::from_secs(4)).sample_size(30);

    let tb = fx.toolbox(&rt);
    let list = tb.get("files__list").unwrap();
    g.bench_function("sandboxed_call", |b| {
        b.to_async(&rt).iter(|| async {
            assert!(tb.call("bench", &list, "{}").await.unwrap().result.is_ok());
        })
    });
    // Its own database: tens of thousands of usage events would count
    // against the daily token budget of the turns measured next.
    let store = Store::open(&fx.db.with_file_name("append.db")).unwrap();
    let sid = store.create_session("bench").unwrap().id;
    let usage = serde_json::json!({"input_tokens": 10, "output_tokens": 5});
    g.bench_function("store_append", |b| {
        b.iter(|| {
            store
                .append(&sid, Some("t"), chitin::store::EventKind::Usage, &usage)
                .unwrap()
        })
    });
    let text_only = fx.agent(&rt, Box::new(Instant { tools: false }));
    g.bench_function("turn_text_inprocess", |b| {
        b.to_async(&rt).iter(|| one_turn(&text_only))
    });
    let with_tool = fx.agent(&rt, Box::new(Instant { tools: true }));
    g.bench_function("turn_tool_inprocess", |b| {
        b.to_async(&rt).iter(|| one_turn(&with_tool))
    });

    let server = ModelServer::repeat(Reply::text("done"));
    let p = http_provider(&server);
    let history = [Message::User { text: "hi".into() }];
    g.bench_function("provider_http_round_trip", |b| {
        b.to_async(&rt).iter(|| async {
            let req = ChatRequest {
                system: "s",
                messages: &history,
                tools: &[],
                max_tokens: 100,
            };
            let c = p.complete(req, &|_d: Delta<'_>| {}).await.unwrap();
            assert_eq!(c.text, "done");
        })
    });
    let over_http = fx.agent(&rt, http_provider(&server));
    g.bench_function("turn_text_http", |b| {
        b.to_async(&rt).iter(|| one_turn(&over_http))
    });
    g.finish();
}

fn summary() {
    let rows = [
        (
            "agent",
            "sandboxed_call",
            "one sandboxed tool call (`files.list`), fresh Store",
        ),
        (
            "agent",
            "store_append",
            "one event appended to SQLite (WAL, one transaction)",
        ),
        (
            "agent",
            "turn_text_inprocess",
            "turn, text answer, zero-latency provider (loop overhead)",
        ),
        (
            "agent",
            "turn_tool_inprocess",
            "turn with one tool call + answer, zero-latency provider",
        ),
        (
            "agent",
            "provider_http_round_trip",
            "one provider call over loopback HTTP + SSE (no loop)",
        ),
        (
            "agent",
            "turn_text_http",
            "turn, text answer, scripted provider over loopback HTTP",
        ),
    ];
    common::ratio_table(
        ("agent", "sandboxed_call"),
        "one sandboxed call",
        &rows,
        "agent-summary.md",
    );
}

criterion_group!(benches, agent_turns);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
