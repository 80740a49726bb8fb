//! Skills: the manifest, the generated bindings, the linker, loading and
//! compiling, the tool list, the plan of a skill's calls (requested vs
//! granted, each capability prepared), the per-call store state, running a
//! call and classifying how it ended.

pub mod bindings;
pub mod call;
mod classify;
pub mod linker;
pub mod loader;
pub mod manifest;
pub mod outcome;
pub mod plan;
pub mod requests;
pub mod state;
pub mod tools;
