//! Making a component from a WASI preview1 reactor module: the contract's
//! WIT is embedded (when the toolchain did not do it), then `wit-component`
//! wraps the module with the preview1 reactor adapter. Shared by the C and
//! Go builds.

use super::BuildError;
use std::path::Path;

fn failed(step: &str) -> impl Fn(String) -> BuildError + '_ {
    move |output| BuildError::Failed {
        step: step.into(),
        output,
    }
}

/// The `world skill` of the WIT package in `wit_dir`.
pub fn skill_world(
    wit_dir: &Path,
) -> Result<(wit_parser::Resolve, wit_parser::WorldId), BuildError> {
    let wit_err = |e: &dyn std::fmt::Display| BuildError::Wit(e.to_string());
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve.push_path(wit_dir).map_err(|e| wit_err(&e))?;
    let world = resolve
        .select_world(&[pkg], Some("skill"))
        .map_err(|e| wit_err(&e))?;
    Ok((resolve, world))
}

/// Add the contract's world (from `wit_dir`) to `module` as its
/// `component-type` section, as wit-bindgen's generated object does for C.
pub fn embed_wit(module: &mut Vec<u8>, wit_dir: &Path) -> Result<(), BuildError> {
    let (resolve, world) = skill_world(wit_dir)?;
    wit_component::embed_component_metadata(
        module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .map_err(|e| failed("embedding the contract")(format!("{e:#}")))
}

/// Componentize the reactor `module` (which carries its WIT) into `out`.
pub fn componentize(module: &[u8], out: &Path) -> Result<(), BuildError> {
    let bytes = wit_component::ComponentEncoder::default()
        .module(module)
        .and_then(|e| {
            e.validate(true).adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|e| e.encode())
        .map_err(|e| failed("wit-component")(format!("{e:#}")))?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(BuildError::io(dir))?;
    }
    std::fs::write(out, bytes).map_err(BuildError::io(out))
}
