//! The hub: every channel's events go through here, so the rules hold the
//! same on every platform. Nobody is served unless the owner paired them
//! ([`pairing`]); groups only when allowed and the bot is mentioned; each
//! sender is rate limited; a button is answered only by the paired sender
//! whose message started the turn. Accepted messages go to the durable
//! inbox first and then to their chat's queue ([`worker`]), one turn at a
//! time per chat.

mod ask;
pub mod pairing;
mod worker;

use super::rate::Limiter;
use super::{Ack, Channel, ChannelError, ChatRef, Event, Health, Inbound, Sender};
use crate::agent::config::ChannelsSection;
use crate::daemon::turns::Turns;
use crate::store::StoreError;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use thiserror::Error;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

/// An approval asked in a chat: who may answer it.
struct Asked {
    session: String,
    channel: String,
    who: Answerer,
}

/// Who may press an approval's buttons (always a paired sender).
enum Answerer {
    /// The sender whose message started the turn.
    Sender(String),
    /// A job's question: a paired sender pressing in the chat it was sent
    /// to (in a direct chat, the one person in it; on Slack and Discord a
    /// direct chat's id is not its user's). A paired sender can already
    /// have any tool approved in their own turns, so this grants nothing.
    InChat(String),
}

/// The channel hub (one per daemon).
pub struct Hub {
    turns: Arc<Turns>,
    channels: HashMap<&'static str, Arc<dyn Channel>>,
    groups: HashMap<String, HashSet<String>>,
    health: Mutex<BTreeMap<String, Health>>,
    limiter: Limiter,
    queues: Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<worker::Job>>>,
    asked: Mutex<HashMap<String, Asked>>,
    tracker: TaskTracker,
    stop: CancellationToken,
    replies: Arc<tokio::sync::Semaphore>,
}

/// Hub replies (pairing codes, command answers) in flight at most.
const MAX_REPLIES: usize = 64;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The commands every channel understands.
const HELP: &str = "Commands: /new starts a new conversation, /stop stops the running answer, /status shows where things are.";

impl Hub {
    /// A hub over the daemon's turns and the configured channels
    /// (`failed`: the configured ones that cannot start, with why).
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
        let mut groups = HashMap::new();
        let listed = |g: &[String]| g.iter().cloned().collect::<HashSet<_>>();
        if let Some(t) = &section.telegram {
            groups.insert("telegram".to_string(), listed(&t.groups));
        }
        if let Some(s) = &section.slack {
            groups.insert("slack".to_string(), listed(&s.groups));
        }
        if let Some(d) = &section.discord {
            groups.insert("discord".to_string(), listed(&d.groups));
        }
        Arc::new(Hub {
            turns,
            channels: map,
            groups,
            health: Mutex::new(health),
            limiter: Limiter::new(section.rate()),
            queues: Mutex::default(),
            asked: Mutex::default(),
            tracker: TaskTracker::new(),
            stop: CancellationToken::new(),
            replies: Arc::new(tokio::sync::Semaphore::new(MAX_REPLIES)),
        })
    }

    /// The daemon's turns.
    pub fn turns(&self) -> &Arc<Turns> {
        &self.turns
    }

    /// Start every channel's receive loop, and finish what the inbox holds
    /// from before a restart.
    pub fn start(self: &Arc<Self>, stop: CancellationToken) {
        match self.turns.agent().store().inbox_open() {
            Ok(items) => {
                if !items.is_empty() {
                    tracing::info!(
                        "channels: {} message(s) left from before the restart",
                        items.len()
                    );
                }
                for item in items {
                    if self.channels.contains_key(item.channel.as_str()) {
                        self.enqueue(&item.chat_key.clone(), worker::Job::Message(item));
                    }
                }
            }
            Err(e) => tracing::error!("channels: cannot read the inbox: {e}"),
        }
        for c in self.channels.values() {
            self.tracker
                .spawn(c.clone().run(self.clone(), stop.clone()));
        }
        // When receiving stops, the queues stop taking new work too: a turn
        // cancelled by the shutdown waits in the inbox for the next start.
        let me = self.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            me.stop.cancel();
        });
    }

    /// Handle one event from a platform; returns once it is recorded (so the
    /// adapter may acknowledge it), not when it is answered.
    pub async fn receive(self: &Arc<Self>, inbound: Inbound) -> Ack {
        match self.handle(inbound).await {
            Ok(ack) => ack,
            Err(e) => {
                tracing::error!("channels: {e}");
                Ack::default()
            }
        }
    }

    async fn handle(self: &Arc<Self>, inbound: Inbound) -> Result<Ack, HubError> {
        let Inbound {
            chat,
            sender,
            id,
            event,
        } = inbound;
        if !self.channels.contains_key(chat.channel.as_str()) {
            return Ok(Ack::default());
        }
        let store = self.turns.agent().store().clone();
        if let Event::Button {
            approval_id,
            approve,
        } = &event
        {
            // Unpaired since the question was asked: no longer the owner's.
            if !store.is_paired(&chat.channel, &sender.id)? {
                return Ok(Ack {
                    notice: Some("Only the person who asked can answer this.".into()),
                    resolved: false,
                });
            }
            return Ok(self.button(&chat, &sender, approval_id, *approve));
        }
        let (text, mentioned) = match &event {
            Event::Message { text, mentioned } => (text.clone(), *mentioned),
            Event::Command { name, args } => (format!("/{name} {args}"), true),
            Event::Button { .. } => return Ok(Ack::default()),
        };
        if chat.group {
            let allowed = self
                .groups
                .get(&chat.channel)
                .is_some_and(|g| g.contains(&chat.chat));
            if !allowed || !mentioned {
                return Ok(Ack::default());
            }
        }
        if self
            .limiter
            .take(&format!("{}:{}", chat.channel, sender.id))
            .is_err()
        {
            tracing::warn!(channel = %chat.channel, "a sender is over the rate limit; message dropped");
            return Ok(Ack {
                notice: Some("Too many messages; wait a minute and try again.".into()),
                resolved: false,
            });
        }
        let text = cap(&text);
        let command = command(&text);
        let paired = store.is_paired(&chat.channel, &sender.id)?;
        // What is answered without a turn is recorded too, so a redelivery
        // (after a restart) is not answered again, nor taken as a message
        // once its sender is paired.
        if (command.is_some() || !paired) && !store.inbox_seen(&chat.channel, &id)? {
            return Ok(Ack::default());
        }
        if !paired {
            let reply = if chat.group {
                "I only answer people my owner has paired with me; send me a direct message to get a pairing code.".to_string()
            } else {
                let chat_json = serde_json::to_string(&chat).unwrap_or_default();
                let code =
                    pairing::code_for(&store, &chat.channel, &sender.id, &sender.name, &chat_json)?;
                tracing::info!(channel = %chat.channel, "an unknown sender asked to be paired");
                pairing::pairing_message(code.as_deref())
            };
            self.reply_later(&chat, reply);
            return Ok(Ack::default());
        }
        if let Some(command) = command {
            return self.command(&chat, &sender, command).await;
        }
        let chat_json = serde_json::to_string(&chat).unwrap_or_default();
        let sender_json = serde_json::to_string(&sender).unwrap_or_default();
        let Some(seq) = store.inbox_add(
            &chat.channel,
            &id,
            &chat.key(),
            &chat_json,
            &sender_json,
            &text,
        )?
        else {
            tracing::info!(channel = %chat.channel, "a redelivered message was dropped");
            return Ok(Ack::default());
        };
        let item = crate::store::InboxItem {
            seq,
            channel: chat.channel.clone(),
            chat_key: chat.key(),
            chat: chat_json,
            sender: sender_json,
            text,
            state: crate::store::InboxState::Queued,
            attempts: 0,
            answer: None,
            sent: 0,
        };
        self.enqueue(&chat.key(), worker::Job::Message(item));
        Ok(Ack::default())
    }

    fn button(&self, chat: &ChatRef, sender: &Sender, approval_id: &str, approve: bool) -> Ack {
        let mut asked = lock(&self.asked);
        let Some(a) = asked.get(approval_id) else {
            return Ack {
                notice: Some("This question is no longer open.".into()),
                resolved: true,
            };
        };
        let allowed = a.channel == chat.channel
            && match &a.who {
                Answerer::Sender(id) => *id == sender.id,
                Answerer::InChat(id) => *id == chat.chat,
            };
        if !allowed {
            tracing::warn!(channel = %chat.channel, "an approval button was pressed by someone other than the sender who asked; refused");
            return Ack {
                notice: Some("Only the person who asked can answer this.".into()),
                resolved: false,
            };
        }
        let answered = self.turns.answer(&a.session, approval_id, approve);
        asked.remove(approval_id);
        Ack {
            notice: Some(match (answered, approve) {
                (false, _) => "This question is no longer open.".into(),
                (true, true) => "Approved.".into(),
                (true, false) => "Denied.".into(),
            }),
            resolved: true,
        }
    }

    async fn command(
        self: &Arc<Self>,
        chat: &ChatRef,
        sender: &Sender,
        command: &str,
    ) -> Result<Ack, HubError> {
        let store = self.turns.agent().store().clone();
        let session = store.chat_session(&chat.key())?;
        let reply = match command {
            "stop" => match &session {
                Some(s) if self.turns.cancel(s) => "Stopping.".to_string(),
                _ => "Nothing is running.".to_string(),
            },
            "new" => {
                // After what is queued, so the order holds.
                self.enqueue(&chat.key(), worker::Job::New(chat.clone(), sender.clone()));
                return Ok(Ack::default());
            }
            "status" => {
                let queued = store.inbox_waiting(&chat.key())?;
                let model = match self.turns.agent().provider() {
                    Ok(p) => p.describe(),
                    Err(_) => "no provider configured".into(),
                };
                match &session {
                    Some(s) => format!(
                        "Session `{s}`: {}. Messages waiting: {queued}. Model: {model}.",
                        if self.turns.is_running(s) {
                            "answering"
                        } else {
                            "idle"
                        },
                    ),
                    None => format!("No conversation yet. Model: {model}."),
                }
            }
            _ => format!("Hello! Send me a message. {HELP}"),
        };
        self.reply_later(chat, reply);
        Ok(Ack::default())
    }

    /// Send a short message from the hub without holding up the channel's
    /// receive loop (the platform may be slow or failing).
    fn reply_later(self: &Arc<Self>, chat: &ChatRef, text: String) {
        // Bounded: a flood of strangers cannot pile up tasks.
        let Ok(permit) = self.replies.clone().try_acquire_owned() else {
            tracing::warn!(channel = %chat.channel, "too many replies in flight; one was dropped");
            return;
        };
        let me = self.clone();
        let chat = chat.clone();
        self.tracker.spawn(async move {
            let _permit = permit;
            me.reply(&chat, &text).await
        });
    }

    /// Take no new work (called at shutdown before turns are cancelled, so
    /// a turn the shutdown cancels waits in the inbox for the next start).
    pub fn stop_taking(&self) {
        self.stop.cancel();
    }

    /// Send a short message from the hub (best effort, retried).
    async fn reply(&self, chat: &ChatRef, text: &str) {
        if let Err(e) = self.deliver(chat, text).await {
            tracing::warn!(channel = %chat.channel, "cannot send a reply: {e}");
        }
    }

    fn enqueue(self: &Arc<Self>, chat_key: &str, job: worker::Job) {
        let mut queues = lock(&self.queues);
        if let Some(tx) = queues.get(chat_key)
            && tx.send(job.clone()).is_ok()
        {
            return;
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let _ = tx.send(job);
        queues.insert(chat_key.to_string(), tx);
        let me = self.clone();
        let key = chat_key.to_string();
        self.tracker.spawn(async move { me.work(key, rx).await });
    }

    /// A channel reports how it is doing.
    pub fn set_health(&self, channel: &str, health: Health) {
        lock(&self.health).insert(channel.to_string(), health);
    }

    /// Every configured channel's health.
    pub fn health(&self) -> BTreeMap<String, Health> {
        lock(&self.health).clone()
    }

    /// Stop: no new work is taken; wait (bounded) for answers being sent.
    pub async fn shut_down(&self, grace: Duration) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "channels: some chats were still busy at shutdown; their messages are kept for the next start"
            );
        }
    }

    /// Send `markdown` to a chat (chunked, retried): also for answers that
    /// were not asked in that chat (webhooks, scheduled jobs).
    pub async fn deliver(&self, target: &ChatRef, markdown: &str) -> Result<(), HubError> {
        let channel = self
            .channels
            .get(target.channel.as_str())
            .ok_or_else(|| HubError::NoChannel(target.channel.clone()))?;
        for chunk in super::chunk::split(markdown, channel.max_chunk()) {
            worker::send_retrying(channel.as_ref(), target, &chunk, None, &self.stop).await?;
        }
        Ok(())
    }

    /// The session that `key` (a chat, a webhook) talks in, made with
    /// `title` when it has none yet.
    pub fn session_for(&self, key: &str, title: &str) -> Result<String, HubError> {
        let store = self.turns.agent().store();
        if let Some(s) = store.chat_session(key)? {
            return Ok(s);
        }
        let s = store.create_session(title)?;
        store.set_chat_session(key, &s.id)?;
        Ok(s.id)
    }
}

/// The command in `text` (`/stop`, `/stop@bot`), lower-cased.
fn command(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('/')?;
    let word = rest.split_whitespace().next()?;
    let name = word.split('@').next().unwrap_or(word);
    // Anything else starting with `/` (a path, say) is a message.
    matches!(name, "new" | "stop" | "status" | "start" | "help").then_some(name)
}

/// Inbound text, capped (the sender is told it was cut).
fn cap(text: &str) -> String {
    if text.chars().count() <= super::MAX_INBOUND_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(super::MAX_INBOUND_CHARS).collect();
    cut.push_str("\n\n[the message was cut here: it was too long]");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(command("/stop"), Some("stop"));
        assert_eq!(command("  /new@chitin_bot please"), Some("new"));
        assert_eq!(command("hello /stop"), None);
        assert_eq!(command("/"), None);
        assert_eq!(command("/../etc"), None);
        assert_eq!(command("/usr/bin is where"), None);
    }

    #[test]
    fn long_text_is_capped() {
        let t = "a".repeat(super::super::MAX_INBOUND_CHARS + 10);
        assert!(cap(&t).ends_with("too long]"));
    }
}
