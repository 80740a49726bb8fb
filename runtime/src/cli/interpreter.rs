//! `chitin interpreter install|status`: the interpreter components that run
//! the model's code (`python`, `js` tools) and Agent Skills' scripts. They
//! are copied into Chitin's data directory, which no grant can reach, after
//! a check that each loads and offers the `run` tool.

use super::Paths;
use chitin::interpreter::{Interpreters, Lang, RUN_TOOL};
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// `chitin interpreter …`.
#[derive(Debug, Subcommand)]
pub enum InterpreterCommand {
    /// Install the interpreters from a directory holding `python.wasm` and
    /// `js.wasm` (default: `target/interpreters` of this checkout, made by
    /// scripts/build-interpreters).
    Install {
        /// The directory.
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Which interpreters are installed.
    Status,
}

/// Run the command.
pub async fn run(cmd: InterpreterCommand, paths: &Paths) -> anyhow::Result<u8> {
    let dest = paths.dirs()?.interpreters();
    match cmd {
        InterpreterCommand::Status => {
            for lang in Lang::ALL {
                let file = Interpreters::file(&dest, lang);
                match std::fs::metadata(&file) {
                    Ok(m) => println!(
                        "{:<7} installed ({:.1} MB) at {}",
                        lang.name(),
                        m.len() as f64 / 1e6,
                        file.display()
                    ),
                    Err(_) => println!(
                        "{:<7} not installed (`chitin interpreter install`)",
                        lang.name()
                    ),
                }
            }
            Ok(0)
        }
        InterpreterCommand::Install { from } => {
            let from = match from {
                Some(f) => f,
                None => default_source()?,
            };
            let host = super::skill::host(paths)?;
            let mut installed = 0;
            for lang in Lang::ALL {
                let src = Interpreters::file(&from, lang);
                if !src.is_file() {
                    eprintln!(
                        "{}: {} is missing; build it with scripts/build-interpreters",
                        lang.name(),
                        src.display()
                    );
                    continue;
                }
                check(&host, &src, lang).await?;
                copy_atomic(&src, &Interpreters::file(&dest, lang))?;
                let digest = chitin::cache::digest(&std::fs::read(&src)?);
                println!(
                    "installed the {} interpreter from {} (sha256 {digest})",
                    lang.name(),
                    src.display()
                );
                installed += 1;
            }
            if installed == 0 {
                anyhow::bail!(
                    "no interpreter found in {}; build them with scripts/build-interpreters",
                    from.display()
                );
            }
            Ok(0)
        }
    }
}

/// `target/interpreters` beside the running binary (`target/debug/chitin`).
fn default_source() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe.parent().and_then(Path::parent).ok_or_else(|| {
        anyhow::anyhow!("cannot tell where this checkout's target/ is; pass --from DIR")
    })?;
    Ok(target.join("interpreters"))
}

/// The file loads as a component and offers the `run` tool.
async fn check(host: &chitin::host::SkillHost, src: &Path, lang: Lang) -> anyhow::Result<()> {
    let what = format!(
        "checking the {} interpreter (compiling it once)",
        lang.name()
    );
    let loaded = super::progress::during(&what, || host.load(src))
        .map_err(|e| anyhow::anyhow!("{}: not a usable interpreter: {e}", src.display()))?;
    let tools = host
        .tools(&loaded)
        .await
        .map_err(|e| anyhow::anyhow!("{}: not a usable interpreter: {e}", src.display()))?;
    if !tools.iter().any(|t| t.name == RUN_TOOL) {
        anyhow::bail!(
            "{}: not an interpreter (it has no `{RUN_TOOL}` tool)",
            src.display()
        );
    }
    Ok(())
}

/// Copy `src` to `dest` through a temporary file, so `dest` is always whole.
fn copy_atomic(src: &Path, dest: &Path) -> anyhow::Result<()> {
    let dir = dest
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{}: no parent directory", dest.display()))?;
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::copy(src, tmp.path())?;
    tmp.persist(dest)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", dest.display()))?;
    Ok(())
}
