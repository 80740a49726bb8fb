//! Building the agent from the user's files: config (with flag and
//! environment overrides), provider key, installed skills, session store.

use super::Paths;
use chitin::agent::Agent;
use chitin::agent::config::{Config, NotConfigured, Overrides};
use chitin::agent::toolbox::Toolbox;
use chitin::capabilities::secrets::SecretStore;
use chitin::interpreter::Interpreters;
use chitin::mcp::remote::source::RemoteSource;
use chitin::package::state::Installed;
use chitin::provider::{self, ProviderSettings};
use chitin::store::Store;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// Provider overrides on the command line (they beat the environment and
/// config.toml).
#[derive(Debug, Args, Default, Clone)]
pub struct ProviderFlags {
    /// Provider protocol: `openai` (any OpenAI-compatible API) or `anthropic`.
    #[arg(long, value_name = "KIND")]
    pub provider: Option<String>,
    /// Provider base URL, e.g. http://127.0.0.1:11434/v1 for Ollama.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Model name.
    #[arg(long)]
    pub model: Option<String>,
}

/// The loaded configuration and where it lives.
pub struct Loaded {
    /// The config file.
    pub path: PathBuf,
    /// Its contents with overrides applied.
    pub config: Config,
    /// The API key from the environment, if any.
    pub env_key: Option<String>,
}

/// Load config.toml (creating it on first use) and apply overrides.
pub fn load_config(paths: &Paths, flags: &ProviderFlags) -> anyhow::Result<Loaded> {
    let path = paths.dirs()?.config_file();
    let mut config = Config::load_or_create(&path)?;
    let mut o = Overrides::from_env();
    if flags.provider.is_some() {
        o.provider = flags.provider.clone();
    }
    if flags.base_url.is_some() {
        o.base_url = flags.base_url.clone();
    }
    if flags.model.is_some() {
        o.model = flags.model.clone();
    }
    config.apply(&o)?;
    Ok(Loaded {
        path,
        config,
        env_key: o.api_key,
    })
}

/// Provider settings, or what to configure.
pub fn provider_settings(paths: &Paths, l: &Loaded) -> Result<ProviderSettings, NotConfigured> {
    let secrets = paths.secrets().ok();
    let lookup = |name: &str| {
        let store = SecretStore::open(secrets.as_ref()?).ok()?;
        store.get(name).map(str::to_string)
    };
    l.config
        .provider
        .settings(&l.path, l.env_key.as_deref(), &lookup)
}

/// The `[[provider.fallback]]` settings, resolved against the main ones.
pub fn fallback_settings(
    paths: &Paths,
    l: &Loaded,
    main: &ProviderSettings,
) -> Result<Vec<ProviderSettings>, NotConfigured> {
    let secrets = paths.secrets().ok();
    let lookup = |name: &str| {
        let store = SecretStore::open(secrets.as_ref()?).ok()?;
        store.get(name).map(str::to_string)
    };
    l.config.provider.fallbacks(main, &l.path, &lookup)
}

fn fallback_providers(
    paths: &Paths,
    l: &Loaded,
    main: &ProviderSettings,
) -> anyhow::Result<Vec<Box<dyn provider::Provider>>> {
    let mut out = Vec::new();
    for s in fallback_settings(paths, l, main)? {
        out.push(provider::build(s)?);
    }
    Ok(out)
}

/// The agent and the problems met while loading skills.
pub fn build_agent(paths: &Paths, l: &Loaded) -> anyhow::Result<(Agent, Vec<String>)> {
    let dirs = paths.dirs()?;
    let (provider, fallbacks) = match provider_settings(paths, l) {
        Ok(s) => {
            let fallbacks = fallback_providers(paths, l, &s)?;
            let main = provider::build(s).map_err(|e| NotConfigured(e.to_string()));
            (main, fallbacks)
        }
        Err(e) => (Err(e), Vec::new()),
    };
    // The host refuses grants overlapping Chitin's own files (see `Paths::protected`).
    let host = Arc::new(super::skill::host(paths)?);
    let interpreters = Arc::new(Interpreters::new(
        host.clone(),
        &dirs.interpreters(),
        &dirs.scratch(),
        l.config.interpreter.clone(),
    ));
    let (toolbox, problems) =
        Toolbox::load(host, &Installed::new(&dirs.skills()), paths.secrets()?);
    let toolbox = toolbox.with_interpreters(interpreters);
    let store = Arc::new(Store::open(&dirs.sessions_db())?);
    // Quick, and before anything is written: a damaged file is refused.
    store.check(false)?;
    match store.close_interrupted() {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            "{n} turn(s) were left unfinished when Chitin last stopped; they are marked interrupted"
        ),
        Err(e) => tracing::warn!("checking for interrupted turns: {e}"),
    }
    let (remote, remote_problems) =
        RemoteSource::new(&l.config.mcp, &dirs.mcp_pins(), paths.secrets()?);
    let mut problems = problems;
    problems.extend(remote_problems);
    let mut agent = Agent::new(l.config.agent.clone(), provider, toolbox, store)
        .with_fallbacks(fallbacks)
        .with_remote(remote)
        .with_prices(l.config.prices.clone());
    if l.config.memory.enabled {
        match chitin::memory::Memory::open(&dirs) {
            Ok(m) => agent = agent.with_memory(Arc::new(m), l.config.memory.clone()),
            // The agent still runs; the problem is reported with the rest.
            Err(e) => problems.push(format!("memory is off: {e}")),
        }
    }
    Ok((agent, problems))
}
