//! Chitin: a hardened shell for AI agent skills.
//!
//! This crate is the `chitin` command (`cli`, and `build` for skill
//! projects); it re-exports the two library crates it is made of, so one
//! path names everything:
//!
//! - [`chitin_sandbox`]: the engine, the compiled-component cache, each
//!   capability (files, network, secrets, limits, CPU, descriptors, logs),
//!   loading and calling skills, audit: usable without the agent;
//! - [`chitin_agent`]: packages, providers, the turn loop, the SQLite store,
//!   the daemon.

pub mod build;

pub use chitin_agent::{
    agent, agentskill, channels, daemon, dirs, interpreter, mcp, memory, messages, package, policy,
    provider, schedule, store,
};
pub use chitin_sandbox::*;
