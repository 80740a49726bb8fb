//! `chitin secret set|list|rm`. Values are read from a hidden prompt or
//! stdin, never from the command line (where `ps` and shell history would
//! see them), and never printed back.

use super::{EXIT_FAILED, EXIT_OK, Paths};
use anyhow::{Context, bail};
use chitin::capabilities::secrets::SecretStore;
use clap::Subcommand;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

/// Secret commands.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret. The value is read from a hidden prompt, or from stdin
    /// when it is not a terminal (e.g. `printf %s "$TOKEN" | chitin secret set GITHUB_TOKEN`).
    Set {
        /// Secret name, e.g. GITHUB_TOKEN.
        name: String,
    },
    /// List secret names (never values).
    List,
    /// Remove a secret.
    #[command(alias = "remove")]
    Rm {
        /// Secret name.
        name: String,
    },
}

/// The secret store path from flags or the default.
pub fn store_path(paths: &Paths) -> anyhow::Result<PathBuf> {
    paths.secrets()
}

fn read_value(name: &str) -> anyhow::Result<String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Value for {name} (input hidden): "))
            .context("reading the secret value")?
    } else {
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .context("reading the secret value from stdin")?;
        s
    };
    let value = value.trim_end_matches(['\r', '\n']).to_string();
    if value.is_empty() {
        bail!("no value given for {name}: type it at the prompt or pipe it on stdin");
    }
    Ok(value)
}

/// Run a secret command.
pub fn run(cmd: SecretCommand, paths: &Paths) -> anyhow::Result<u8> {
    let path = store_path(paths)?;
    let mut store = SecretStore::open(&path)?;
    match cmd {
        SecretCommand::Set { name } => {
            chitin::capabilities::secrets::validate_name(&name)?;
            let value = read_value(&name)?;
            store.set(&name, &value)?;
            eprintln!("stored secret {name} in {}", store.path().display());
            Ok(EXIT_OK)
        }
        SecretCommand::List => {
            let names: Vec<&str> = store.names().collect();
            if names.is_empty() {
                eprintln!(
                    "no secrets in {} (add one with `chitin secret set NAME`)",
                    store.path().display()
                );
            }
            for n in names {
                println!("{n}");
            }
            Ok(EXIT_OK)
        }
        SecretCommand::Rm { name } => {
            if store.remove(&name)? {
                eprintln!("removed secret {name}");
                Ok(EXIT_OK)
            } else {
                eprintln!(
                    "error: no secret named {name} in {}",
                    store.path().display()
                );
                Ok(EXIT_FAILED)
            }
        }
    }
}
