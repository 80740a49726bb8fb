//! `chitin skill build`: turn a skill project into a component with the
//! language's own toolchain — cargo for Rust, componentize-py for Python,
//! componentize-js for JavaScript, clang + wasi-libc for C (bindings and componentization through the
//! `wit-bindgen-c` and `wit-component` libraries, so no extra CLI is needed),
//! mainline Go (`GOOS=wasip1`, a c-shared reactor made a component the same way).
//! A missing tool is named with the command that installs it.

mod c;
mod component;
mod go;
mod goabi;
mod js;
mod python;
mod rust;
pub mod scaffold;
pub mod wit;

use crate::skill::manifest::{Manifest, ManifestError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use thiserror::Error;

/// A skill's source language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Cargo crate built for wasm32-wasip2.
    Rust,
    /// `app.py` built with componentize-py.
    Python,
    /// `skill.c` built with clang and wasi-libc.
    C,
    /// `skill.js` built with componentize-js.
    Js,
    /// A Go module (`go.mod`) built with mainline Go for wasip1.
    Go,
}

impl Lang {
    /// Every language, in the order help texts list them.
    pub const ALL: [Lang; 5] = [Lang::Rust, Lang::Python, Lang::Js, Lang::C, Lang::Go];

    /// Parse `rust`, `python`, `js`, `c` or `go`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "rust" => Some(Lang::Rust),
            "python" | "py" => Some(Lang::Python),
            "c" => Some(Lang::C),
            "js" | "javascript" => Some(Lang::Js),
            "go" | "golang" => Some(Lang::Go),
            _ => None,
        }
    }

    /// The language's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::C => "c",
            Lang::Js => "js",
            Lang::Go => "go",
        }
    }

    /// The language of the project in `dir`, from its files.
    pub fn detect(dir: &Path) -> Option<Self> {
        if dir.join("Cargo.toml").is_file() {
            Some(Lang::Rust)
        } else if dir.join("app.py").is_file() {
            Some(Lang::Python)
        } else if dir.join("skill.c").is_file() {
            Some(Lang::C)
        } else if dir.join("skill.js").is_file() {
            Some(Lang::Js)
        } else if dir.join("go.mod").is_file() {
            Some(Lang::Go)
        } else {
            None
        }
    }
}

/// Build errors.
#[derive(Debug, Error)]
pub enum BuildError {
    /// No known project layout.
    #[error(
        "{0}: not a skill project (expected skill.toml next to Cargo.toml, app.py, skill.js, skill.c or go.mod); `chitin skill new NAME --lang rust|python|js|c|go` makes one"
    )]
    Unknown(PathBuf),
    /// The manifest is missing or invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A toolchain program is missing.
    #[error("{tool} is not installed; {hint}")]
    MissingTool {
        /// The program.
        tool: String,
        /// How to install it.
        hint: String,
    },
    /// A toolchain step failed.
    #[error("{step} failed:\n{output}")]
    Failed {
        /// What ran.
        step: String,
        /// The end of its output.
        output: String,
    },
    /// `skill.toml` names a component outside the project.
    #[error(
        "skill.toml: component = \"{0}\" is outside the project; name a file inside it, e.g. \"my-skill.wasm\""
    )]
    OutsideProject(String),
    /// The skill name is not usable.
    #[error("skill name `{0}`: use lowercase letters, digits and `-`, starting with a letter")]
    InvalidName(String),
    /// The contract (WIT) cannot be found or used.
    #[error("the skill contract (WIT): {0}")]
    Wit(String),
    /// File trouble.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> BuildError + '_ {
        move |source| BuildError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A built component.
#[derive(Debug, Clone)]
pub struct Built {
    /// The language.
    pub lang: Lang,
    /// The component file (where skill.toml says).
    pub component: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// How long the build took.
    pub elapsed: Duration,
}

/// Build the skill project in `dir`; `progress` hears each step.
///
/// The component appears only when the build succeeds: toolchains write to
/// a temporary file next to it, renamed into place at the end, and a failed
/// build removes the previous component so a stale one is never run.
pub fn build(dir: &Path, progress: &dyn Fn(&str)) -> Result<Built, BuildError> {
    let started = Instant::now();
    // Toolchains may run in the project directory: absolute paths only.
    let dir = &std::path::absolute(dir).map_err(BuildError::io(dir))?;
    let lang = Lang::detect(dir).ok_or_else(|| BuildError::Unknown(dir.to_path_buf()))?;
    let manifest_path = dir.join("skill.toml");
    let text = std::fs::read_to_string(&manifest_path).map_err(BuildError::io(&manifest_path))?;
    let manifest = Manifest::parse(&text, &manifest_path)?;
    let rel = manifest
        .skill
        .component
        .clone()
        .unwrap_or_else(|| format!("{}.wasm", manifest.skill.name));
    let component = dir.join(&rel);
    if lang == Lang::Rust {
        rust::build(dir, progress)?;
        // (cargo leaves an up-to-date output untouched: existence is the check.)
        if !component.is_file() {
            return Err(BuildError::Failed {
                step: "cargo build".into(),
                output: format!(
                    "it did not write {}: make `component` in skill.toml the crate's output (target/wasm32-wasip2/release/<crate_name>.wasm) and leave CARGO_TARGET_DIR unset",
                    component.display()
                ),
            });
        }
    } else {
        // Chitin writes this file itself: keep it inside the project.
        if Path::new(&rel)
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(BuildError::OutsideProject(rel));
        }
        let partial = component.with_extension("wasm.partial");
        let result = match lang {
            Lang::Python => python::build(dir, &partial, progress),
            Lang::C => c::build(dir, &partial, progress),
            Lang::Js => js::build(dir, &partial, progress),
            Lang::Go => go::build(dir, &partial, progress),
            Lang::Rust => Ok(()),
        }
        .and_then(|()| std::fs::rename(&partial, &component).map_err(BuildError::io(&component)));
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
            let _ = std::fs::remove_file(&component);
        }
        result?;
    }
    let bytes = std::fs::metadata(&component)
        .map_err(BuildError::io(&component))?
        .len();
    Ok(Built {
        lang,
        component,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Run `cmd`; on failure, the last 40 lines of its output.
pub(crate) fn run(step: &str, cmd: &mut Command) -> Result<(), BuildError> {
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            BuildError::MissingTool {
                tool: cmd.get_program().to_string_lossy().into_owned(),
                hint: format!(
                    "it cannot be run ({e}): check the path, or the CHITIN_* variable that names it"
                ),
            }
        }
        _ => BuildError::Failed {
            step: step.to_string(),
            output: e.to_string(),
        },
    })?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    Err(BuildError::Failed {
        step: step.to_string(),
        output: lines[lines.len().saturating_sub(40)..].join("\n"),
    })
}

/// The first of `names` found: an explicit path in `env`, else on PATH.
pub(crate) fn find_tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}
