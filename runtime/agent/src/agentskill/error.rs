//! What can be wrong with an Agent Skills folder, a zip of one, or the
//! files section of a package. Every message names the file (or key) and
//! the limit or rule it broke, already cleaned for a terminal.

use std::path::PathBuf;
use thiserror::Error;

/// A skill folder, zip or package that is refused.
#[derive(Debug, Error)]
pub enum AgentSkillError {
    /// Reading from disk failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// No `SKILL.md` at the top of the folder.
    #[error(
        "{0} has no SKILL.md at its top; an Agent Skills folder is `<name>/SKILL.md` plus optional scripts/, references/, assets/"
    )]
    NoSkillMd(String),
    /// A path inside the skill that is unsafe to write anywhere.
    #[error("`{path}`: {why}; refusing the skill")]
    UnsafePath {
        /// The path, cleaned.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// A symlink inside the skill (all are refused: a skill is plain files).
    #[error(
        "`{0}` is a symlink; skills may contain only plain files and folders (copy the file in instead)"
    )]
    Symlink(String),
    /// A device, FIFO or socket.
    #[error("`{0}` is not a regular file or folder (a device, FIFO or socket); refusing the skill")]
    NotRegular(String),
    /// Too many files.
    #[error("the skill has more than {max} files; refusing it")]
    TooManyFiles {
        /// The cap.
        max: usize,
    },
    /// Folders nested too deep.
    #[error("`{path}` is nested deeper than {max} folders; refusing the skill")]
    TooDeep {
        /// The path, cleaned.
        path: String,
        /// The cap.
        max: usize,
    },
    /// One file over the cap.
    #[error("`{path}` is {size} bytes, over the {max}-byte limit for one file of a skill")]
    FileTooLarge {
        /// The path, cleaned.
        path: String,
        /// Its size (declared or read).
        size: u64,
        /// The cap.
        max: u64,
    },
    /// The whole skill over the cap.
    #[error("the skill's files add up to more than {max} bytes (at `{path}`); refusing it")]
    TooLarge {
        /// The file where the cap was crossed.
        path: String,
        /// The cap.
        max: u64,
    },
    /// A zip entry that inflates far beyond its compressed size.
    #[error(
        "`{path}` in the zip expands {ratio}× (over the {max}× limit): it looks like a zip bomb; refusing it"
    )]
    ZipBomb {
        /// The entry, cleaned.
        path: String,
        /// Its ratio.
        ratio: u64,
        /// The cap.
        max: u64,
    },
    /// A zip entry that says one size and holds another.
    #[error("`{path}` in the zip holds more than the {declared} bytes it declares; refusing it")]
    SizeMismatch {
        /// The entry, cleaned.
        path: String,
        /// The declared size.
        declared: u64,
    },
    /// Two entries of one name.
    #[error("`{0}` appears twice in the zip; refusing it")]
    Duplicate(String),
    /// The zip itself is broken or uses something unsupported.
    #[error("the zip cannot be read: {0}")]
    Zip(String),
    /// The zip holds more than one skill folder.
    #[error(
        "the zip holds {0}; it must hold one skill folder (or that folder's contents at its root)"
    )]
    ZipLayout(String),
    /// `SKILL.md` is not text.
    #[error("`{0}` is not UTF-8 text")]
    NotUtf8(String),
    /// The frontmatter is missing or malformed.
    #[error("SKILL.md: {0}")]
    Frontmatter(String),
    /// A frontmatter field breaks the specification.
    #[error("SKILL.md: `{field}`: {why}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong and what to write.
        why: String,
    },
    /// `chitin.toml` is invalid.
    #[error("chitin.toml: {0}")]
    ChitinToml(String),
    /// The built manifest does not validate.
    #[error("the skill's manifest: {0}")]
    Manifest(#[from] chitin_sandbox::skill::manifest::ManifestError),
    /// The package's `chitin:files` section is missing or malformed.
    #[error("the package's `chitin:files` section: {0}")]
    Archive(String),
    /// Packing failed.
    #[error(transparent)]
    Pack(#[from] crate::package::format::FormatError),
}
