//! The one-file package: a component plus `chitin:manifest` (TOML),
//! `chitin:tools` (JSON) and `chitin:publisher` (public key text) custom
//! sections, signed with the tool-conventions `signature` section.
//! Parsing is strict: size cap, component header, well-formed sections,
//! each Chitin section exactly once, a valid manifest and tool list.

use chitin_sandbox::skill::manifest::{Manifest, ManifestError};
use chitin_sandbox::skill::tools::ToolInfo;
use std::path::Path;
use thiserror::Error;
use wasmsign2::{CustomSection, KeyPair, Module, Section, SectionLike};

/// Custom section holding the manifest.
pub const MANIFEST_SECTION: &str = "chitin:manifest";
/// Custom section holding the tool descriptions.
pub const TOOLS_SECTION: &str = "chitin:tools";
/// Custom section holding the publisher's public key.
pub const PUBLISHER_SECTION: &str = "chitin:publisher";
/// Custom section holding an Agent Skill's files (see `agentskill::archive`).
pub const FILES_SECTION: &str = "chitin:files";
/// The tool-conventions signature section.
pub const SIGNATURE_SECTION: &str = "signature";
/// Default package size cap.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// The empty component (the header, no sections): the body of an Agent
/// Skill package, which is never instantiated.
pub const EMPTY_COMPONENT: [u8; 8] = COMPONENT_HEADER;

/// A malformed package.
#[derive(Debug, Error)]
pub enum FormatError {
    /// Over the size cap.
    #[error(
        "the package is {size} bytes, over the {max}-byte limit (raise it with --max-size if you trust the source)"
    )]
    TooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// Not a component at all.
    #[error(
        "not a WebAssembly component (wrong header); a Chitin package is a component made by `chitin skill pack`"
    )]
    NotComponent,
    /// Sections do not parse (truncated or corrupt).
    #[error("the package is truncated or corrupt: its sections do not parse")]
    Malformed,
    /// A Chitin section is missing.
    #[error("the package has no `{0}` section; make packages with `chitin skill pack`")]
    Missing(&'static str),
    /// A Chitin section appears twice.
    #[error("the package has more than one `{0}` section")]
    Duplicate(&'static str),
    /// The manifest section is invalid.
    #[error("the package's manifest: {0}")]
    Manifest(#[from] ManifestError),
    /// The tools section is invalid.
    #[error("the package's tool list is not valid: {0}")]
    Tools(String),
    /// Text that is not UTF-8.
    #[error("the `{0}` section is not UTF-8 text")]
    NotText(&'static str),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// An Agent Skill package whose component is not empty.
    #[error(
        "the package says it is an Agent Skill but carries code (its component is not empty); refusing it"
    )]
    AgentSkillWithCode,
    /// An Agent Skill package without its files.
    #[error("the package says it is an Agent Skill but has no `chitin:files` section")]
    NoFiles,
}

/// A parsed (not yet verified) package.
#[derive(Debug, Clone)]
pub struct Package {
    /// The manifest.
    pub manifest: Manifest,
    /// Tool descriptions, read from the component at pack time.
    pub tools: Vec<ToolInfo>,
    /// The publisher key the package names (text form), if any.
    pub publisher_key: Option<String>,
    /// Whether a signature section is present (not whether it is valid).
    pub signed: bool,
    /// SHA-256 of the whole file.
    pub digest: String,
    /// The file's bytes (a runnable component).
    pub bytes: Vec<u8>,
}

fn text(section: &CustomSection, name: &'static str) -> Result<String, FormatError> {
    String::from_utf8(section.payload().to_vec()).map_err(|_| FormatError::NotText(name))
}

/// Parse `bytes` as a package, enforcing `max_bytes`.
pub fn parse(bytes: Vec<u8>, max_bytes: u64) -> Result<Package, FormatError> {
    let size = bytes.len() as u64;
    if size > max_bytes {
        return Err(FormatError::TooLarge {
            size,
            max: max_bytes,
        });
    }
    if bytes.len() < 8 || bytes[..8] != COMPONENT_HEADER {
        return Err(FormatError::NotComponent);
    }
    let module = Module::deserialize(&mut bytes.as_slice()).map_err(|_| FormatError::Malformed)?;
    let (mut manifest, mut tools, mut publisher, mut signed) = (None, None, None, false);
    let (mut files, mut code) = (false, false);
    for section in &module.sections {
        let Section::Custom(c) = section else {
            code = true;
            continue;
        };
        let slot = match c.name() {
            FILES_SECTION => {
                if files {
                    return Err(FormatError::Duplicate(FILES_SECTION));
                }
                files = true;
                continue;
            }
            MANIFEST_SECTION => (&mut manifest, MANIFEST_SECTION),
            TOOLS_SECTION => (&mut tools, TOOLS_SECTION),
            PUBLISHER_SECTION => (&mut publisher, PUBLISHER_SECTION),
            SIGNATURE_SECTION => {
                if signed {
                    return Err(FormatError::Duplicate(SIGNATURE_SECTION));
                }
                signed = true;
                continue;
            }
            _ => continue,
        };
        if slot.0.is_some() {
            return Err(FormatError::Duplicate(slot.1));
        }
        *slot.0 = Some(text(c, slot.1)?);
    }
    let manifest_text = manifest.ok_or(FormatError::Missing(MANIFEST_SECTION))?;
    let manifest = Manifest::parse(&manifest_text, Path::new(MANIFEST_SECTION))?;
    if manifest.is_agent_skill() {
        if code {
            return Err(FormatError::AgentSkillWithCode);
        }
        if !files {
            return Err(FormatError::NoFiles);
        }
    }
    let tools_text = tools.ok_or(FormatError::Missing(TOOLS_SECTION))?;
    let tools: Vec<ToolInfo> =
        serde_json::from_str(&tools_text).map_err(|e| FormatError::Tools(e.to_string()))?;
    chitin_sandbox::skill::tools::validate_all(&tools).map_err(|(tool, why)| {
        FormatError::Tools(format!(
            "tool `{}`: {why}",
            chitin_sandbox::text::one_line(&tool, 64)
        ))
    })?;
    let digest = chitin_sandbox::cache::digest(&bytes);
    Ok(Package {
        manifest,
        tools,
        publisher_key: publisher,
        signed,
        digest,
        bytes,
    })
}

/// Build a signed package from a component, its manifest text and tools.
/// Any earlier Chitin sections and signature are replaced.
pub fn pack(
    component: &[u8],
    manifest_text: &str,
    tools: &[ToolInfo],
    key: &KeyPair,
) -> Result<Vec<u8>, FormatError> {
    pack_with_files(component, manifest_text, tools, None, key)
}

/// [`pack`], with a `chitin:files` section when `files` is given (an
/// Agent Skill's archive).
pub fn pack_with_files(
    component: &[u8],
    manifest_text: &str,
    tools: &[ToolInfo],
    files: Option<Vec<u8>>,
    key: &KeyPair,
) -> Result<Vec<u8>, FormatError> {
    if component.len() < 8 || component[..8] != COMPONENT_HEADER {
        return Err(FormatError::NotComponent);
    }
    let mut module =
        Module::deserialize(&mut &component[..]).map_err(|_| FormatError::Malformed)?;
    module.sections.retain(|s| match s {
        Section::Custom(c) => ![
            MANIFEST_SECTION,
            TOOLS_SECTION,
            PUBLISHER_SECTION,
            FILES_SECTION,
            SIGNATURE_SECTION,
        ]
        .contains(&c.name()),
        _ => true,
    });
    let tools_json = serde_json::to_vec(tools).map_err(|e| FormatError::Tools(e.to_string()))?;
    if let Some(files) = files {
        module.sections.push(Section::Custom(CustomSection::new(
            FILES_SECTION.to_string(),
            files,
        )));
    }
    for (name, payload) in [
        (MANIFEST_SECTION, manifest_text.as_bytes().to_vec()),
        (TOOLS_SECTION, tools_json),
        (
            PUBLISHER_SECTION,
            super::keys::public_text(&key.pk).into_bytes(),
        ),
    ] {
        module.sections.push(Section::Custom(CustomSection::new(
            name.to_string(),
            payload,
        )));
    }
    let signed = key
        .sk
        .sign(module, None)
        .map_err(|e| FormatError::Sign(e.to_string()))?;
    let mut out = Vec::new();
    signed
        .serialize(&mut out)
        .map_err(|e| FormatError::Sign(e.to_string()))?;
    Ok(out)
}

/// The payload of custom section `name` in a package's bytes (the first
/// one; [`parse`] refuses duplicates of Chitin's sections).
pub fn custom_section(bytes: &[u8], name: &str) -> Result<Option<Vec<u8>>, FormatError> {
    let module = Module::deserialize(&mut &bytes[..]).map_err(|_| FormatError::Malformed)?;
    Ok(module.sections.into_iter().find_map(|s| match s {
        Section::Custom(c) if c.name() == name => Some(c.payload().to_vec()),
        _ => None,
    }))
}

/// Remove the signature section (for `--allow-unsigned` tests and tools).
pub fn strip_signature(bytes: &[u8]) -> Result<Vec<u8>, FormatError> {
    let mut module = Module::deserialize(&mut &bytes[..]).map_err(|_| FormatError::Malformed)?;
    module
        .sections
        .retain(|s| !matches!(s, Section::Custom(c) if c.name() == SIGNATURE_SECTION));
    let mut out = Vec::new();
    module
        .serialize(&mut out)
        .map_err(|_| FormatError::Malformed)?;
    Ok(out)
}
