//! The provider step of `chitin setup`: pick a provider, store its key in
//! the secret store (never in config.toml), write the `[provider]` section
//! in place (comments kept), and test the connection.

use super::ask::Ask;
use crate::cli::Paths;
use crate::cli::setup::{self, ProviderFlags};
use anyhow::{Context, bail};
use chitin::agent::config::Config;
use chitin::capabilities::secrets::{self, SecretStore};
use chitin::provider;
use chitin::text::one_line;
use std::path::Path;
use std::time::Duration;

/// A provider people commonly use, with its defaults.
struct Preset {
    name: &'static str,
    kind: &'static str,
    base_url: &'static str,
    model: &'static str,
    /// Secret name for the key; empty for local servers.
    key: &'static str,
}

const PRESETS: &[Preset] = &[
    Preset {
        name: "OpenAI",
        kind: "openai",
        base_url: "https://api.openai.com/v1",
        model: "gpt-4o-mini",
        key: "OPENAI_API_KEY",
    },
    Preset {
        name: "OpenRouter",
        kind: "openai",
        base_url: "https://openrouter.ai/api/v1",
        model: "deepseek/deepseek-chat",
        key: "OPENROUTER_API_KEY",
    },
    Preset {
        name: "DeepSeek",
        kind: "openai",
        base_url: "https://api.deepseek.com/v1",
        model: "deepseek-chat",
        key: "DEEPSEEK_API_KEY",
    },
    Preset {
        name: "Anthropic",
        kind: "anthropic",
        base_url: "https://api.anthropic.com/v1",
        model: "claude-sonnet-4-5",
        key: "ANTHROPIC_API_KEY",
    },
    Preset {
        name: "Ollama on this machine",
        kind: "openai",
        base_url: "http://127.0.0.1:11434/v1",
        model: "llama3.2",
        key: "",
    },
];

/// What the provider step decided.
pub enum Outcome {
    /// Configured and answering.
    Ready(String),
    /// Configured, but the connection test failed (the message says why).
    Unreachable(String),
    /// Left as it was (already configured, or nothing given).
    Skipped(String),
}

/// Choose, store and test the provider.
pub async fn configure(
    paths: &Paths,
    flags: &ProviderFlags,
    key_secret: Option<&str>,
    ask: &mut Ask,
) -> anyhow::Result<Outcome> {
    let path = paths.dirs()?.config_file();
    let current = Config::load_or_create(&path)?;
    let given = flags.provider.is_some() || flags.base_url.is_some() || flags.model.is_some();
    if let (Some(kind), false) = (&current.provider.kind, given) {
        let shown = format!(
            "{} {} {}",
            kind_name(*kind),
            current.provider.base_url.as_deref().unwrap_or_default(),
            current.provider.model.as_deref().unwrap_or_default()
        );
        if !ask.yes_no(
            &format!(
                "A provider is configured ({}). Change it?",
                one_line(&shown, 200)
            ),
            false,
        ) {
            return test(
                paths,
                Outcome::Skipped(format!("kept {}", one_line(&shown, 200))),
            )
            .await;
        }
    } else if !given && ask.yes {
        return Ok(Outcome::Skipped(
            "not configured (pass --provider, --base-url and --model, or run `chitin setup` on a terminal)".into(),
        ));
    }
    let chosen = if given {
        let kind = flags.provider.clone().unwrap_or_else(|| "openai".into());
        let base_url = flags
            .base_url
            .clone()
            .context("--base-url is needed with --provider or --model")?;
        let model = flags
            .model
            .clone()
            .context("--model is needed with --provider or --base-url")?;
        (
            kind,
            base_url,
            model,
            key_secret.unwrap_or_default().to_string(),
        )
    } else {
        pick(ask, key_secret)?
    };
    let (kind, base_url, model, key_name) = chosen;
    if !key_name.is_empty() {
        store_key(paths, &key_name, ask)?;
    }
    let mut values = vec![("kind", kind), ("base_url", base_url), ("model", model)];
    if !key_name.is_empty() {
        values.push(("api_key_secret", key_name));
    }
    write_provider(&path, &values)?;
    eprintln!("  wrote [provider] in {}", path.display());
    test(paths, Outcome::Ready(String::new())).await
}

/// Ask which provider; (kind, base URL, model, key secret name).
fn pick(
    ask: &mut Ask,
    key_secret: Option<&str>,
) -> anyhow::Result<(String, String, String, String)> {
    eprintln!("Which model provider?");
    for (i, p) in PRESETS.iter().enumerate() {
        eprintln!("  {}) {:<24} {}", i + 1, p.name, p.base_url);
    }
    eprintln!("  {}) another OpenAI-compatible server", PRESETS.len() + 1);
    let n = loop {
        let answer = ask.text("Number", "1");
        match answer.parse::<usize>() {
            Ok(n) if (1..=PRESETS.len() + 1).contains(&n) => break n,
            _ => eprintln!("  give a number from 1 to {}", PRESETS.len() + 1),
        }
    };
    let (kind, base_url, model, key) = match PRESETS.get(n - 1) {
        Some(p) => (
            p.kind.to_string(),
            ask.text("Base URL", p.base_url),
            ask.text("Model", p.model),
            p.key,
        ),
        None => (
            "openai".to_string(),
            ask.text("Base URL (e.g. http://127.0.0.1:8000/v1)", ""),
            ask.text("Model", ""),
            "",
        ),
    };
    if base_url.is_empty() || model.is_empty() {
        bail!("a provider needs a base URL and a model; nothing was written");
    }
    let key = ask.text(
        "Name of the secret that holds its API key (empty: none)",
        key_secret.unwrap_or(key),
    );
    Ok((kind, base_url, model, key))
}

/// Make sure the secret `name` is stored, asking for its value if not.
fn store_key(paths: &Paths, name: &str, ask: &mut Ask) -> anyhow::Result<()> {
    secrets::validate_name(name)?;
    let mut store = SecretStore::open(&paths.secrets()?)?;
    if store.get(name).is_some() {
        eprintln!("  the key is in the secret store as {name}");
        return Ok(());
    }
    match ask.secret(&format!("API key (stored as secret {name})")) {
        Some(value) => {
            store.set(name, &value)?;
            eprintln!("  stored secret {name} in {}", store.path().display());
        }
        None => eprintln!("  no key given: store it later with `chitin secret set {name}`"),
    }
    Ok(())
}

/// Test the configured provider as `chitin doctor` does.
async fn test(paths: &Paths, ok: Outcome) -> anyhow::Result<Outcome> {
    let loaded = setup::load_config(paths, &ProviderFlags::default())?;
    let mut s = match setup::provider_settings(paths, &loaded) {
        Ok(s) => s,
        Err(e) => return Ok(Outcome::Unreachable(e.to_string())),
    };
    s.timeout = s.timeout.min(Duration::from_secs(15));
    s.max_retries = 0;
    let p = match provider::build(s) {
        Ok(p) => p,
        Err(e) => return Ok(Outcome::Unreachable(e.to_string())),
    };
    let described = p.describe();
    let checked = {
        let _shown = crate::cli::progress::start(&format!("testing {described}"));
        p.check().await
    };
    Ok(match (checked, ok) {
        (Err(e), _) => Outcome::Unreachable(format!("{described}: {e}")),
        (Ok(summary), Outcome::Skipped(kept)) => Outcome::Skipped(format!("{kept}: {summary}")),
        (Ok(summary), _) => Outcome::Ready(summary),
    })
}

/// Set `values` in the `[provider]` table of config.toml, keeping every
/// other line (comments included); checked to parse before it replaces
/// the file, which is replaced whole or not at all.
pub fn write_provider(path: &Path, values: &[(&str, String)]) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let edited = with_provider(&text, values);
    let parsed = Config::parse(&edited, path).with_context(|| {
        format!(
            "the edited {} would not load; it was not changed",
            path.display()
        )
    })?;
    let wanted = values
        .iter()
        .find(|(k, _)| *k == "kind")
        .map(|(_, v)| v.as_str());
    if parsed.provider.kind.map(kind_name) != wanted {
        bail!(
            "editing {} did not set the provider; it was not changed",
            path.display()
        );
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, edited.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn kind_name(kind: provider::ProviderKind) -> &'static str {
    match kind {
        provider::ProviderKind::Openai => "openai",
        provider::ProviderKind::Anthropic => "anthropic",
    }
}

/// `text` with `key = value` lines set in its `[provider]` table.
fn with_provider(text: &str, values: &[(&str, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header = lines.iter().position(|l| l.trim() == "[provider]");
    let start = match header {
        Some(i) => i,
        None => {
            lines.push(String::new());
            lines.push("[provider]".into());
            lines.len() - 1
        }
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut inserted = 0;
    for (key, value) in values {
        let line = format!("{key} = {}", toml::Value::String(value.clone()));
        let found = lines[start + 1..end + inserted].iter().position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        match found {
            Some(i) => lines[start + 1 + i] = line,
            None => {
                lines.insert(start + 1 + inserted, line);
                inserted += 1;
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_table_is_edited_in_place() {
        let template = chitin::agent::config::TEMPLATE;
        let values = [
            ("kind", "openai".to_string()),
            ("base_url", "http://127.0.0.1:1/v1".to_string()),
            ("model", "m \"quoted\"".to_string()),
        ];
        let once = with_provider(template, &values);
        let c = Config::parse(&once, Path::new("c.toml")).unwrap();
        assert_eq!(c.provider.kind, Some(provider::ProviderKind::Openai));
        assert_eq!(c.provider.model.as_deref(), Some("m \"quoted\""));
        // Comments and the other tables are kept.
        assert!(once.contains("# max_steps = 12"));
        assert!(once.contains("[daemon]"));
        // Setting again replaces, never duplicates.
        let values = [("model", "other".to_string())];
        let twice = with_provider(&once, &values);
        assert_eq!(twice.matches("model = ").count(), 1, "{twice}");
        let c = Config::parse(&twice, Path::new("c.toml")).unwrap();
        assert_eq!(c.provider.model.as_deref(), Some("other"));
        assert_eq!(c.provider.kind, Some(provider::ProviderKind::Openai));
        // A file without the table gets one.
        let added = with_provider("[agent]\nmax_steps = 3\n", &values);
        let c = Config::parse(&added, Path::new("c.toml")).unwrap();
        assert_eq!(c.provider.model.as_deref(), Some("other"));
        assert_eq!(c.agent.max_steps, 3);
    }
}
