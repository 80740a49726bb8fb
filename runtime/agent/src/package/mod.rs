//! Signed skill packages: publisher keys, the trust store, the one-file
//! package format, verification, and installing (atomically) with a
//! capability review the user controls.
//!
//! A package is the skill's component itself, with three custom sections
//! added (`chitin:manifest`, `chitin:tools`, `chitin:publisher`) and signed
//! in the WebAssembly tool-conventions format (Ed25519, signature in a
//! leading `signature` custom section, as `wasmsign2` does). So the
//! signature covers code, manifest and tool descriptions, any
//! tool-conventions verifier can check it, and the package runs as is.

pub mod fetch;
pub mod format;
pub mod install;
pub mod keys;
pub mod review;
pub mod state;
pub mod trust;
pub mod verify;
