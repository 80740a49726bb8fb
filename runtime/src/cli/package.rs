//! `chitin skill pack|verify|install`.

use super::{EXIT_OK, Paths};
use anyhow::{Context, bail};
use chitin::capabilities::id::CapabilityId;
use chitin::package::install::{self, InstallOptions};
use chitin::package::review::{Outcome, Prompt, Request, ReviewOptions};
use chitin::package::state::Installed;
use chitin::package::trust::TrustStore;
use chitin::package::{format, keys, verify};
use chitin::text::{clean, one_line};
use clap::Args;
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

pub mod agentskill;

/// `skill pack` arguments.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// The skill directory (with skill.toml and its built component), or
    /// an Agent Skills folder (with SKILL.md).
    pub dir: PathBuf,
    /// Private key to sign with [default: <config>/keys/publisher.pem].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Output file [default: <name>-<version>.wasm in the current directory].
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Sign as this publisher instead of the one skill.toml claims (the
    /// name your key is trusted under, e.g. to install first-party skills
    /// you built yourself).
    #[arg(long, value_name = "NAME")]
    pub publisher: Option<String>,
}

/// `skill install` arguments.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// A package file, an Agent Skills folder (SKILL.md) or .zip, or an
    /// https:// URL of a package or zip (http:// only for loopback).
    pub source: String,
    /// Expected SHA-256 of the package (hex).
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Grant everything the skill requests (for scripts).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Grant one requested capability by ID (e.g. net:https://api.github.com).
    #[arg(long, value_name = "ID", value_parser = CapabilityId::parse)]
    pub grant: Vec<CapabilityId>,
    /// Deny one requested capability by ID.
    #[arg(long, value_name = "ID", value_parser = CapabilityId::parse)]
    pub deny: Vec<CapabilityId>,
    /// Host directory for a requested mount: GUEST=PATH (e.g. /workspace=~/notes).
    #[arg(long, value_name = "GUEST=PATH")]
    pub dir: Vec<String>,
    /// Install an unsigned package (recorded and shown as unverified).
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Install a lower version than the one installed.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Accept a publisher key different from the installed version's.
    #[arg(long)]
    pub accept_new_key: bool,
    /// Refuse packages larger than this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<u64>,
    #[doc(hidden)]
    #[arg(long, hide = true, env = "CHITIN_TEST_FAIL_BEFORE_COMMIT")]
    pub fail_before_commit: bool,
}

/// Parse `GUEST=PATH` flags.
pub fn parse_dirs(flags: &[String]) -> anyhow::Result<HashMap<String, PathBuf>> {
    let mut out = HashMap::new();
    for f in flags {
        let (guest, path) = f.split_once('=').with_context(|| {
            format!("--dir `{f}`: expected GUEST=PATH, e.g. /workspace=~/notes")
        })?;
        let path = chitin::dirs::expand(path)
            .with_context(|| format!("--dir `{f}`: no home or current directory to expand"))?;
        out.insert(guest.to_string(), path);
    }
    Ok(out)
}

/// A packed, signed skill: its bytes, manifest and tool count.
pub struct Packed {
    /// The package file's bytes.
    pub bytes: Vec<u8>,
    /// The manifest as packed.
    pub manifest: chitin::skill::manifest::Manifest,
    /// Tools it declares.
    pub tools: usize,
    /// The signing key's fingerprint.
    pub fingerprint: String,
}

/// Pack and sign the skill project at `dir` with the key in `key_file`;
/// with `publisher`, as that publisher instead of the one skill.toml claims.
pub async fn pack_dir(
    paths: &Paths,
    dir: &Path,
    key_file: &Path,
    publisher: Option<&str>,
) -> anyhow::Result<Packed> {
    if agentskill::is_folder(dir) {
        return agentskill::pack_folder(paths, dir, key_file, publisher);
    }
    let source = chitin::skill::loader::locate(dir)?;
    let key = keys::load(key_file)?;
    let Some(mut manifest) = source.manifest.clone() else {
        bail!(
            "{} has no skill.toml; a package needs a manifest",
            dir.display()
        );
    };
    let manifest_path = if dir.is_dir() {
        dir.join("skill.toml")
    } else {
        dir.to_path_buf()
    };
    let read = chitin::capabilities::fs::open::read_plain_file;
    let mut manifest_text = String::from_utf8(
        read(&manifest_path, 1024 * 1024)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )
    .with_context(|| format!("{} is not UTF-8 text", manifest_path.display()))?;
    if let Some(name) = publisher {
        if !chitin::package::trust::valid_name(name) {
            bail!(
                "--publisher `{}`: use 1-64 letters, digits, `-`, `_` and `.`",
                clean(name)
            );
        }
        manifest_text = with_publisher(&manifest_text, name)
            .with_context(|| format!("setting the publisher in {}", manifest_path.display()))?;
        manifest.skill.publisher = name.to_string();
    }
    let host = super::skill::host(paths)?;
    eprintln!(
        "reading tool descriptions from {}",
        source.component.display()
    );
    let component = read(
        &source.component,
        chitin::skill::loader::MAX_COMPONENT_BYTES,
    )
    .with_context(|| format!("reading {}", source.component.display()))?;
    let what = format!("compiling {} for this machine", source.component.display());
    let skill = super::progress::during(&what, || host.load_source(source))?;
    let tools = host.tools(&skill).await?;
    let bytes = format::pack(&component, &manifest_text, &tools, &key)?;
    Ok(Packed {
        bytes,
        manifest,
        tools: tools.len(),
        fingerprint: keys::fingerprint(&key.pk),
    })
}

/// `manifest` (skill.toml text) claiming `publisher`.
fn with_publisher(manifest: &str, publisher: &str) -> anyhow::Result<String> {
    let mut table: toml::Table = toml::from_str(manifest)?;
    let skill = table
        .get_mut("skill")
        .and_then(toml::Value::as_table_mut)
        .context("no [skill] table")?;
    skill.insert("publisher".into(), toml::Value::String(publisher.into()));
    Ok(toml::to_string(&table)?)
}

/// Pack and sign a skill directory.
pub async fn pack(args: PackArgs, paths: &Paths) -> anyhow::Result<u8> {
    let key_path = match args.key {
        Some(k) => k,
        None => paths.dirs()?.default_key(),
    };
    let Packed {
        bytes,
        manifest,
        tools,
        fingerprint,
    } = pack_dir(paths, &args.dir, &key_path, args.publisher.as_deref()).await?;
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}-{}.wasm",
            manifest.skill.name, manifest.skill.version
        ))
    });
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "packed {} {} ({} tools, {} bytes), signed by {}",
        manifest.skill.name,
        manifest.skill.version,
        tools,
        bytes.len(),
        fingerprint
    );
    println!("{}", out.display());
    Ok(EXIT_OK)
}

/// Verify a package file and report who signed it.
pub fn verify(file: &Path, paths: &Paths) -> anyhow::Result<u8> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let pkg = format::parse(bytes, u64::MAX)?;
    let pk = verify::check_signature(&pkg)?;
    let trust = TrustStore::open(&paths.dirs()?.trust_file())?;
    println!(
        "skill:       {} {}",
        clean(&pkg.manifest.skill.name),
        clean(&pkg.manifest.skill.version)
    );
    println!(
        "publisher:   {} (claimed)",
        one_line(&pkg.manifest.skill.publisher, 128)
    );
    println!("key:         {}", keys::public_text(&pk));
    println!("fingerprint: {}", keys::fingerprint(&pk));
    println!("digest:      sha256:{}", pkg.digest);
    if let Some(skill) = chitin_agent::agentskill::AgentSkill::from_package(&pkg)? {
        println!(
            "kind:        agent skill ({} files, {} scripts run sandboxed)",
            skill.files.len(),
            skill.runnable().count()
        );
    }
    println!("signature:   valid");
    match verify::verify(&pkg, &trust, false) {
        Ok(p) => println!(
            "trust:       trusted as `{}`",
            clean(&p.publisher.unwrap_or_default())
        ),
        Err(e) => println!("trust:       NOT trusted: {}", clean(&e.to_string())),
    }
    Ok(EXIT_OK)
}

/// Asks on the terminal.
struct TtyPrompt;

impl Prompt for TtyPrompt {
    fn ask(&mut self, request: &Request) -> bool {
        eprint!("  allow it to {}? [y/N] ", clean(&request.words));
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        matches!(line.trim(), "y" | "Y" | "yes")
    }
}

async fn read_source(source: &str, max: u64) -> anyhow::Result<Vec<u8>> {
    if source.starts_with("https://") || source.starts_with("http://") {
        let _shown = super::progress::start(&format!("downloading {source}"));
        return Ok(chitin::package::fetch::get(source, max).await?);
    }
    let path = Path::new(source);
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {source}"))?
        .len();
    if size > max {
        bail!(
            "{source} is {size} bytes, over the {max}-byte limit (raise it with --max-size if you trust the source)"
        );
    }
    std::fs::read(path).with_context(|| format!("reading {source}"))
}

/// Install a package.
pub async fn install(args: InstallArgs, paths: &Paths) -> anyhow::Result<u8> {
    let dirs = paths.dirs()?;
    let max = args.max_size.unwrap_or(format::DEFAULT_MAX_BYTES);
    let (bytes, pin) = agentskill::install_bytes(paths, &args.source, max, args.sha256).await?;
    let trust = TrustStore::open(&dirs.trust_file())?;
    let opts = InstallOptions {
        allow_unsigned: args.allow_unsigned,
        allow_downgrade: args.allow_downgrade,
        accept_new_key: args.accept_new_key,
        sha256: pin,
        max_bytes: Some(max),
        review: ReviewOptions {
            yes: args.yes,
            grant: args.grant,
            deny: args.deny,
            dirs: parse_dirs(&args.dir)?,
            undecided_denied: false,
        },
        fail_before_commit: args.fail_before_commit,
    };
    // Show what is asked before asking.
    let installed = Installed::new(&dirs.skills());
    let inspected = install::inspect(bytes, &opts, &trust, &installed)?;
    let (pkg, prov, previous) = (
        &inspected.package,
        &inspected.provenance,
        &inspected.previous,
    );
    match previous {
        Some(p) => eprintln!(
            "upgrading {} {} -> {}",
            p.name, p.version, pkg.manifest.skill.version
        ),
        None => eprintln!(
            "installing {} {}",
            pkg.manifest.skill.name, pkg.manifest.skill.version
        ),
    }
    match &prov.publisher {
        Some(p) => eprintln!(
            "  signed by `{p}` ({})",
            prov.fingerprint.clone().unwrap_or_default()
        ),
        None => eprintln!("  UNVERIFIED: unsigned package, installed because of --allow-unsigned"),
    }
    if let Some(skill) = &inspected.agent_skill {
        agentskill::print_review(skill);
    }
    eprintln!("  it asks to:");
    // An Agent Skill's upgrade keeps no grant (see `install`).
    let before = previous
        .as_ref()
        .filter(|_| inspected.agent_skill.is_none())
        .map(super::installed::ids_granted)
        .unwrap_or_default();
    for r in chitin::package::review::requests(&pkg.manifest, &opts.review.dirs) {
        let note = if before.contains(&r.id) {
            " (granted before)"
        } else {
            ""
        };
        eprintln!(
            "    {:<40} {}{note}",
            clean(&r.id.to_string()),
            clean(&r.words)
        );
    }
    let interactive = !args.yes && std::io::stdin().is_terminal();
    check_directories(pkg, &opts, interactive)?;
    let host = super::skill::host(paths)?;
    // Compile now (a large component takes a while, shown), so a component
    // that cannot load fails before anything is asked and the install
    // itself finds it in the cache.
    if let Some(cache) = host.cache()
        && inspected.agent_skill.is_none()
    {
        let digest = chitin::cache::digest(&pkg.bytes);
        let what = format!(
            "compiling {} for this machine",
            one_line(&pkg.manifest.skill.name, 64)
        );
        super::progress::during(&what, || {
            cache.load_or_compile(host.engine().engine(), &pkg.bytes, &digest)
        })
        .context("the package's component cannot be compiled; nothing was installed")?;
    }
    let mut tty = TtyPrompt;
    let prompt: Option<&mut dyn Prompt> = if interactive { Some(&mut tty) } else { None };
    let report = install::install(&host, &installed, inspected, &opts, prompt)?;
    for line in &report.review {
        let tag = match line.outcome {
            Outcome::Kept => "kept   ",
            Outcome::Granted => "granted",
            Outcome::Denied => "denied ",
        };
        eprintln!("  {tag} {}", clean(&line.request.words));
    }
    if let Some(prev) = &report.previous {
        for r in chitin::package::review::requests(&prev.manifest, &HashMap::new()) {
            if !report.review.iter().any(|l| l.request.id == r.id) {
                eprintln!("  dropped {} (no longer requested)", clean(&r.words));
            }
        }
    }
    eprintln!(
        "installed {} {} (sha256:{})",
        report.record.name,
        report.record.version,
        &report.record.provenance.digest[..16]
    );
    Ok(EXIT_OK)
}

/// Every directory the install would grant must exist before anything is
/// asked: on a terminal, offer to create a missing one; otherwise say how.
fn check_directories(
    pkg: &chitin::package::format::Package,
    opts: &InstallOptions,
    interactive: bool,
) -> anyhow::Result<()> {
    for fs in &pkg.manifest.capabilities.fs {
        if opts
            .review
            .deny
            .contains(&CapabilityId::Fs(fs.guest.clone()))
        {
            continue;
        }
        let Some(dir) = opts
            .review
            .dirs
            .get(&fs.guest)
            .cloned()
            .or_else(|| fs.host.as_deref().and_then(chitin::dirs::expand))
        else {
            continue; // the review asks for one (--dir GUEST=PATH)
        };
        if dir.is_dir() {
            continue;
        }
        let shown = clean(&dir.display().to_string()).into_owned();
        if dir.exists() {
            bail!(
                "{shown} (for {}) is not a directory; choose another with --dir {}=PATH",
                clean(&fs.guest),
                clean(&fs.guest)
            );
        }
        if interactive {
            eprint!(
                "  {shown} (seen by the skill as {}) does not exist; create it? [y/N] ",
                clean(&fs.guest)
            );
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            if matches!(line.trim(), "y" | "Y" | "yes") {
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {shown}"))?;
                eprintln!("  created {shown}");
                continue;
            }
        }
        bail!(
            "{shown} (for {}) does not exist; create it (`mkdir -p {shown}`) or choose another directory with --dir {}=PATH; nothing was installed",
            clean(&fs.guest),
            clean(&fs.guest)
        );
    }
    Ok(())
}
