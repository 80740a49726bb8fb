//! The skill contract's WIT, embedded: `chitin skill new` writes it into
//! new projects, and builds use the project's copy (or the embedded one).

use super::BuildError;
use std::path::{Path, PathBuf};

/// `(relative path, contents)` of every WIT file of the contract.
pub const FILES: &[(&str, &str)] = &[
    ("skill.wit", include_str!("../../../wit/skill.wit")),
    ("deps/cli.wit", include_str!("../../../wit/deps/cli.wit")),
    (
        "deps/clocks.wit",
        include_str!("../../../wit/deps/clocks.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../../wit/deps/filesystem.wit"),
    ),
    ("deps/http.wit", include_str!("../../../wit/deps/http.wit")),
    ("deps/io.wit", include_str!("../../../wit/deps/io.wit")),
    (
        "deps/random.wit",
        include_str!("../../../wit/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../../wit/deps/sockets.wit"),
    ),
];

/// Write the contract into `dir` (creating it).
pub fn write_to(dir: &Path) -> Result<(), BuildError> {
    for (rel, text) in FILES {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(BuildError::io(parent))?;
        }
        std::fs::write(&p, text).map_err(BuildError::io(&p))?;
    }
    Ok(())
}

/// The project's `wit/` directory, else a fresh copy of the embedded
/// contract under `scratch`.
pub fn locate(project: &Path, scratch: &Path) -> Result<PathBuf, BuildError> {
    let own = project.join("wit");
    if own.join("skill.wit").is_file() {
        return Ok(own);
    }
    let copy = scratch.join("wit");
    write_to(&copy)?;
    Ok(copy)
}
