//! `chitin doctor`: checks the configuration, the provider connection, the
//! installed skills and the daemon's exposure, and says what to fix.

use super::client::DaemonClient;
use super::setup::{self, ProviderFlags};
use super::{EXIT_FAILED, EXIT_OK, Paths};
use chitin::provider;
use std::time::Duration;

struct Report {
    failed: bool,
}

impl Report {
    fn ok(&self, what: &str, detail: impl std::fmt::Display) {
        println!("ok    {what}: {detail}");
    }
    fn warn(&self, what: &str, detail: impl std::fmt::Display) {
        println!("warn  {what}: {detail}");
    }
    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failed = true;
        println!("FAIL  {what}: {detail}");
    }
}

/// Run the checks; exit 1 if any failed.
pub async fn run(paths: &Paths, flags: ProviderFlags) -> anyhow::Result<u8> {
    let mut r = Report { failed: false };
    let dirs = paths.dirs()?;
    let loaded = match setup::load_config(paths, &flags) {
        Ok(l) => {
            r.ok("config", l.path.display());
            l
        }
        Err(e) => {
            r.fail("config", format!("{e:#}"));
            return Ok(EXIT_FAILED);
        }
    };

    match setup::provider_settings(paths, &loaded) {
        Err(e) => r.fail("provider", e),
        Ok(mut s) => {
            let key = if s.api_key.is_some() {
                "API key set"
            } else {
                "no API key (fine for local servers)"
            };
            s.timeout = s.timeout.min(Duration::from_secs(10));
            s.max_retries = 0;
            match provider::build(s) {
                Err(e) => r.fail("provider", e),
                Ok(p) => match p.check().await {
                    Ok(summary) => r.ok("provider", format!("{summary}; {key}")),
                    Err(e) => r.fail("provider", format!("{}: {e}", p.describe())),
                },
            }
        }
    }

    match setup::build_agent(paths, &loaded) {
        Err(e) => r.fail("skills", format!("{e:#}")),
        Ok((agent, problems)) => {
            let n = agent.toolbox().skill_count();
            if n == 0 && problems.is_empty() {
                r.warn("skills", "none installed: the agent has no tools; install one with `chitin skill install <package>`");
            } else {
                r.ok(
                    "skills",
                    format!("{n} loaded, {} tools", agent.toolbox().entries().count()),
                );
            }
            for p in problems {
                r.fail("skills", p);
            }
            r.ok("sessions", agent.store().path().display());
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
        Ok(Some(c)) => r.ok("daemon", format!("running at http://{}/", c.addr)),
        _ => r.warn("daemon", "not running; start it with `chitin daemon`"),
    }
    if r.failed {
        println!("\nsome checks failed: fix the FAIL lines above");
        Ok(EXIT_FAILED)
    } else {
        Ok(EXIT_OK)
    }
}
