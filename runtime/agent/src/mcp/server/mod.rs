//! Chitin as an MCP server: the installed skills' tools, namespaced as in
//! the agent (`skill__tool`), for any MCP client, over stdio (`chitin mcp`)
//! or Streamable HTTP on the daemon ([`http`]). Both protocol eras are
//! served: 2025-11-25 (`initialize`, sessions, server-to-client requests)
//! and 2026-07-28 (`server/discover`, stateless, per-request `_meta`).
//!
//! Every call goes through the agent's one dispatch
//! ([`crate::agent::dispatch`]): the tool's policy, the human's approval
//! for `ask` ([`approval`]), the sandbox with exactly the grants recorded at
//! install, and a record in the store ([`record`]). Nothing here can change
//! a grant or a policy; descriptions and schemas come only from the signed
//! packages ([`catalog`]).

pub mod approval;
pub mod catalog;
pub mod http;
pub mod record;
pub mod stdio;

use crate::agent::Agent;
use crate::agent::approvals::{ApprovalRequest, Approver, DenyAll};
use crate::agent::dispatch::{Channel, Dispatch, DispatchError, ToolOutcome, ToolRequest};
use crate::policy::Policy;
use crate::store::new_id;
use approval::{Answered, Elicit, Pending, Retry};
use record::{Client, Recorder};
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
    Implementation, InputRequiredResult, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, SubscriptionFilter,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long clients may cache the tool list (they are told when it changes).
const LIST_TTL_MS: u64 = 5_000;

/// The MCP server over one agent's tools. Cheap to clone: one per
/// connection (stdio) or per HTTP request share the same state.
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
    transport: &'static str,
}

struct Shared {
    agent: Agent,
    recorder: Recorder,
    pending: Pending,
    changes: watch::Receiver<u64>,
    /// Clients of the 2025-11-25 era, told when the list changes.
    peers: Mutex<Vec<rmcp::service::Peer<RoleServer>>>,
}

impl McpServer {
    /// A server over `agent`'s tools for `transport` (`stdio` or `http`),
    /// following installs until `stop`.
    pub fn new(agent: Agent, transport: &'static str, stop: CancellationToken) -> Self {
        let changes = catalog::watch(agent.clone(), stop.clone());
        let shared = Arc::new(Shared {
            recorder: Recorder::new(agent.store().clone()),
            agent,
            pending: Pending::default(),
            changes,
            peers: Mutex::new(Vec::new()),
        });
        tokio::spawn(notify_peers(Arc::downgrade(&shared), stop));
        McpServer { shared, transport }
    }

    fn client(&self, context: &RequestContext<RoleServer>) -> Client {
        let info = context.client_info();
        Client::new(
            info.as_ref().map(|i| i.name.as_str()),
            info.as_ref().map(|i| i.version.as_str()),
            self.transport,
        )
    }
}

/// Tell the 2025-11-25-era clients when the served list changes.
async fn notify_peers(shared: std::sync::Weak<Shared>, stop: CancellationToken) {
    let Some(mut changes) = shared.upgrade().map(|s| s.changes.clone()) else {
        return;
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let peers: Vec<_> = {
            let mut peers = shared.peers.lock().unwrap_or_else(PoisonError::into_inner);
            peers.retain(|p| !p.is_transport_closed());
            peers.clone()
        };
        for peer in peers {
            if let Err(e) = peer.notify_tool_list_changed().await {
                tracing::debug!(
                    "MCP list_changed not delivered: {}",
                    chitin_sandbox::text::one_line(&e.to_string(), 300)
                );
            }
        }
    }
}

/// Whether the request is of the 2026-07-28 era (no server-to-client
/// requests; approvals go through `input_required`).
fn stateless_era(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| !v.has_initialize())
}

fn client_elicits(context: &RequestContext<RoleServer>) -> bool {
    if stateless_era(context) {
        return context
            .client_capabilities()
            .is_some_and(|c| c.elicitation.is_some());
    }
    context
        .peer
        .peer_info()
        .is_some_and(|i| i.capabilities.elicitation.is_some())
}

/// The MCP result for a dispatched call: the output, or the host's (or the
/// skill's) error as a tool error the client's model can read.
fn result(outcome: &ToolOutcome) -> CallToolResult {
    let text = ContentBlock::text(outcome.for_model());
    if outcome.ok() {
        CallToolResult::success(vec![text])
    } else {
        CallToolResult::error(vec![text])
    }
}

impl McpServer {
    /// How `ask` is answered for this request: by elicitation, by the
    /// retry's answer, or not at all. `Err`: the result to give now.
    fn approver(
        &self,
        request: &CallToolRequestParams,
        tool: &str,
        arguments: &str,
        context: &RequestContext<RoleServer>,
    ) -> Result<Box<dyn Approver>, Box<CallToolResponse>> {
        let agent = &self.shared.agent;
        if agent.policy(tool) != Policy::Ask {
            return Ok(Box::new(DenyAll));
        }
        if arguments.chars().count() > approval::MAX_SHOWN_INPUT {
            return Err(Box::new(
                result(&ToolOutcome::host(
                    "not-run",
                    format!(
                        "`{tool}` needs the user's approval, and its input ({} bytes) is too long to be shown whole in an approval prompt (at most {} characters); it was not run",
                        arguments.len(),
                        approval::MAX_SHOWN_INPUT
                    ),
                    None,
                ))
                .into(),
            ));
        }
        let timeout = Duration::from_secs(agent.settings().approval_timeout_secs);
        if !stateless_era(context) {
            return Ok(if client_elicits(context) {
                Box::new(Elicit {
                    peer: context.peer.clone(),
                })
            } else {
                Box::new(DenyAll)
            });
        }
        if let Some(handle) = &request.request_state {
            return match self.shared.pending.answer(
                handle,
                tool,
                arguments,
                request.input_responses.as_ref(),
                timeout,
            ) {
                Retry::Answer(yes) => Ok(Box::new(Answered(yes))),
                Retry::Stale => Err(Box::new(CallToolResult::error(vec![ContentBlock::text(
                    ToolOutcome::host(
                        "not-run",
                        format!(
                            "the approval for `{tool}` is unknown, used or expired, or was asked for other arguments; it was not run. Call the tool again to be asked anew"
                        ),
                        None,
                    )
                    .for_model(),
                )])
                .into())),
            };
        }
        if !client_elicits(context) {
            return Ok(Box::new(DenyAll));
        }
        let ask = ApprovalRequest {
            approval_id: new_id("a-"),
            call_id: String::new(),
            tool: tool.to_string(),
            input: arguments.to_string(),
            effects: agent
                .toolbox()
                .get(tool)
                .map(|t| t.info.effects.clone())
                .unwrap_or_default(),
            timeout,
        };
        let (requests, handle) = self.shared.pending.ask(&ask);
        Err(Box::new(
            InputRequiredResult::new(Some(requests), Some(handle)).into(),
        ))
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build();
        let mut info = ServerConfig::new(capabilities).with_instructions(
            "Chitin's sandboxed skills. Each tool runs as a WebAssembly component with only the directories, hosts and secrets its user granted; a refusal names the host's reason and what only the user can change.",
        );
        info.server_info = Implementation::new("chitin", env!("CARGO_PKG_VERSION"));
        info
    }

    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        let mut peers = self
            .shared
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        peers.retain(|p| !p.is_transport_closed());
        peers.push(context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.shared.agent.toolbox().refresh().await;
        let mut list = ListToolsResult::with_all_items(catalog::tools(&self.shared.agent));
        list.ttl_ms = Some(LIST_TTL_MS);
        list.cache_scope = Some(CacheScope::Private);
        Ok(list)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let agent = &self.shared.agent;
        agent.toolbox().refresh().await;
        let tool = request.name.to_string();
        if agent.toolbox().get(&tool).is_none() {
            return Err(McpError::invalid_params(
                format!(
                    "unknown tool `{}`; tools/list names the tools this server has",
                    chitin_sandbox::text::one_line(&tool, 80)
                ),
                None,
            ));
        }
        let arguments = request
            .arguments
            .as_ref()
            .map(|a| serde_json::Value::Object(a.clone()).to_string())
            .unwrap_or_else(|| "{}".to_string());
        let approver = match self.approver(&request, &tool, &arguments, &context) {
            Ok(a) => a,
            Err(now) => return Ok(*now),
        };
        let client = self.client(&context);
        let session =
            self.shared.recorder.session(&client).map_err(|e| {
                McpError::internal_error(format!("cannot record the call: {e}"), None)
            })?;
        let call = ToolRequest {
            call_id: new_id("mcp-"),
            tool,
            arguments,
        };
        let events = |_| {};
        let channel = Channel {
            approver: approver.as_ref(),
            cancel: &context.ct,
            events: &events,
            caller: &session,
        };
        let outcome = match Dispatch::skills_only(agent)
            .run(call.clone(), &channel)
            .await
        {
            Ok(Some(o)) => o,
            Ok(None) => ToolOutcome::host(
                "not-run",
                "the call was cancelled by the client".into(),
                None,
            ),
            Err(DispatchError::Secrets(why)) => ToolOutcome::host(
                "host",
                why,
                Some("fix the secret store (`chitin doctor` says how)".into()),
            ),
        };
        if let Err(e) = self
            .shared
            .recorder
            .call(&session, &client, &call, &outcome)
        {
            tracing::warn!("recording an MCP call failed: {e}");
        }
        Ok(result(&outcome).into())
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        (requested.tools_list_changed == Some(true))
            .then(|| SubscriptionFilter::builder().tools_list_changed().build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let mut changes = self.shared.changes.clone();
        changes.mark_unchanged();
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                changed = changes.changed() => if changed.is_err() { return Ok(()) },
            }
            if context.sink().notify_tool_list_changed().await.is_err() {
                return Ok(());
            }
        }
    }
}
