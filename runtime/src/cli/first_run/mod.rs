//! `chitin setup`: the first-run path in one command. It creates your
//! publisher key and trusts it under your name, packs the first-party
//! skills of this checkout signed as you and installs the ones you pick
//! with the grants you pick, configures the provider with a connection
//! test, and starts nothing: it ends by saying what to run next.
//!
//! The first-party skills are signed as *you* (not as `chitin`): you built
//! them here, and one key has one publisher name in the trust store, so
//! the same key then signs the skills you publish yourself.

mod ask;
mod provider;

use super::package::{InstallArgs, pack_dir};
use super::setup::ProviderFlags;
use super::{EXIT_FAILED, EXIT_OK, Paths};
use anyhow::{Context, bail};
use ask::Ask;
use chitin::package::keys;
use chitin::package::state::Installed;
use chitin::package::trust::{TrustStore, valid_name};
use chitin::text::clean;
use clap::Args;
use std::path::{Path, PathBuf};

/// `chitin setup` arguments: every question has a flag, for scripts.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Take every default without asking (flags still apply).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Your publisher name: your key is trusted under it and the skills
    /// built here are signed as it [default: your user name].
    #[arg(long, value_name = "NAME")]
    pub publisher: Option<String>,
    /// First-party skills to install, comma-separated [default: ask; with --yes: files].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub skills: Vec<String>,
    /// The directory the `files` skill manages [default: ~/notes].
    #[arg(long, value_name = "DIR")]
    pub notes: Option<String>,
    /// Where the first-party skills are [default: this checkout's skills/].
    #[arg(long, value_name = "DIR")]
    pub skills_dir: Option<PathBuf>,
    #[command(flatten)]
    pub provider: ProviderFlags,
    /// Name of the secret that holds the provider's API key.
    #[arg(long, value_name = "NAME")]
    pub api_key_secret: Option<String>,
}

/// The first-party skills setup offers, with what each is for.
const OFFERED: &[(&str, &str, bool)] = &[
    (
        "files",
        "read and write files in one directory you choose",
        true,
    ),
    (
        "github",
        "read GitHub repositories and issues (a token is optional)",
        false,
    ),
];

/// Run the first-run path.
pub async fn run(args: SetupArgs, paths: &Paths) -> anyhow::Result<u8> {
    let mut ask = Ask::new(args.yes);
    let dirs = paths.dirs()?;
    eprintln!("Chitin setup: nothing is started, and every step can be run again.");

    eprintln!("\n1. Your publisher key");
    let publisher = publisher_key(paths, &args, &mut ask)?;

    eprintln!("\n2. Skills");
    let skills_dir = match &args.skills_dir {
        Some(d) => d.clone(),
        None => default_skills_dir()?,
    };
    eprintln!(
        "  from {} (built here and signed with your key)",
        clean(&skills_dir.display().to_string())
    );
    let mut installed_any = false;
    for (name, asked) in candidates(&args)? {
        // Asked right before it is installed, so its own questions follow.
        if let Some((what, default)) = asked
            && !ask.yes_no(&format!("  Install `{name}` ({what})?"), default)
        {
            continue;
        }
        install_first_party(paths, &skills_dir, name, &publisher, &args, &mut ask).await?;
        installed_any = true;
    }
    if !installed_any {
        eprintln!("  none installed (the agent has no tools; run `chitin setup` again to add one)");
    }

    eprintln!("\n3. Model provider");
    let outcome = provider::configure(
        paths,
        &args.provider,
        args.api_key_secret.as_deref(),
        &mut ask,
    )
    .await?;
    let provider_ok = match &outcome {
        provider::Outcome::Ready(s) => {
            eprintln!("  ok: {}", clean(s));
            true
        }
        provider::Outcome::Skipped(s) => {
            eprintln!("  {}", clean(s));
            true
        }
        provider::Outcome::Unreachable(e) => {
            eprintln!("  FAIL: {}", clean(e));
            eprintln!(
                "  the settings were saved; fix them in {} and check with `chitin doctor`",
                dirs.config_file().display()
            );
            false
        }
    };

    eprintln!("\nDone. Next:");
    eprintln!("  scripts/chitin daemon            # the agent, API and web chat on 127.0.0.1");
    eprintln!("  scripts/chitin daemon link       # the web chat's address, token included");
    eprintln!("  scripts/chitin ask \"what files are in my notes?\"");
    eprintln!("  scripts/chitin doctor            # checks everything again");
    Ok(if provider_ok { EXIT_OK } else { EXIT_FAILED })
}

/// Create the default key if there is none and trust it under a name.
fn publisher_key(paths: &Paths, args: &SetupArgs, ask: &mut Ask) -> anyhow::Result<String> {
    if let Some(name) = &args.publisher
        && !valid_name(name)
    {
        bail!(
            "publisher name `{}`: use 1-64 letters, digits, `-`, `_` and `.`; nothing was created",
            clean(name)
        );
    }
    let dirs = paths.dirs()?;
    let path = dirs.default_key();
    let pair = if path.exists() {
        let pair = keys::load(&path)?;
        eprintln!(
            "  using {} ({})",
            path.display(),
            keys::fingerprint(&pair.pk)
        );
        pair
    } else {
        let pair = keys::generate(&path)?;
        eprintln!(
            "  created {} ({}; keep it secret)",
            path.display(),
            keys::fingerprint(&pair.pk)
        );
        pair
    };
    let key_text = keys::public_text(&pair.pk);
    let mut trust = TrustStore::open(&dirs.trust_file())?;
    if let Some((name, _)) = trust.list().find(|(_, k)| *k == key_text) {
        let name = name.to_string();
        if args.publisher.as_deref().is_some_and(|p| p != name) {
            bail!(
                "your key is already trusted as `{name}`; a key signs as one publisher: run `chitin trust remove {name}` first to use another name"
            );
        }
        eprintln!("  trusted as publisher `{name}`");
        return Ok(name);
    }
    let default = args.publisher.clone().unwrap_or_else(user_name);
    let name = loop {
        let name = if args.publisher.is_some() {
            default.clone()
        } else {
            ask.text(
                "  Your publisher name (your packages are signed as it)",
                &default,
            )
        };
        if valid_name(&name) {
            break name;
        }
        if args.publisher.is_some() || ask.yes {
            bail!(
                "publisher name `{}`: use 1-64 letters, digits, `-`, `_` and `.`",
                clean(&name)
            );
        }
        eprintln!("  use 1-64 letters, digits, `-`, `_` and `.`");
    };
    if trust.list().any(|(n, _)| n == name) {
        bail!(
            "`{name}` is already trusted with another key; choose another name (--publisher) or run `chitin trust remove {name}`"
        );
    }
    trust.add(&name, &key_text)?;
    eprintln!("  trusting your key as publisher `{name}`");
    Ok(name)
}

/// The login name, made a valid publisher name.
fn user_name() -> String {
    let raw = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    let name: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .take(64)
        .collect();
    if name.is_empty() { "me".into() } else { name }
}

/// The `skills/` of the checkout this binary was built from. Never the
/// current directory: what setup finds there it signs as you and installs
/// with what it asks for, so a cloned repository must not supply it.
fn default_skills_dir() -> anyhow::Result<PathBuf> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skills");
    if built_from.join("files/skill.toml").is_file() {
        return Ok(built_from.canonicalize().unwrap_or(built_from));
    }
    bail!(
        "the checkout chitin was built from has moved (no {}); pass --skills-dir DIR naming the skills/ of a Chitin checkout you trust",
        built_from.display()
    )
}

/// The skills to install: those --skills names (not asked), or each
/// offered one with the question to ask about it.
/// A skill to install, and the question about it (none when --skills named it).
type Candidate = (&'static str, Option<(&'static str, bool)>);

fn candidates(args: &SetupArgs) -> anyhow::Result<Vec<Candidate>> {
    if args.skills.is_empty() {
        return Ok(OFFERED
            .iter()
            .map(|(name, what, default)| (*name, Some((*what, *default))))
            .collect());
    }
    let mut out = Vec::new();
    for s in args.skills.iter().filter(|s| *s != "none") {
        match OFFERED.iter().find(|(n, _, _)| n == s) {
            Some((name, _, _)) => out.push((*name, None)),
            None => {
                let all: Vec<&str> = OFFERED.iter().map(|(n, _, _)| *n).collect();
                bail!(
                    "--skills {}: setup offers {} (or none)",
                    clean(s),
                    all.join(", ")
                );
            }
        }
    }
    Ok(out)
}

/// Pack `name` from `skills_dir` signed as `publisher` and install it with
/// the grants chosen here.
async fn install_first_party(
    paths: &Paths,
    skills_dir: &Path,
    name: &str,
    publisher: &str,
    args: &SetupArgs,
    ask: &mut Ask,
) -> anyhow::Result<()> {
    let dirs = paths.dirs()?;
    let mut grants = Vec::new();
    if name == "files" {
        let default = args.notes.clone().unwrap_or_else(|| "~/notes".into());
        let chosen = if args.notes.is_some() {
            default
        } else {
            ask.text("  Directory the files skill may read and write", &default)
        };
        let dir = chitin::dirs::expand(&chosen).context("no home directory to expand `~`")?;
        let dir = std::path::absolute(&dir).with_context(|| format!("{}", dir.display()))?;
        if !dir.is_dir() {
            if dir.exists() {
                bail!(
                    "{} is not a directory; choose another (--notes DIR)",
                    dir.display()
                );
            }
            if !ask.yes_no(
                &format!("  {} does not exist; create it?", dir.display()),
                true,
            ) {
                bail!(
                    "{} does not exist; create it or choose another (--notes DIR)",
                    dir.display()
                );
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            eprintln!("  created {}", dir.display());
        }
        grants.push(format!("/workspace={}", dir.display()));
    }
    let packed = pack_dir(
        paths,
        &skills_dir.join(name),
        &dirs.default_key(),
        Some(publisher),
    )
    .await?;
    let package_dir = dirs.data.join("packages");
    std::fs::create_dir_all(&package_dir)
        .with_context(|| format!("creating {}", package_dir.display()))?;
    let file = package_dir.join(format!("{name}-{}.wasm", packed.manifest.skill.version));
    std::fs::write(&file, &packed.bytes).with_context(|| format!("writing {}", file.display()))?;
    let previous = Installed::new(&dirs.skills()).get(name)?;
    if previous.is_some_and(|p| p.provenance.digest == chitin::cache::digest(&packed.bytes)) {
        eprintln!("  {name} is installed already (same package)");
        return Ok(());
    }
    let install = InstallArgs {
        source: file.display().to_string(),
        sha256: None,
        yes: true,
        grant: Vec::new(),
        deny: Vec::new(),
        dir: grants,
        allow_unsigned: false,
        allow_downgrade: false,
        accept_new_key: false,
        max_size: None,
        fail_before_commit: false,
    };
    super::package::install(install, paths).await?;
    if name == "github" {
        eprintln!(
            "  for private repositories and higher rate limits: `chitin secret set GITHUB_TOKEN`"
        );
    }
    Ok(())
}
