//! Skills: the manifest, the generated bindings, loading and compiling, the
//! per-call store state, and running a call under the grants.

pub mod bindings;
pub mod call;
pub mod linker;
pub mod loader;
pub mod manifest;
pub mod state;
pub mod tools;
