//! The Chitin agent, on top of the sandbox ([`chitin_sandbox`]): signed
//! skill packages and their install review ([`package`]), model providers
//! ([`provider`]), the turn loop with approvals and budgets ([`agent`]),
//! sessions in SQLite ([`store`]), the authenticated daemon ([`daemon`]),
//! and where Chitin keeps its files ([`dirs`]).

pub mod agent;
pub mod daemon;
pub mod dirs;
pub mod package;
pub mod provider;
pub mod store;
