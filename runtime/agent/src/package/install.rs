//! Installing a package: pin check, parse, verify, upgrade rules, capability
//! review, precompile, then commit. The new package file is written under a
//! temporary name and renamed; the install record is then replaced
//! atomically. Until that last rename, the previous install is untouched;
//! a failure at any step leaves no new file behind.

use super::format::{self, FormatError, Package};
use super::review::{self, Prompt, ReviewError, ReviewLine, ReviewOptions};
use super::state::{Installed, Record, RecordStamp, StateError};
use super::trust::TrustStore;
use super::verify::{self, VerifyError};
use crate::agentskill::AgentSkill;
use chitin_sandbox::SkillHost;
use chitin_sandbox::skill::loader::{LoadError, SkillSource};
use std::io::Write;
use thiserror::Error;

/// Why an install did not happen (the previous install, if any, is intact).
#[derive(Debug, Error)]
pub enum InstallError {
    /// The bytes do not match `--sha256`.
    #[error("the package's SHA-256 is {actual}, not the pinned {expected}; refusing it")]
    PinMismatch {
        /// The pin.
        expected: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// Malformed package.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Signature or trust problem.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Older than what is installed.
    #[error(
        "{name} {installed} is installed; {offered} is older (pass --allow-downgrade to install it anyway)"
    )]
    Downgrade {
        /// Skill.
        name: String,
        /// Installed version.
        installed: String,
        /// Offered version.
        offered: String,
    },
    /// Signed by another key than the installed version.
    #[error(
        "{name} is installed from key {installed}, but this package is {offered}; a publisher key change is refused unless you pass --accept-new-key"
    )]
    KeyChanged {
        /// Skill.
        name: String,
        /// Installed key (fingerprint, or "unverified").
        installed: String,
        /// Offered key.
        offered: String,
    },
    /// An upgrade would turn a component skill into an Agent Skill or back.
    #[error(
        "{name} is installed as {installed}, but this package is {offered} of the same name; remove the installed one first (`chitin skill remove {name}`) if you mean to replace it"
    )]
    KindChanged {
        /// Skill.
        name: String,
        /// What is installed.
        installed: &'static str,
        /// What is offered.
        offered: &'static str,
    },
    /// The review did not complete.
    #[error(transparent)]
    Review(#[from] ReviewError),
    /// The component cannot be loaded.
    #[error("the package's component cannot be loaded: {0}")]
    Load(#[from] LoadError),
    /// A chosen directory may not be granted.
    #[error(transparent)]
    Grant(#[from] chitin_sandbox::capabilities::fs::FsError),
    /// Writing state failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Another install or removal of the skill happened during this one.
    #[error(
        "{name} was installed, upgraded or removed by another command during this install; nothing was changed by this one, run it again"
    )]
    Concurrent {
        /// Skill.
        name: String,
    },
    /// An Agent Skill package whose files are unusable.
    #[error(transparent)]
    AgentSkill(#[from] crate::agentskill::AgentSkillError),
    /// Test hook: a failure just before the commit.
    #[error("install interrupted before commit (simulated)")]
    Interrupted,
}

/// Options of one install.
#[derive(Debug, Default, Clone)]
pub struct InstallOptions {
    /// Accept an unsigned package (recorded as unverified).
    pub allow_unsigned: bool,
    /// Accept a lower version than installed.
    pub allow_downgrade: bool,
    /// Accept a different publisher key than the installed version's.
    pub accept_new_key: bool,
    /// Expected SHA-256 of the package file.
    pub sha256: Option<String>,
    /// Size cap in bytes.
    pub max_bytes: Option<u64>,
    /// The capability decisions.
    pub review: ReviewOptions,
    /// Test hook: fail after writing the new files, before the commit.
    #[doc(hidden)]
    pub fail_before_commit: bool,
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// The new record.
    pub record: Record,
    /// The record it replaced.
    pub previous: Option<Record>,
    /// The review, request by request.
    pub review: Vec<ReviewLine>,
}

/// A package read and verified, with the install it would replace: what
/// the user reviews, and what [`install`] then installs (nothing is parsed,
/// verified or read twice).
#[derive(Debug)]
pub struct Inspected {
    /// The parsed package.
    pub package: Package,
    /// Who signed it.
    pub provenance: verify::Provenance,
    /// The current install of the same skill, if any.
    pub previous: Option<Record>,
    /// The Agent Skill the package holds (`None` for a component skill).
    pub agent_skill: Option<AgentSkill>,
    /// The install record's stamp when read: an install that changed it
    /// meanwhile is not overwritten.
    stamp: Option<RecordStamp>,
}

/// Read and verify a package and check it may replace what is installed,
/// without installing it.
pub fn inspect(
    bytes: Vec<u8>,
    opts: &InstallOptions,
    trust: &TrustStore,
    installed: &Installed,
) -> Result<Inspected, InstallError> {
    if let Some(expected) = &opts.sha256 {
        let actual = chitin_sandbox::cache::digest(&bytes);
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(InstallError::PinMismatch {
                expected: expected.clone(),
                actual,
            });
        }
    }
    let package = format::parse(bytes, opts.max_bytes.unwrap_or(format::DEFAULT_MAX_BYTES))?;
    let provenance = verify::verify(&package, trust, opts.allow_unsigned)?;
    // Only after the signature: the files are read from a trusted package.
    let agent_skill = AgentSkill::from_package(&package)?;
    let name = &package.manifest.skill.name;
    let stamp = installed.stamp(name)?;
    let previous = installed.get(name)?;
    if let Some(prev) = &previous {
        check_upgrade(prev, &package, &provenance, opts)?;
    }
    Ok(Inspected {
        package,
        provenance,
        previous,
        agent_skill,
        stamp,
    })
}

fn check_upgrade(
    prev: &Record,
    pkg: &Package,
    prov: &verify::Provenance,
    opts: &InstallOptions,
) -> Result<(), InstallError> {
    let name = prev.name.clone();
    let kind = |agent: bool| {
        if agent {
            "an Agent Skill"
        } else {
            "a component skill"
        }
    };
    if prev.manifest.is_agent_skill() != pkg.manifest.is_agent_skill() {
        return Err(InstallError::KindChanged {
            name,
            installed: kind(prev.manifest.is_agent_skill()),
            offered: kind(pkg.manifest.is_agent_skill()),
        });
    }
    let older = match (
        semver::Version::parse(&pkg.manifest.skill.version),
        semver::Version::parse(&prev.version),
    ) {
        (Ok(new), Ok(old)) => new < old,
        _ => false,
    };
    if older && !opts.allow_downgrade {
        return Err(InstallError::Downgrade {
            name,
            installed: prev.version.clone(),
            offered: pkg.manifest.skill.version.clone(),
        });
    }
    let label =
        |p: &verify::Provenance| p.fingerprint.clone().unwrap_or_else(|| "unverified".into());
    if prev.provenance.key != prov.key && !opts.accept_new_key {
        return Err(InstallError::KeyChanged {
            name,
            installed: label(&prev.provenance),
            offered: label(prov),
        });
    }
    Ok(())
}

/// Install an inspected package into `installed` (the one it was
/// inspected against).
pub fn install(
    host: &SkillHost,
    installed: &Installed,
    inspected: Inspected,
    opts: &InstallOptions,
    prompt: Option<&mut dyn Prompt>,
) -> Result<InstallReport, InstallError> {
    let Inspected {
        package: pkg,
        provenance,
        previous,
        agent_skill,
        stamp,
    } = inspected;
    let name = pkg.manifest.skill.name.clone();
    // An Agent Skill is signed here, by the user's own key, whatever folder
    // or zip it came from: that key says nothing about who wrote it, so an
    // upgrade keeps no grant and every capability is asked for again.
    let kept = previous
        .as_ref()
        .filter(|_| agent_skill.is_none())
        .map(|p| &p.grants);
    let (grants, review) = review::decide(&pkg.manifest, kept, &opts.review, prompt)?;
    host.check_grants(&grants)?;

    // Write the package under a temporary name in the skill's directory.
    let dir = installed.skill_dir(&name);
    let io = |source| StateError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let file = format!("{}.wasm", &pkg.digest[..32]);
    let final_path = dir.join(&file);
    installed.clean_incoming();
    let mut tmp = tempfile::Builder::new()
        .prefix(super::state::INCOMING)
        .tempfile_in(&dir)
        .map_err(io)?;
    super::state::hold(tmp.as_file()).map_err(io)?;
    tmp.write_all(&pkg.bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;

    // Precompile (fills the component cache) and prove it loads, from the
    // temp file. An Agent Skill's component is empty and never runs.
    if agent_skill.is_none() {
        host.load_source(SkillSource {
            manifest: Some(pkg.manifest.clone()),
            component: tmp.path().to_path_buf(),
        })?;
    }

    let already_there = final_path.exists();
    if !already_there {
        tmp.persist(&final_path).map_err(|e| io(e.error))?;
    }
    // An Agent Skill's files, where the runtime mounts them from.
    let files_dir = crate::agentskill::extract::files_dir_for(&dir, &file);
    let wrote_files = match &agent_skill {
        Some(skill) => match crate::agentskill::extract::extract(&skill.files, &files_dir) {
            Ok(wrote) => wrote,
            Err(source) => {
                if !already_there {
                    let _ = std::fs::remove_file(&final_path);
                }
                return Err(StateError::Io {
                    path: files_dir,
                    source,
                }
                .into());
            }
        },
        None => false,
    };
    let undo_files = || {
        if wrote_files {
            let _ = std::fs::remove_dir_all(&files_dir);
        }
    };
    let record = Record {
        name: name.clone(),
        version: pkg.manifest.skill.version.clone(),
        provenance,
        grants,
        manifest: pkg.manifest.clone(),
        tools: pkg.tools.clone(),
        installed_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        file,
    };
    let referenced_before = previous.as_ref().is_some_and(|p| p.file == record.file);
    if opts.fail_before_commit {
        if !already_there && !referenced_before {
            let _ = std::fs::remove_file(&final_path);
        }
        undo_files();
        return Err(InstallError::Interrupted);
    }
    if installed.stamp(&name)? != stamp {
        if !already_there && !referenced_before {
            let _ = std::fs::remove_file(&final_path);
        }
        undo_files();
        return Err(InstallError::Concurrent { name });
    }
    installed.commit(&record)?;
    // Committed: leftovers that cannot be removed now are only a warning
    // (the next install or start cleans them).
    if let Err(e) = installed.remove_unreferenced(&name) {
        tracing::warn!("installed {name}, but cleaning its old files failed: {e}");
    }
    Ok(InstallReport {
        record,
        previous,
        review,
    })
}
