//! `chitin doctor`: checks the configuration, the provider connection, the
//! installed skills and the daemon's exposure, and says what to fix.

use super::client::DaemonClient;
use super::setup::{self, ProviderFlags};
use super::{EXIT_FAILED, EXIT_OK, Paths};
use chitin::agent::toolbox::Served;
use chitin::package::state::Installed;
use chitin::provider;
use chitin::text::clean;
use std::time::Duration;

struct Report {
    failed: bool,
}

/// The running daemon's provider against the configuration's: a daemon
/// keeps the provider it started with until it is restarted.
async fn compare_provider(r: &mut Report, client: &DaemonClient, configured: Option<&str>) {
    let Ok(health) = client.request(http::Method::GET, "/api/health", None).await else {
        return;
    };
    let serving = health["provider"].as_str();
    match (serving, configured) {
        (Some(s), Some(c)) if s != c => r.fail(
            "daemon provider",
            format!(
                "the running daemon uses {s}, but the configuration now says {c}; restart the daemon to use it"
            ),
        ),
        (None, Some(c)) => r.fail(
            "daemon provider",
            format!(
                "the running daemon has no provider, but the configuration now says {c}; restart the daemon to use it"
            ),
        ),
        (Some(s), _) => r.ok("daemon provider", s),
        (None, None) => {}
    }
}

/// What the running daemon serves against what is installed: each skill,
/// its package digest and its grants must agree.
async fn compare_served(r: &mut Report, paths: &Paths, client: &DaemonClient) {
    let health = match client.request(http::Method::GET, "/api/health", None).await {
        Ok(h) => h,
        Err(e) => {
            return r.fail(
                "daemon skills",
                format!(
                    "cannot ask the daemon: {}",
                    chitin::text::error_chain(e.as_ref())
                ),
            );
        }
    };
    let Ok(served) = serde_json::from_value::<Vec<Served>>(health["served"].clone()) else {
        return r.fail(
            "daemon skills",
            "the daemon does not say which skills it serves (an older version? restart it)",
        );
    };
    let installed = match paths
        .dirs()
        .map(|d| Installed::new(&d.skills()))
        .and_then(|i| Ok(i.list()?))
    {
        Ok(l) => l,
        Err(e) => return r.fail("daemon skills", chitin::text::error_chain(e.as_ref())),
    };
    let mut differences = Vec::new();
    for rec in &installed {
        match served.iter().find(|s| s.name == rec.name) {
            None => differences.push(format!("{} is installed but not served", rec.name)),
            Some(s) if s.digest != rec.provenance.digest => differences.push(format!(
                "{} is served from another package than the one installed",
                rec.name
            )),
            Some(s) if s.grants != rec.grants.ids() => differences.push(format!(
                "{} is served with grants [{}] but installed with [{}]",
                rec.name,
                joined(&s.grants),
                joined(&rec.grants.ids())
            )),
            Some(_) => {}
        }
    }
    for s in &served {
        if !installed.iter().any(|rec| rec.name == s.name) {
            differences.push(format!("{} is served but no longer installed", s.name));
        }
    }
    let problems: Vec<String> = health["skill_problems"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if differences.is_empty() {
        r.ok(
            "daemon skills",
            format!(
                "serves exactly the {} installed skill(s) with their recorded grants",
                served.len()
            ),
        );
    } else {
        for d in differences {
            r.fail("daemon skills", d);
        }
        for p in problems {
            r.fail("daemon skills", format!("the daemon says: {p}"));
        }
    }
}

impl Report {
    fn ok(&self, what: &str, detail: impl std::fmt::Display) {
        println!("ok    {what}: {}", clean(&detail.to_string()));
    }
    fn warn(&self, what: &str, detail: impl std::fmt::Display) {
        println!("warn  {what}: {}", clean(&detail.to_string()));
    }
    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failed = true;
        println!("FAIL  {what}: {}", clean(&detail.to_string()));
    }
}

/// Run the checks; exit 1 if any failed.
pub async fn run(paths: &Paths, flags: ProviderFlags) -> anyhow::Result<u8> {
    let mut r = Report { failed: false };
    let dirs = paths.dirs()?;
    // What the configuration says the provider is, to compare with the
    // running daemon's.
    let mut configured_provider = None;
    let loaded = match setup::load_config(paths, &flags) {
        Ok(l) => {
            r.ok("config", l.path.display());
            l
        }
        Err(e) => {
            r.fail("config", chitin::text::error_chain(e.as_ref()));
            return Ok(EXIT_FAILED);
        }
    };

    match setup::provider_settings(paths, &loaded) {
        Err(e) => r.fail("provider", e),
        Ok(mut s) => {
            let fallbacks = setup::fallback_settings(paths, &loaded, &s);
            let key = if s.api_key.is_some() {
                "API key set"
            } else {
                "no API key (fine for local servers)"
            };
            s.timeout = s.timeout.min(Duration::from_secs(10));
            s.max_retries = 0;
            let quirks = provider_quirks(&s);
            match provider::build(s) {
                Err(e) => r.fail("provider", e),
                Ok(p) => {
                    configured_provider = Some(p.describe());
                    match p.check().await {
                        Ok(summary) => {
                            r.ok("provider", format!("{summary}; {key}"));
                            if let Some(q) = &quirks {
                                r.ok("provider quirks", q);
                            }
                        }
                        Err(e) => r.fail("provider", format!("{}: {e}", p.describe())),
                    }
                }
            }
            check_fallbacks(&mut r, fallbacks).await;
        }
    }

    match setup::build_agent(paths, &loaded) {
        Err(e) => r.fail("skills", chitin::text::error_chain(e.as_ref())),
        Ok((agent, problems)) => {
            let n = agent.toolbox().skill_count();
            if n == 0 && problems.is_empty() {
                r.warn("skills", "none installed: the agent has no tools; install one with `chitin skill install <package>`");
            } else {
                r.ok(
                    "skills",
                    format!("{n} loaded, {} tools", agent.toolbox().entries().len()),
                );
            }
            for p in problems {
                r.fail("skills", p);
            }
            check_interpreters(&mut r, &agent);
            match agent.store().check(true) {
                Ok(()) => r.ok(
                    "sessions",
                    format!("{} (integrity checked)", agent.store().path().display()),
                ),
                Err(e) => r.fail("sessions", e),
            }
        }
    }

    match loaded.config.listen() {
        Err(e) => r.fail("daemon", e),
        Ok(addr) if !addr.ip().is_loopback() => r.warn(
            "daemon",
            format!("[daemon] listen = {addr} is reachable from other machines; use 127.0.0.1 unless you mean it (the token is still required)"),
        ),
        Ok(addr) => r.ok("daemon", format!("listens on loopback ({addr}) with a bearer token")),
    }
    let token = dirs.daemon_token();
    match std::fs::metadata(&token) {
        Err(_) => r.ok(
            "daemon token",
            "not created yet (the first `chitin daemon` creates it, mode 0600)",
        ),
        Ok(m) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = m.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    r.fail(
                        "daemon token",
                        format!(
                            "{} is readable by others (mode {mode:o}); run `chmod 600 {}`",
                            token.display(),
                            token.display()
                        ),
                    );
                } else {
                    r.ok(
                        "daemon token",
                        format!("{} (mode {mode:o})", token.display()),
                    );
                }
            }
            #[cfg(not(unix))]
            r.ok(
                "daemon token",
                format!("{} ({} bytes)", token.display(), m.len()),
            );
        }
    }
    match DaemonClient::find(paths).await {
        Ok(Some(c)) => {
            r.ok("daemon", format!("running at http://{}/", c.addr));
            compare_provider(&mut r, &c, configured_provider.as_deref()).await;
            compare_served(&mut r, paths, &c).await;
            check_channels(&mut r, paths, &loaded.config.channels, Some(&c)).await;
        }
        _ => {
            r.warn("daemon", "not running; start it with `chitin daemon`");
            check_channels(&mut r, paths, &loaded.config.channels, None).await;
        }
    }
    if r.failed {
        println!("\nsome checks failed: fix the FAIL lines above");
        Ok(EXIT_FAILED)
    } else {
        Ok(EXIT_OK)
    }
}

/// The interpreters: installed (for the `python`/`js` tools and Agent
/// Skills' scripts) or how to install them.
fn check_interpreters(r: &mut Report, agent: &chitin::agent::Agent) {
    use chitin::interpreter::Lang;
    let Some(i) = agent.toolbox().interpreters() else {
        return;
    };
    let missing: Vec<&str> = Lang::ALL
        .into_iter()
        .filter(|l| !i.installed(*l))
        .map(Lang::name)
        .collect();
    let scripts = agent
        .toolbox()
        .agent_skills()
        .iter()
        .any(|s| s.skill.runnable().next().is_some());
    if missing.is_empty() {
        let offered = if i.settings().enabled {
            "the python and js tools are offered"
        } else {
            "[interpreter] enabled = false: the python and js tools are not offered"
        };
        r.ok(
            "interpreters",
            format!("python and js installed; {offered}"),
        );
    } else {
        let what = format!(
            "{} not installed: no code tools{}; build and install them with `scripts/build-interpreters && chitin interpreter install`",
            missing.join(" and "),
            if scripts {
                ", and Agent Skills' scripts cannot run"
            } else {
                ""
            }
        );
        if scripts {
            r.fail("interpreters", what)
        } else {
            r.warn("interpreters", what)
        }
    }
}

/// Each configured channel: its secrets set, and (with a daemon) its health.
async fn check_channels(
    r: &mut Report,
    paths: &Paths,
    section: &chitin::agent::config::ChannelsSection,
    client: Option<&DaemonClient>,
) {
    let mut needed: Vec<(&str, &str)> = Vec::new();
    if let Some(t) = &section.telegram {
        needed.push(("telegram", &t.secret));
    }
    if let Some(s) = &section.slack {
        needed.push(("slack", &s.app_secret));
        needed.push(("slack", &s.bot_secret));
    }
    if let Some(d) = &section.discord {
        needed.push(("discord", &d.secret));
    }
    for w in &section.webhooks {
        needed.push(("webhook", &w.secret));
    }
    if needed.is_empty() {
        return;
    }
    let store = paths
        .secrets()
        .ok()
        .and_then(|p| chitin::capabilities::secrets::SecretStore::open(&p).ok());
    for (what, secret) in &needed {
        if store.as_ref().and_then(|s| s.get(secret)).is_none() {
            r.fail(
                &format!("channel {what}"),
                format!("secret `{secret}` is not set; run `chitin secret set {secret}`"),
            );
        }
    }
    let Some(client) = client else {
        return;
    };
    let health = match client
        .request(http::Method::GET, "/api/channels", None)
        .await
    {
        Ok(v) => v["channels"].as_object().cloned().unwrap_or_default(),
        Err(e) => {
            r.warn(
                "channels",
                format!(
                    "cannot ask the daemon: {}",
                    chitin::text::error_chain(e.as_ref())
                ),
            );
            return;
        }
    };
    for name in section.configured() {
        let h = &health.get(name).cloned().unwrap_or_default();
        let state = h["state"]
            .as_str()
            .unwrap_or("not running (restart the daemon to start it)");
        let reason = h["reason"].as_str().map(|s| chitin::text::one_line(s, 200));
        match state {
            "connected" => r.ok(&format!("channel {name}"), "connected"),
            "starting" => r.warn(&format!("channel {name}"), "connecting"),
            _ => r.fail(
                &format!("channel {name}"),
                format!(
                    "{state}{}",
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ),
            ),
        }
    }
}

/// Each `[[provider.fallback]]`: reachable, model listed, its quirks.
async fn check_fallbacks(
    r: &mut Report,
    fallbacks: Result<
        Vec<chitin::provider::ProviderSettings>,
        chitin::agent::config::NotConfigured,
    >,
) {
    let list = match fallbacks {
        Ok(list) => list,
        Err(e) => return r.fail("fallback", e),
    };
    for (i, mut s) in list.into_iter().enumerate() {
        let name = format!("fallback {}", i + 1);
        s.timeout = s.timeout.min(Duration::from_secs(10));
        s.max_retries = 0;
        let quirks = provider_quirks(&s);
        match provider::build(s) {
            Err(e) => r.fail(&name, e),
            Ok(p) => match p.check().await {
                Ok(summary) => {
                    let extra = quirks.map(|q| format!("; quirks: {q}")).unwrap_or_default();
                    r.ok(&name, format!("{summary}{extra}"));
                }
                Err(e) => r.fail(&name, format!("{}: {e}", p.describe())),
            },
        }
    }
}

/// What Chitin changes in its requests for this model, if anything (the
/// quirks table with the config's overrides, thinking, caching).
fn provider_quirks(s: &chitin::provider::ProviderSettings) -> Option<String> {
    let changes = s.quirks().describe(s);
    (!changes.is_empty()).then(|| format!("`{}`: {}", s.model, changes.join("; ")))
}

fn joined(ids: &[chitin::capabilities::id::CapabilityId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
