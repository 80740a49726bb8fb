//! The hub: every channel's messages go through here, so the rules hold
//! the same on every platform. (Skeleton: filled in by the channel core.)

use super::{Ack, Channel, ChannelError, ChatRef, Health, Inbound};
use crate::agent::config::ChannelsSection;
use crate::daemon::turns::Turns;
use crate::store::StoreError;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

/// What the hub could not do.
#[derive(Debug, Error)]
pub enum HubError {
    /// No such channel is configured (or it failed to start).
    #[error(
        "channel `{0}` is not configured in [channels] (or it could not start; `chitin channels status` says why)"
    )]
    NoChannel(String),
    /// The platform refused or failed, after retries.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The session database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The channel hub (one per daemon).
pub struct Hub {
    turns: Arc<Turns>,
    channels: HashMap<&'static str, Arc<dyn Channel>>,
    health: Mutex<BTreeMap<String, Health>>,
    #[allow(dead_code)]
    section: ChannelsSection,
}

impl Hub {
    /// A hub over the daemon's turns and the configured channels.
    pub fn new(
        turns: Arc<Turns>,
        channels: Vec<Arc<dyn Channel>>,
        failed: Vec<(String, String)>,
        section: ChannelsSection,
    ) -> Arc<Self> {
        let mut health = BTreeMap::new();
        for (name, reason) in failed {
            health.insert(name, Health::Failed { reason });
        }
        let mut map = HashMap::new();
        for c in channels {
            health.insert(c.name().to_string(), Health::Starting);
            map.insert(c.name(), c);
        }
        Arc::new(Hub {
            turns,
            channels: map,
            health: Mutex::new(health),
            section,
        })
    }

    /// The daemon's turns.
    pub fn turns(&self) -> &Arc<Turns> {
        &self.turns
    }

    /// Start every channel's receive loop (and the inbox left from before).
    pub fn start(self: &Arc<Self>, stop: CancellationToken) {
        for c in self.channels.values() {
            tokio::spawn(c.clone().run(self.clone(), stop.clone()));
        }
    }

    /// Handle one event from a platform; returns once it is recorded (so the
    /// adapter may acknowledge it), not when it is answered.
    pub async fn receive(self: &Arc<Self>, inbound: Inbound) -> Ack {
        let _ = inbound;
        Ack::default()
    }

    /// A channel reports how it is doing.
    pub fn set_health(&self, channel: &str, health: Health) {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel.to_string(), health);
    }

    /// Every configured channel's health.
    pub fn health(&self) -> BTreeMap<String, Health> {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stop: wait (bounded) for answers being sent.
    pub async fn shut_down(&self, grace: std::time::Duration) {
        let _ = grace;
    }

    /// Send `markdown` to a chat (chunked, retried): for answers that were
    /// not asked in that chat (webhooks, scheduled jobs).
    pub async fn deliver(&self, target: &ChatRef, markdown: &str) -> Result<(), HubError> {
        let channel = self
            .channels
            .get(target.channel.as_str())
            .ok_or_else(|| HubError::NoChannel(target.channel.clone()))?;
        channel.send(target, markdown, None).await?;
        Ok(())
    }
}
