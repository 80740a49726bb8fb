//! JavaScript skills: `componentize-js` (npm, 0.23; SpiderMonkey) bundles a
//! JS engine and the project's `skill.js` into one component. The tool comes
//! from the project's own `node_modules` (its `package.json` pins it; the
//! first build runs `npm install`), else `CHITIN_COMPONENTIZE_JS` or PATH.

use super::{BuildError, find_tool, run, wit};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-js release skills are built and tested with.
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// Build `dir/skill.js` into `out`.
pub fn build(dir: &Path, out: &Path, progress: &dyn Fn(&str)) -> Result<(), BuildError> {
    // The tool is a Node.js script: run it with the node found here, and
    // say so plainly when there is none.
    let node = find_tool("CHITIN_NODE", &["node"]).ok_or_else(|| missing("node"))?;
    let tool = componentize_js(dir, progress)?;
    let scratch = tempfile::tempdir().map_err(BuildError::io(dir))?;
    let wit = wit::locate(dir, scratch.path())?;
    progress("componentize-js (bundles a JS engine: takes a while)");
    run(
        "componentize-js",
        Command::new(node)
            .arg(tool)
            .arg(dir.join("skill.js"))
            .arg("--wit")
            .arg(&wit)
            .args(["--world-name", "skill", "-o"])
            .arg(out)
            .current_dir(dir),
    )
}

/// Where componentize-js is: the explicit one, the project's, a global one,
/// or the project's after `npm install`.
fn componentize_js(dir: &Path, progress: &dyn Fn(&str)) -> Result<PathBuf, BuildError> {
    if let Some(p) = std::env::var_os("CHITIN_COMPONENTIZE_JS").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let local = dir.join("node_modules/.bin/componentize-js");
    if local.is_file() {
        return Ok(local);
    }
    if let Some(global) = find_tool("CHITIN_COMPONENTIZE_JS", &["componentize-js"]) {
        return Ok(global);
    }
    if !dir.join("package.json").is_file() {
        return Err(BuildError::MissingTool {
            tool: "componentize-js".into(),
            hint: format!(
                "add it to the project: `npm install --save-dev @bytecodealliance/componentize-js@{COMPONENTIZE_JS}` (or set CHITIN_COMPONENTIZE_JS to the program)"
            ),
        });
    }
    let npm = find_tool("CHITIN_NPM", &["npm"]).ok_or_else(|| missing("npm"))?;
    // No install scripts: building a skill should not run its dependencies'
    // code on this machine (componentize-js needs none).
    progress("npm install --ignore-scripts (first build only: fetches componentize-js, ~400 MB)");
    run(
        "npm install",
        Command::new(npm)
            .args(["install", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(dir),
    )?;
    if local.is_file() {
        Ok(local)
    } else {
        Err(BuildError::Failed {
            step: "npm install".into(),
            output: format!(
                "{} was not created: does package.json list @bytecodealliance/componentize-js?",
                local.display()
            ),
        })
    }
}

fn missing(tool: &str) -> BuildError {
    BuildError::MissingTool {
        tool: tool.into(),
        hint: format!(
            "install Node.js 18 or later with npm (`apt install nodejs npm`, or https://nodejs.org), then run `npm install` in the project: its package.json pins @bytecodealliance/componentize-js {COMPONENTIZE_JS} (or set CHITIN_COMPONENTIZE_JS to the program)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::COMPONENTIZE_JS;

    /// The toolchain the tests install, the first-party skill and new
    /// projects all pin the release the build is written for.
    #[test]
    fn every_package_json_pins_the_same_componentize_js() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for file in ["toolchains/js/package.json", "skills/notes-js/package.json"] {
            let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(
                v["devDependencies"]["@bytecodealliance/componentize-js"].as_str(),
                Some(COMPONENTIZE_JS),
                "{file}"
            );
        }
    }
}
