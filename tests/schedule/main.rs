//! Scheduled jobs and the heartbeat, driven by a fake clock: the runner
//! (`chitin::schedule::Runner`) over real turns against a scripted model,
//! delivering through the real channel hub to a fake Telegram server on
//! 127.0.0.1; and `chitin cron` through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod deliver;
mod fires;

use chitin::agent::config::Config;
use chitin::channels::Hub;
use chitin::daemon::turns::Turns;
use chitin::provider::ProviderKind;
use chitin::schedule::job::{NewJob, make};
use chitin::schedule::{FakeClock, Runner, Spec};
use std::path::Path;
use std::sync::Arc;
use support::agent::Home;
use support::model::ModelServer;
use support::telegram::FakeTelegram;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "123456:ABC-test-token-never-logged";

/// Milliseconds of an RFC 3339 time.
pub fn ms(s: &str) -> i64 {
    match Spec::at(s, 0).unwrap() {
        Spec::At(t) => t,
        other => panic!("{other:?}"),
    }
}

/// A Chitin home without skills (these tests need none, so the wasm
/// skills are not built).
pub fn home() -> Home {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let workspace = tmp.path().join("ws");
    std::fs::create_dir_all(&workspace).unwrap();
    Home {
        problems: Default::default(),
        tmp,
        home,
        workspace,
    }
}

/// The daemon's pieces for one test: turns over an in-process agent, an
/// optional hub with fake Telegram, a fake clock at `start`.
pub struct Rig {
    pub home: Home,
    pub turns: Arc<Turns>,
    pub hub: Option<Arc<Hub>>,
    pub clock: Arc<FakeClock>,
    pub fake: Option<FakeTelegram>,
}

impl Rig {
    pub fn new(model: &ModelServer, agent_toml: &str, telegram: bool, start: &str) -> Rig {
        let home = home();
        let agent = home.agent(ProviderKind::Openai, model, agent_toml);
        let turns = Arc::new(Turns::new(agent, CancellationToken::new()));
        let (hub, fake) = if telegram {
            let fake = FakeTelegram::start(TOKEN);
            home.set_secret("TELEGRAM_BOT_TOKEN", TOKEN);
            let section = Config::parse(
                &format!("[channels.telegram]\napi_url = \"{}\"\n", fake.base),
                Path::new("c.toml"),
            )
            .unwrap()
            .channels;
            let (adapters, failed) =
                chitin::channels::build(&section, &home.home.join("config/secrets.json"));
            assert!(failed.is_empty(), "{failed:?}");
            let hub = Hub::new(turns.clone(), adapters, failed, section);
            (Some(hub), Some(fake))
        } else {
            (None, None)
        };
        Rig {
            home,
            turns,
            hub,
            clock: Arc::new(FakeClock::at(ms(start))),
            fake,
        }
    }

    pub fn runner(&self) -> Runner {
        Runner::new(self.turns.clone(), self.hub.clone(), self.clock.clone())
    }

    /// Add a job as `chitin cron add` would, first due after the clock's now.
    pub fn add(&self, name: &str, spec: &Spec, deliver: &str, approvals: &str, missed: &str) {
        let job = make(
            &NewJob {
                name,
                spec,
                prompt: &format!("run {name}"),
                deliver: Some(deliver),
                approvals,
                missed,
                max_tokens: None,
                max_usd: None,
            },
            chitin::schedule::Clock::now_ms(self.clock.as_ref()),
        )
        .unwrap();
        assert!(self.turns.agent().store().add_job(&job).unwrap());
    }
}
