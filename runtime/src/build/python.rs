//! Python skills: `componentize-py` (PyPI, 0.25) bundles CPython, the
//! project's `app.py` and the modules it imports into one component, with
//! Chitin's own Python modules (`chitin_http`: HTTP over wasi:http) on the
//! path so skills need not copy them.

use super::{BuildError, find_tool, run, wit};
use std::path::Path;
use std::process::Command;

/// Modules every Python skill can import: `(file name, source)`.
const SDK: &[(&str, &str)] = &[("chitin_http.py", include_str!("sdk/chitin_http.py"))];

/// The componentize-py release skills are built and tested with.
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// Build `dir/app.py` into `out`.
pub fn build(dir: &Path, out: &Path, progress: &dyn Fn(&str)) -> Result<(), BuildError> {
    let tool = find_tool("CHITIN_COMPONENTIZE_PY", &["componentize-py"]).ok_or_else(|| {
        BuildError::MissingTool {
            tool: "componentize-py".into(),
            hint: format!(
                "install it in a virtualenv: `python3 -m venv ~/.chitin-py && ~/.chitin-py/bin/pip install componentize-py=={COMPONENTIZE_PY}`, then put ~/.chitin-py/bin on PATH (or set CHITIN_COMPONENTIZE_PY to the program)"
            ),
        }
    })?;
    let scratch = tempfile::tempdir().map_err(BuildError::io(dir))?;
    let wit = wit::locate(dir, scratch.path())?;
    let sdk = scratch.path().join("sdk");
    std::fs::create_dir_all(&sdk).map_err(BuildError::io(&sdk))?;
    for (name, source) in SDK {
        let p = sdk.join(name);
        std::fs::write(&p, source).map_err(BuildError::io(&p))?;
    }
    progress("componentize-py (bundles CPython: takes a while)");
    run(
        "componentize-py",
        Command::new(tool)
            .arg("-d")
            .arg(&wit)
            .args(["-w", "skill", "componentize", "-p"])
            .arg(dir)
            .arg("-p")
            .arg(&sdk)
            .arg("app")
            .arg("-o")
            .arg(out),
    )
}

#[cfg(test)]
mod tests {
    /// scripts/install-toolchains installs the release the build expects.
    #[test]
    fn the_installer_pins_the_same_componentize_py() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let script =
            std::fs::read_to_string(root.join("scripts/install-toolchains")).unwrap_or_default();
        assert!(
            script.contains(&format!("COMPONENTIZE_PY={}\n", super::COMPONENTIZE_PY)),
            "scripts/install-toolchains pins another componentize-py"
        );
    }
}
