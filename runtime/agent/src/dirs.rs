//! Where Chitin keeps its files. `CHITIN_HOME` (or `--home`) puts everything
//! under one directory (`config/`, `data/`, `cache/`); otherwise the
//! platform's config, data and cache directories are used.

use std::path::{Path, PathBuf};
use thiserror::Error;

/// No usable directory.
#[derive(Debug, Error)]
#[error("cannot find a {0} directory for Chitin; set CHITIN_HOME or pass --home")]
pub struct DirsError(&'static str);

/// Chitin's directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChitinDirs {
    /// Keys, trust store, secrets.
    pub config: PathBuf,
    /// Installed skills.
    pub data: PathBuf,
    /// Compiled components.
    pub cache: PathBuf,
}

impl ChitinDirs {
    /// Everything under one directory.
    pub fn under(home: &Path) -> Self {
        ChitinDirs {
            config: home.join("config"),
            data: home.join("data"),
            cache: home.join("cache"),
        }
    }

    /// `home` if given, else the platform directories.
    pub fn resolve(home: Option<&Path>) -> Result<Self, DirsError> {
        if let Some(h) = home {
            return Ok(Self::under(h));
        }
        Ok(ChitinDirs {
            config: dirs::config_dir()
                .ok_or(DirsError("config"))?
                .join("chitin"),
            data: dirs::data_dir().ok_or(DirsError("data"))?.join("chitin"),
            cache: dirs::cache_dir().ok_or(DirsError("cache"))?.join("chitin"),
        })
    }

    /// The secret store file.
    pub fn secrets_file(&self) -> PathBuf {
        self.config.join("secrets.json")
    }

    /// The trust store file.
    pub fn trust_file(&self) -> PathBuf {
        self.config.join("trust.toml")
    }

    /// The default publisher key file.
    pub fn default_key(&self) -> PathBuf {
        self.config.join("keys").join("publisher.pem")
    }

    /// Installed skills.
    pub fn skills(&self) -> PathBuf {
        self.data.join("skills")
    }

    /// The accepted tools of each remote MCP server (one file per server).
    pub fn mcp_pins(&self) -> PathBuf {
        self.data.join("mcp")
    }

    /// The agent's configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    /// The daemon's bearer token.
    pub fn daemon_token(&self) -> PathBuf {
        self.config.join("daemon.token")
    }

    /// Where a running daemon says where it listens.
    pub fn daemon_state(&self) -> PathBuf {
        self.data.join("daemon.json")
    }

    /// The session database.
    pub fn sessions_db(&self) -> PathBuf {
        self.data.join("sessions.db")
    }

    /// The installed interpreter components (`python.wasm`, `js.wasm`).
    pub fn interpreters(&self) -> PathBuf {
        self.data.join("interpreters")
    }

    /// Scratch directories of sessions (mounted only by the host).
    pub fn scratch(&self) -> PathBuf {
        self.data.join("scratch")
    }

    /// The memory the user can read and edit: Markdown files
    /// (`profile.md`, `notes.md`, `daily/YYYY-MM-DD.md`).
    pub fn memory(&self) -> PathBuf {
        self.data.join("memory")
    }

    /// The search index over [`ChitinDirs::memory`] (derived data, rebuilt from
    /// the files when missing or stale).
    pub fn memory_index(&self) -> PathBuf {
        self.data.join("memory-index.db")
    }

    /// The heartbeat's checklist, edited by the user.
    pub fn heartbeat_file(&self) -> PathBuf {
        self.data.join("HEARTBEAT.md")
    }

    /// The compiled-component cache.
    pub fn component_cache(&self) -> PathBuf {
        self.cache.join("components")
    }

    /// The key that authenticates compiled-cache entries (kept with the
    /// config, apart from the cache it protects).
    pub fn cache_key(&self) -> PathBuf {
        self.config.join("cache.key")
    }
}

/// A user's path with its shorthand expanded: `~` and `$HOME` (the home
/// directory), `$WORKSPACE` (the current directory), each alone or followed
/// by `/…`. Other paths are returned as given; None when the directory a
/// shorthand names is unknown. Manifests, `--dir` and `--allow-dir` all
/// expand through here.
pub fn expand(path: &str) -> Option<PathBuf> {
    let after = |prefix: &str| {
        path.strip_prefix(prefix)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .map(|rest| rest.trim_start_matches('/').to_string())
    };
    if let Some(rest) = after("$WORKSPACE") {
        return std::env::current_dir().ok().map(|d| d.join(rest));
    }
    if let Some(rest) = after("$HOME").or_else(|| after("~")) {
        return dirs::home_dir().map(|d| d.join(rest));
    }
    Some(PathBuf::from(path))
}

#[cfg(test)]
mod expand_tests {
    use super::expand;
    use std::path::PathBuf;

    #[test]
    fn shorthands_expand_and_lookalikes_do_not() {
        let home = dirs::home_dir().unwrap();
        let cwd = std::env::current_dir().unwrap();
        let table = [
            ("~", home.clone()),
            ("~/notes", home.join("notes")),
            ("$HOME/a/b", home.join("a/b")),
            ("$WORKSPACE", cwd.clone()),
            ("$WORKSPACE/out", cwd.join("out")),
            ("~bob/x", PathBuf::from("~bob/x")),
            ("$HOMEWORK", PathBuf::from("$HOMEWORK")),
            ("/abs/path", PathBuf::from("/abs/path")),
            ("rel", PathBuf::from("rel")),
        ];
        for (input, want) in table {
            assert_eq!(expand(input), Some(want), "{input}");
        }
    }
}
