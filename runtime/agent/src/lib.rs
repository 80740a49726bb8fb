//! The Chitin agent, on top of the sandbox ([`chitin_sandbox`]): signed
//! skill packages and their install review ([`package`]), model providers
//! ([`provider`]), the turn loop with approvals and budgets ([`agent`]),
//! sessions in SQLite ([`store`]), the authenticated daemon ([`daemon`]),
//! the Model Context Protocol both ways ([`mcp`]), and where Chitin keeps
//! its files ([`dirs`]). The conversation's
//! vocabulary ([`messages`]) and the tool policy ([`policy`]) are shared by
//! the provider, the store and the loop, which depend on them, never on
//! each other in a cycle.

pub mod agent;
pub mod agentskill;
pub mod channels;
pub mod daemon;
pub mod dirs;
pub mod interpreter;
pub mod mcp;
pub mod memory;
pub mod messages;
pub mod package;
pub mod policy;
pub mod provider;
pub mod schedule;
pub mod store;
