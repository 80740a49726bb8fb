//! The agent: a session's history, the installed skills' tools, and the
//! loop that runs a turn (model → tool calls in the sandbox → model ...).
//!
//! ```text
//! Agent ── provider (provider::Provider: OpenAI-compatible | Anthropic)
//!   │   ├─ toolbox  (installed skills → `skill__tool`, recorded grants)
//!   │   ├─ store    (SQLite: sessions, events, policies)
//!   │   └─ policies (allow | ask | deny per tool)
//!   └─ turn::run   steps, budgets, approvals, concurrent tool calls
//! ```

pub mod agent_skills;
pub mod approvals;
pub mod builtin;
mod builtin_memory;
mod compact;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod events;
mod model_call;
pub mod spend;
pub mod toolbox;
pub mod turn;

pub use turn::TurnOptions;

use crate::mcp::remote::source::RemoteSource;
use crate::messages::ToolSpec;
use crate::policy::Policy;
use crate::provider::Provider;
use crate::store::{Store, StoreError};
use config::{AgentSection, NotConfigured};
use std::sync::Arc;
use toolbox::Toolbox;

/// Everything a turn needs; shared by all sessions (cheap to clone).
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

struct Inner {
    settings: AgentSection,
    provider: Result<Box<dyn Provider>, NotConfigured>,
    fallbacks: Vec<Box<dyn Provider>>,
    toolbox: Toolbox,
    remote: Option<RemoteSource>,
    store: Arc<Store>,
    prices: std::collections::BTreeMap<String, config::Prices>,
    memory: Option<Arc<crate::memory::Memory>>,
    memory_settings: config::MemorySection,
}

/// A tool with its effective policy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ToolView {
    /// Namespaced name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Declared effects.
    pub effects: Vec<String>,
    /// What happens when the model calls it.
    pub policy: Policy,
}

impl Agent {
    /// An agent over `toolbox` and `store`; `provider` is an error when none
    /// is configured (turns then fail with that message).
    pub fn new(
        settings: AgentSection,
        provider: Result<Box<dyn Provider>, NotConfigured>,
        toolbox: Toolbox,
        store: Arc<Store>,
    ) -> Self {
        Agent {
            inner: Arc::new(Inner {
                settings,
                provider,
                fallbacks: Vec::new(),
                toolbox,
                remote: None,
                store,
                prices: Default::default(),
                memory: None,
                memory_settings: Default::default(),
            }),
        }
    }

    /// The providers a turn continues on, in order, when the main one is
    /// down (set while building the agent, before it is shared).
    pub fn with_fallbacks(mut self, fallbacks: Vec<Box<dyn Provider>>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.fallbacks = fallbacks,
            None => tracing::error!("fallback providers set on a shared agent: ignored"),
        }
        self
    }

    /// The remote MCP servers whose accepted tools the agent may call (set
    /// while building the agent, before it is shared).
    pub fn with_remote(mut self, remote: RemoteSource) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.remote = Some(remote),
            None => tracing::error!("remote MCP servers set on a shared agent: ignored"),
        }
        self
    }

    /// Prices per model (`[prices.MODEL]`), for spend caps (set while
    /// building the agent, before it is shared).
    pub fn with_prices(
        mut self,
        prices: std::collections::BTreeMap<String, config::Prices>,
    ) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.prices = prices,
            None => tracing::error!("prices set on a shared agent: ignored"),
        }
        self
    }

    /// The memory files and their index, offered through the
    /// `memory_search`/`memory_save` host tools and recalled at the start
    /// of a session (set while building the agent, before it is shared).
    pub fn with_memory(
        mut self,
        memory: Arc<crate::memory::Memory>,
        settings: config::MemorySection,
    ) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                inner.memory = Some(memory);
                inner.memory_settings = settings;
            }
            None => tracing::error!("memory set on a shared agent: ignored"),
        }
        self
    }

    /// The memory, if it is on.
    pub fn memory(&self) -> Option<&Arc<crate::memory::Memory>> {
        self.inner.memory.as_ref()
    }

    /// `[memory]` settings.
    pub fn memory_settings(&self) -> &config::MemorySection {
        &self.inner.memory_settings
    }

    /// Prices per model.
    pub fn prices(&self) -> &std::collections::BTreeMap<String, config::Prices> {
        &self.inner.prices
    }

    /// The remote MCP servers, if any are configured.
    pub fn remote(&self) -> Option<&RemoteSource> {
        self.inner.remote.as_ref().filter(|r| !r.is_empty())
    }

    /// A remote tool by name (never one whose name a skill's or a host
    /// tool has).
    pub fn remote_tool(&self, name: &str) -> Option<Arc<crate::mcp::remote::source::RemoteTool>> {
        if self.inner.toolbox.get(name).is_some() || self.builtin(name).is_some() {
            return None;
        }
        self.remote()?.get(name)
    }

    /// A host tool offered now, by name (see [`builtin`]).
    pub fn builtin(&self, name: &str) -> Option<builtin::Builtin> {
        let b = builtin::Builtin::named(name)?;
        builtin::offered(self).contains(&b).then_some(b)
    }

    /// Bring the tools up to date: installed skills, and the remote
    /// servers' lists when due. Returns what keeps tools from being offered.
    pub async fn refresh_tools(&self) -> Vec<String> {
        let mut problems = self.inner.toolbox.refresh().await;
        if let Some(r) = self.remote() {
            problems.extend(r.refresh().await);
        }
        problems
    }

    /// The tools as offered to the model: the skills', then the accepted
    /// remote ones.
    pub fn tool_specs(&self) -> Vec<ToolSpec> {
        let mut specs = self.inner.toolbox.specs();
        specs.extend(builtin::specs(self));
        if let Some(r) = self.remote() {
            for t in r.entries() {
                if self.inner.toolbox.get(&t.name).is_none() {
                    specs.push(ToolSpec {
                        name: t.name.clone(),
                        description: t.shape.description.clone(),
                        input_schema: t.shape.input_schema.clone(),
                    });
                }
            }
        }
        specs
    }

    /// The main provider then the fallbacks, or why there is none.
    pub fn providers(&self) -> Result<Vec<&dyn Provider>, &NotConfigured> {
        let main = self.inner.provider.as_deref()?;
        Ok(std::iter::once(main)
            .chain(self.inner.fallbacks.iter().map(|p| p.as_ref()))
            .collect())
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The settings.
    pub fn settings(&self) -> &AgentSection {
        &self.inner.settings
    }

    /// The provider, or why there is none.
    pub fn provider(&self) -> Result<&dyn Provider, &NotConfigured> {
        self.inner.provider.as_deref()
    }

    /// The tools.
    pub fn toolbox(&self) -> &Toolbox {
        &self.inner.toolbox
    }

    /// A tool's effective policy (the user's choice, else the default for
    /// its declared effects).
    pub fn policy(&self, tool: &str) -> Policy {
        // Read from the store each time: `chitin tools policy` changes apply
        // to a running daemon. If the store fails, ask (never allow).
        if let Some(b) = self.builtin(tool) {
            return match self.inner.store.policy(tool, builtin::HOST_PACKAGE) {
                Ok(Some(p)) => p,
                Ok(None) => b.default_policy(self),
                Err(_) => Policy::Ask,
            };
        }
        let Some(t) = self.inner.toolbox.get(tool) else {
            // A remote server's tool reaches the network: ask by default.
            let Some(r) = self.remote_tool(tool) else {
                return Policy::Deny;
            };
            return match self.inner.store.policy(tool, &r.digest) {
                Ok(Some(p)) => p,
                Ok(None) | Err(_) => Policy::Ask,
            };
        };
        match self.inner.store.policy(tool, &t.package) {
            Ok(Some(p)) => p,
            Ok(None) => Policy::default_for(&t.info.effects, t.reaches_out),
            Err(_) => Policy::Ask,
        }
    }

    /// Set a tool's policy (the human's decision; persisted).
    pub fn set_policy(&self, tool: &str, policy: Option<Policy>) -> Result<(), StoreError> {
        let package = self
            .inner
            .toolbox
            .get(tool)
            .map(|t| t.package.clone())
            .or_else(|| {
                self.builtin(tool)
                    .map(|_| builtin::HOST_PACKAGE.to_string())
            })
            .or_else(|| self.remote_tool(tool).map(|r| r.digest.clone()))
            .unwrap_or_default();
        self.inner.store.set_policy(tool, &package, policy)
    }

    /// Every tool with its policy (as of the toolbox's last refresh).
    pub fn tools(&self) -> Vec<ToolView> {
        let mut views: Vec<ToolView> = self
            .inner
            .toolbox
            .entries()
            .into_iter()
            .map(|t| ToolView {
                name: t.name.clone(),
                description: t.info.description.clone(),
                effects: t.info.effects.clone(),
                policy: self.policy(&t.name),
            })
            .collect();
        for b in builtin::offered(self) {
            let spec = builtin::specs(self)
                .into_iter()
                .find(|s| s.name == b.name());
            views.push(ToolView {
                name: b.name().to_string(),
                description: spec.map(|s| s.description).unwrap_or_default(),
                effects: b.effects(),
                policy: self.policy(b.name()),
            });
        }
        if let Some(r) = self.remote() {
            for t in r.entries() {
                if self.inner.toolbox.get(&t.name).is_none() {
                    views.push(ToolView {
                        name: t.name.clone(),
                        description: t.shape.description.clone(),
                        effects: vec!["network".into()],
                        policy: self.policy(&t.name),
                    });
                }
            }
        }
        views
    }
}
