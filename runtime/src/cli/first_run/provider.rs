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
    // Every provider setting is set or removed: a key named for the old
    // provider must never be sent to the new one.
    let values = [
        ("kind", Some(kind)),
        ("base_url", Some(base_url)),
        ("model", Some(model)),
        ("api_key_secret", Some(key_name).filter(|k| !k.is_empty())),
    ];
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
    if secrets::validate_name(name).is_err() {
        // Not quoted: a key typed at the wrong question must not be printed.
        bail!(
            "that is not a secret name (letters, digits and `_`, e.g. OPENAI_API_KEY); nothing was written"
        );
    }
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
        None => eprintln!(
            "  the key is not stored yet: `chitin secret set {name}` (a hidden prompt, or the key on stdin)"
        ),
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

/// Set (or, for `None`, remove) `values` in the `[provider]` table of
/// config.toml, keeping every other line (comments included); checked to
/// parse before it replaces the file, which is replaced whole or not at all,
/// keeping its mode (and, for a symlink, replacing the file it points to).
pub fn write_provider(path: &Path, values: &[(&str, Option<String>)]) -> anyhow::Result<()> {
    let path =
        &std::fs::canonicalize(path).with_context(|| format!("reading {}", path.display()))?;
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
        .and_then(|(_, v)| v.as_deref());
    if parsed.provider.kind.map(kind_name) != wanted {
        bail!(
            "editing {} did not set the provider; it was not changed",
            path.display()
        );
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mode = std::fs::metadata(path)?.permissions();
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, edited.as_bytes())?;
    tmp.as_file().set_permissions(mode)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Whether `line` is the header of table `name` (a comment may follow).
fn is_header(line: &str, name: &str) -> bool {
    let line = line.split('#').next().unwrap_or_default().trim();
    line == format!("[{name}]")
}

fn kind_name(kind: provider::ProviderKind) -> &'static str {
    match kind {
        provider::ProviderKind::Openai => "openai",
        provider::ProviderKind::Anthropic => "anthropic",
        provider::ProviderKind::Responses => "responses",
    }
}

/// `text` with `key = value` lines set (or removed, for `None`) in its
/// `[provider]` table.
fn with_provider(text: &str, values: &[(&str, Option<String>)]) -> String {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let start = match lines.iter().position(|l| is_header(l, "provider")) {
        Some(i) => i,
        None => {
            lines.push(String::new());
            lines.push("[provider]".into());
            lines.len() - 1
        }
    };
    let is_key = |line: &str, key: &str| {
        line.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let mut end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut inserted = 0;
    for (key, value) in values {
        let found = lines[start + 1..end]
            .iter()
            .position(|l| is_key(l, key))
            .map(|i| start + 1 + i);
        match (found, value) {
            (Some(i), Some(v)) => lines[i] = format!("{key} = {}", toml::Value::String(v.clone())),
            (Some(i), None) => {
                lines.remove(i);
                end -= 1;
            }
            (None, Some(v)) => {
                lines.insert(
                    start + 1 + inserted,
                    format!("{key} = {}", toml::Value::String(v.clone())),
                );
                inserted += 1;
                end += 1;
            }
            (None, None) => {}
        }
    }
    let mut out = lines.join(newline);
    out.push_str(newline);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_table_is_edited_in_place() {
        let template = chitin::agent::config::TEMPLATE;
        let values = [
            ("kind", Some("openai".to_string())),
            ("base_url", Some("http://127.0.0.1:1/v1".to_string())),
            ("model", Some("m \"quoted\"".to_string())),
            ("api_key_secret", Some("OLD_KEY".to_string())),
        ];
        let once = with_provider(template, &values);
        let c = Config::parse(&once, Path::new("c.toml")).unwrap();
        assert_eq!(c.provider.kind, Some(provider::ProviderKind::Openai));
        assert_eq!(c.provider.model.as_deref(), Some("m \"quoted\""));
        // Comments and the other tables are kept.
        assert!(once.contains("# max_steps = 12"));
        assert!(once.contains("[daemon]"));
        // Setting again replaces, never duplicates.
        let values = [
            ("model", Some("other".to_string())),
            ("api_key_secret", None),
        ];
        let twice = with_provider(&once, &values);
        // The old provider's key is gone, not sent to the new one.
        assert!(!twice.contains("OLD_KEY"), "{twice}");
        let c = Config::parse(&twice, Path::new("c.toml")).unwrap();
        assert_eq!(c.provider.api_key_secret, None);
        let set = twice.lines().filter(|l| l.starts_with("model = ")).count();
        assert_eq!(set, 1, "{twice}");
        let c = Config::parse(&twice, Path::new("c.toml")).unwrap();
        assert_eq!(c.provider.model.as_deref(), Some("other"));
        assert_eq!(c.provider.kind, Some(provider::ProviderKind::Openai));
        // A header with a comment is the same table; CRLF stays CRLF.
        let crlf = "[provider] # mine\r\nmodel = \"a\"\r\n";
        let edited = with_provider(crlf, &values);
        assert_eq!(edited.matches("[provider]").count(), 1, "{edited}");
        assert!(edited.contains("model = \"other\"\r\n"), "{edited:?}");
        // A file without the table gets one.
        let added = with_provider("[agent]\nmax_steps = 3\n", &values);
        let c = Config::parse(&added, Path::new("c.toml")).unwrap();
        assert_eq!(c.provider.model.as_deref(), Some("other"));
        assert_eq!(c.agent.max_steps, 3);
    }
}
