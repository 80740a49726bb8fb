//! Rust skills: `cargo build --release --target wasm32-wasip2`.

use super::{BuildError, find_tool, run};
use std::path::Path;
use std::process::Command;

/// Build the crate in `dir` (skill.toml's `component` names the output).
pub fn build(dir: &Path, progress: &dyn Fn(&str)) -> Result<(), BuildError> {
    let cargo = find_tool("CARGO", &["cargo"]).ok_or_else(|| BuildError::MissingTool {
        tool: "cargo".into(),
        hint:
            "install Rust with rustup (https://rustup.rs), then `rustup target add wasm32-wasip2`"
                .into(),
    })?;
    progress("cargo build --release --target wasm32-wasip2");
    run(
        "cargo build",
        Command::new(cargo)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .current_dir(dir),
    )
}
