//! `chitin key generate|show` and `chitin trust add|list|remove`.

use super::{EXIT_FAILED, EXIT_OK, Paths};
use chitin::package::keys;
use chitin::package::trust::TrustStore;
use clap::Subcommand;
use std::path::PathBuf;

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate an Ed25519 publisher key (private key file 0600; never overwrites).
    Generate {
        /// Where to write the private key [default: <config>/keys/publisher.pem].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print a key's public half, in the form `chitin trust add` takes.
    Show {
        /// The private key file [default: <config>/keys/publisher.pem].
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
}

/// Trust commands.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a publisher's key under a name (the name packages must claim).
    Add {
        /// Publisher name, e.g. `chitin`.
        name: String,
        /// Public key, `ed25519:…` (from `chitin key show`).
        key: String,
    },
    /// List trusted publishers.
    List,
    /// Stop trusting a publisher.
    #[command(alias = "rm")]
    Remove {
        /// Publisher name.
        name: String,
    },
}

/// Run a key command.
pub fn run_key(cmd: KeyCommand, paths: &Paths) -> anyhow::Result<u8> {
    match cmd {
        KeyCommand::Generate { out } => {
            let path = match out {
                Some(p) => p,
                None => paths.dirs()?.default_key(),
            };
            let pair = keys::generate(&path)?;
            eprintln!("wrote private key {} (keep it secret)", path.display());
            eprintln!("fingerprint {}", keys::fingerprint(&pair.pk));
            println!("{}", keys::public_text(&pair.pk));
            Ok(EXIT_OK)
        }
        KeyCommand::Show { key } => {
            let path = match key {
                Some(p) => p,
                None => paths.dirs()?.default_key(),
            };
            let pair = keys::load(&path)?;
            eprintln!("fingerprint {}", keys::fingerprint(&pair.pk));
            println!("{}", keys::public_text(&pair.pk));
            Ok(EXIT_OK)
        }
    }
}

/// Run a trust command.
pub fn run_trust(cmd: TrustCommand, paths: &Paths) -> anyhow::Result<u8> {
    let mut store = TrustStore::open(&paths.dirs()?.trust_file())?;
    match cmd {
        TrustCommand::Add { name, key } => {
            store.add(&name, &key)?;
            let pk = keys::parse_public(&key)?;
            eprintln!("trusting {} as publisher `{name}`", keys::fingerprint(&pk));
            Ok(EXIT_OK)
        }
        TrustCommand::List => {
            for (name, key) in store.list() {
                let fp = keys::parse_public(key)
                    .map(|k| keys::fingerprint(&k))
                    .unwrap_or_default();
                println!("{name}\t{fp}\t{key}");
            }
            Ok(EXIT_OK)
        }
        TrustCommand::Remove { name } => {
            if store.remove(&name)? {
                eprintln!("no longer trusting `{name}`");
                Ok(EXIT_OK)
            } else {
                eprintln!("error: `{name}` is not a trusted publisher");
                Ok(EXIT_FAILED)
            }
        }
    }
}
