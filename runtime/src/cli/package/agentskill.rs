//! Agent Skills in the CLI: packing a SKILL.md folder, turning what
//! `skill install` is given (a folder, a `.zip`, a URL of either, or a
//! package) into package bytes, and the parts of the review only an Agent
//! Skill has. A folder or zip is signed with the user's own key, as
//! `chitin setup` signs the first-party skills.

use super::Packed;
use anyhow::{Context, bail};
use chitin::package::keys;
use chitin::package::trust::TrustStore;
use chitin::text::{clean, one_line};
use chitin_agent::agentskill::{AgentSkill, Runner};
use std::path::{Path, PathBuf};

/// Whether `dir` is an Agent Skills folder (SKILL.md, no skill.toml).
pub fn is_folder(dir: &Path) -> bool {
    dir.is_dir() && dir.join("SKILL.md").is_file() && !dir.join("skill.toml").exists()
}

/// Whether `bytes` are a zip archive.
fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Pack `skill` signed with the key in `key_file` as `publisher`.
pub fn pack_skill(skill: &AgentSkill, key_file: &Path, publisher: &str) -> anyhow::Result<Packed> {
    if !chitin::package::trust::valid_name(publisher) {
        bail!(
            "--publisher `{}`: use 1-64 letters, digits, `-`, `_` and `.`",
            clean(publisher)
        );
    }
    let key = keys::load(key_file)?;
    let bytes = skill.pack(publisher, &key)?;
    let manifest = skill.manifest(publisher)?;
    Ok(Packed {
        bytes,
        manifest,
        tools: skill.tools().len(),
        fingerprint: keys::fingerprint(&key.pk),
    })
}

/// `skill pack` of a SKILL.md folder: the publisher is `--publisher`, or
/// the name the signing key is trusted under.
pub fn pack_folder(
    paths: &super::super::Paths,
    dir: &Path,
    key_file: &Path,
    publisher: Option<&str>,
) -> anyhow::Result<Packed> {
    let skill = AgentSkill::load_dir(dir)?;
    let publisher = match publisher {
        Some(p) => p.to_string(),
        None => {
            let key = keys::load(key_file)?;
            let trust = TrustStore::open(&paths.dirs()?.trust_file())?;
            trust.name_of(&key.pk).map(str::to_string).with_context(|| {
                "an Agent Skills folder has no publisher of its own: pass --publisher NAME (the name your key is trusted under)"
            })?
        }
    };
    pack_skill(&skill, key_file, &publisher)
}

/// The user's own key file and the publisher name it is trusted under.
fn own_key(paths: &super::super::Paths) -> anyhow::Result<(PathBuf, String)> {
    let dirs = paths.dirs()?;
    let key_file = dirs.default_key();
    if !key_file.exists() {
        bail!(
            "installing an Agent Skills folder or zip signs it with your own key, and there is none at {}; run `chitin setup` (creates one and trusts it under your name), or `chitin key generate` then `chitin trust add YOUR-NAME <the key it prints>`",
            key_file.display()
        );
    }
    let key = keys::load(&key_file)?;
    let trust = TrustStore::open(&dirs.trust_file())?;
    let name = trust.name_of(&key.pk).map(str::to_string).with_context(|| {
        format!(
            "your key {} is not trusted under any name, so a skill signed with it would be refused; trust it with `chitin trust add YOUR-NAME {}`",
            key_file.display(),
            keys::public_text(&key.pk)
        )
    })?;
    Ok((key_file, name))
}

/// What to install: package bytes, from a package, a folder or a zip (the
/// latter two packed and signed with the user's key). `pin` (`--sha256`)
/// is checked here against a zip as given, and `None` is returned for it
/// then (the package made from the zip is new).
pub async fn install_bytes(
    paths: &super::super::Paths,
    source: &str,
    max: u64,
    pin: Option<String>,
) -> anyhow::Result<(Vec<u8>, Option<String>)> {
    let path = Path::new(source);
    let is_url = source.starts_with("https://") || source.starts_with("http://");
    if !is_url && path.is_dir() {
        if pin.is_some() {
            bail!("--sha256 pins a downloaded file or package; it does not apply to a folder");
        }
        let skill = AgentSkill::load_dir(path)?;
        let (key, publisher) = own_key(paths)?;
        return Ok((pack_skill(&skill, &key, &publisher)?.bytes, None));
    }
    let bytes = super::read_source(source, max).await?;
    if !is_zip(&bytes) {
        return Ok((bytes, pin));
    }
    if let Some(expected) = &pin {
        let actual = chitin::cache::digest(&bytes);
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            bail!("the zip's SHA-256 is {actual}, not the pinned {expected}; refusing it");
        }
    }
    let skill = AgentSkill::load_zip(&bytes)?;
    let (key, publisher) = own_key(paths)?;
    Ok((pack_skill(&skill, &key, &publisher)?.bytes, None))
}

/// The review lines only an Agent Skill has (all hostile text cleaned).
pub fn print_review(skill: &AgentSkill) {
    eprintln!("  Agent Skill: {}", one_line(&skill.description, 300));
    let runnable: Vec<_> = skill.runnable().collect();
    if runnable.is_empty() {
        eprintln!("  no scripts run in the sandbox (instructions and files only)");
    } else {
        eprintln!(
            "  scripts that run in Chitin's sandbox (python/js interpreter, no host programs):"
        );
        for s in runnable {
            let lang = if s.runner == Runner::Python {
                "python"
            } else {
                "javascript"
            };
            eprintln!("    {} ({lang})", clean(&s.path));
        }
    }
    let not: Vec<_> = skill.not_offered().collect();
    if !not.is_empty() {
        eprintln!("  scripts NOT offered (they need the host; Chitin does not run host programs):");
        for (s, why) in not {
            eprintln!("    {}: {}", clean(&s.path), one_line(why, 200));
        }
    }
    for need in &skill.host_needs {
        eprintln!("  this skill {}", one_line(need, 400));
    }
    for w in &skill.warnings {
        eprintln!("  warning: {}", one_line(w, 400));
    }
}

/// What to say instead of running an Agent Skill's tool directly.
pub fn not_runnable(name: &str, scripts: usize) -> String {
    format!(
        "{} is an Agent Skill (SKILL.md instructions and files, {scripts} script(s) for the sandbox), not a component: it has no tools to call directly. The agent activates it and runs its scripts in Chitin's sandbox through the `run_script` tool.",
        clean(name)
    )
}

/// If `path` is an Agent Skill (a folder or a package file), what it is.
pub fn describe_path(path: &Path) -> Option<String> {
    if is_folder(path) {
        return Some(match AgentSkill::load_dir(path) {
            Ok(s) => not_runnable(&s.name, s.runnable().count()),
            Err(e) => format!(
                "{} is an Agent Skills folder that cannot be read: {}",
                path.display(),
                clean(&e.to_string())
            ),
        });
    }
    let bytes = std::fs::read(path).ok().filter(|b| b.len() >= 8)?;
    let pkg =
        chitin::package::format::parse(bytes, chitin::package::format::DEFAULT_MAX_BYTES).ok()?;
    let skill = AgentSkill::from_package(&pkg).ok().flatten()?;
    Some(not_runnable(&skill.name, skill.runnable().count()))
}
