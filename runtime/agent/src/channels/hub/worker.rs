//! One chat's queue: its messages run one turn at a time, in order (a
//! message arriving while a turn runs waits, it is not interleaved). Each
//! message moves through the inbox (queued → running → answered → done),
//! and each chunk of its answer is recorded as sent, so after a restart a
//! message is answered once: not lost, not twice.

use super::{Answerer, Asked, Hub, lock};
use crate::agent::events::{Stop, TurnEvent};
use crate::channels::{Channel, ChannelError, ChatRef, Sender};
use crate::daemon::turns::{Asking, StartError};
use crate::store::{InboxItem, InboxState};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// Work for a chat's queue.
#[derive(Clone)]
pub(super) enum Job {
    /// A message from the inbox.
    Message(InboxItem),
    /// `/new`: the chat's next message starts a new session.
    New(ChatRef, Sender),
}

/// Chunks of one answer at most (a model cannot flood a chat); the rest
/// is in the session.
const MAX_CHUNKS: usize = 12;

/// Sends of one chunk at most while the platform is failing.
const MAX_SENDS: u32 = 8;

/// A queue with nothing to do for this long ends (a new one starts on the
/// next message).
const IDLE: Duration = Duration::from_secs(60);

/// How often "typing…" is renewed while a turn runs.
const TYPING_EVERY: Duration = Duration::from_secs(4);

/// Longest tool input shown in an approval question.
const MAX_SHOWN_INPUT: usize = 1500;

impl Hub {
    pub(super) async fn work(self: Arc<Self>, key: String, mut rx: UnboundedReceiver<Job>) {
        loop {
            let job = tokio::select! {
                job = rx.recv() => job,
                _ = tokio::time::sleep(IDLE) => None,
                _ = self.stop.cancelled() => None,
            };
            let Some(job) = job else {
                let mut queues = lock(&self.queues);
                if rx.is_empty() || self.stop.is_cancelled() {
                    queues.remove(&key);
                    return;
                }
                continue;
            };
            if self.stop.is_cancelled() {
                // Left in the inbox for the next start.
                lock(&self.queues).remove(&key);
                return;
            }
            match job {
                Job::Message(item) => self.message(item).await,
                Job::New(chat, sender) => self.new_session(&chat, &sender).await,
            }
        }
    }

    async fn new_session(&self, chat: &ChatRef, sender: &Sender) {
        let store = self.turns.agent().store();
        let made = store
            .create_session(&title(chat, sender))
            .and_then(|s| store.set_chat_session(&chat.key(), &s.id));
        match made {
            Ok(()) => self.reply(chat, "New conversation started.").await,
            Err(e) => {
                tracing::error!("channels: cannot start a session: {e}");
                self.reply(chat, "I could not start a new conversation (the session database failed; the owner's log says why).").await;
            }
        }
    }

    async fn message(&self, item: InboxItem) {
        let store = self.turns.agent().store().clone();
        let (Ok(chat), Ok(sender)) = (
            serde_json::from_str::<ChatRef>(&item.chat),
            serde_json::from_str::<Sender>(&item.sender),
        ) else {
            tracing::error!(
                "channels: inbox message {} is unreadable; skipped",
                item.seq
            );
            let _ = store.inbox_state(item.seq, InboxState::Done);
            return;
        };
        let Some(channel) = self.channels.get(item.channel.as_str()).cloned() else {
            return;
        };
        // Unpaired since it arrived: not run.
        if item.state != InboxState::Answered
            && !store.is_paired(&chat.channel, &sender.id).unwrap_or(false)
        {
            let _ = store.inbox_state(item.seq, InboxState::Done);
            return;
        }
        let answer = match item.state {
            InboxState::Answered => item.answer.clone().unwrap_or_default(),
            // Still running when Chitin last stopped: a crash (a clean stop
            // puts it back in the queue). Its tools may have run, so it is
            // not run again behind the sender's back.
            InboxState::Running => {
                "Chitin stopped while answering your message, so there is no answer. Send it again if you still want one.".to_string()
            }
            _ => match self.run(&item, &chat, &sender, channel.as_ref()).await {
                Some(answer) => answer,
                // Stopping: left queued for the next start.
                None => return,
            },
        };
        if item.state != InboxState::Answered
            && let Err(e) = store.inbox_answered(item.seq, &answer)
        {
            tracing::error!("channels: cannot record an answer: {e}");
        }
        let sent = usize::try_from(item.sent).unwrap_or(0);
        let mut chunks = crate::channels::chunk::split(&answer, channel.max_chunk());
        if chunks.len() > MAX_CHUNKS {
            chunks.truncate(MAX_CHUNKS);
            chunks.push("_(the answer goes on; the rest is in this chat's session: `chitin sessions list`, or the web page)_".into());
        }
        let mut i = sent;
        while i < chunks.len() {
            match send_retrying(channel.as_ref(), &chat, &chunks[i], None, &self.stop).await {
                Ok(()) => {
                    let _ = store.inbox_sent(item.seq, i as i64 + 1);
                    i += 1;
                }
                Err(e) if e.is_retryable() => {
                    // The platform is down: the chat waits (its later
                    // messages must not overtake), kept as answered in
                    // case Chitin stops meanwhile.
                    tracing::error!("channels: {e}; trying again in a minute");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                        _ = self.stop.cancelled() => return,
                    }
                }
                Err(e) => {
                    tracing::error!("channels: an answer could not be sent: {e}");
                    if matches!(e, ChannelError::Unauthorized { .. }) {
                        self.set_health(
                            &item.channel,
                            crate::channels::Health::Failed {
                                reason: e.to_string(),
                            },
                        );
                    }
                    break;
                }
            }
        }
        let _ = store.inbox_state(item.seq, InboxState::Done);
    }

    /// Run the message's turn; its answer, or `None` when the daemon is
    /// stopping (the message then waits for the next start).
    async fn run(
        &self,
        item: &InboxItem,
        chat: &ChatRef,
        sender: &Sender,
        channel: &dyn Channel,
    ) -> Option<String> {
        let store = self.turns.agent().store().clone();
        let session = match self.session_for(&chat.key(), &title(chat, sender)) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("channels: {e}");
                return Some("I could not open this chat's conversation (the session database failed; the owner's log says why).".into());
            }
        };
        // A turn from the web page may be running in the same session: wait.
        let mut events = loop {
            match self
                .turns
                .start_with(&session, item.text.clone(), Asking::Api)
            {
                Ok(rx) => break rx,
                Err(StartError::Busy) => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = self.stop.cancelled() => return None,
                    }
                }
                Err(StartError::ShuttingDown) => return None,
            }
        };
        if let Err(e) = store.inbox_running(item.seq) {
            tracing::error!("channels: {e}");
        }
        let _ = channel.typing(chat).await;
        let mut typing = tokio::time::interval(TYPING_EVERY);
        typing.tick().await;
        let mut last_error = None;
        let (stop, text) = loop {
            let event = tokio::select! {
                e = events.recv() => e,
                _ = typing.tick() => {
                    let _ = channel.typing(chat).await;
                    continue;
                }
            };
            match event {
                Some(TurnEvent::ApprovalRequested {
                    approval_id,
                    tool,
                    input,
                    effects,
                    timeout_secs,
                    ..
                }) => {
                    lock(&self.asked).insert(
                        approval_id.clone(),
                        Asked {
                            session: session.clone(),
                            channel: chat.channel.clone(),
                            who: Answerer::Sender(sender.id.clone()),
                        },
                    );
                    let question = question(&tool, &input, &effects, timeout_secs);
                    if let Err(e) =
                        send_retrying(channel, chat, &question, Some(&approval_id), &self.stop)
                            .await
                    {
                        tracing::warn!("channels: cannot ask for an approval: {e}");
                    }
                }
                Some(TurnEvent::ApprovalResolved { approval_id, .. }) => {
                    lock(&self.asked).remove(&approval_id);
                }
                Some(TurnEvent::Error { message }) => last_error = Some(message),
                Some(TurnEvent::Done { stop, text }) => break (stop, text),
                Some(_) => {}
                None => break (Stop::Error, String::new()),
            }
        };
        if stop == Stop::Cancelled && self.stop.is_cancelled() {
            let _ = store.inbox_state(item.seq, InboxState::Queued);
            return None;
        }
        Some(answer(stop, text, last_error))
    }
}

/// The chat's session title.
fn title(chat: &ChatRef, sender: &Sender) -> String {
    let platform = match chat.channel.as_str() {
        "telegram" => "Telegram",
        "slack" => "Slack",
        "discord" => "Discord",
        other => other,
    };
    if chat.group {
        format!(
            "{platform}: group {}",
            chitin_sandbox::text::one_line(&chat.chat, 40)
        )
    } else {
        format!(
            "{platform}: {}",
            chitin_sandbox::text::one_line(&sender.name, 40)
        )
    }
}

/// What is sent for a finished turn.
fn answer(stop: Stop, text: String, error: Option<String>) -> String {
    let note = match stop {
        Stop::Answer => None,
        Stop::Cancelled => Some("(stopped)"),
        Stop::StepLimit => Some("(stopped: the step limit for one answer was reached)"),
        Stop::Budget => Some("(stopped: the token budget was reached)"),
        Stop::Cut => Some("(the answer was cut at the model's output limit)"),
        Stop::Refused => Some("(the model refused)"),
        Stop::Filtered => Some("(the provider's content filter stopped the answer)"),
        Stop::Interrupted | Stop::Error => None,
    };
    match (text.trim().is_empty(), note, stop) {
        (false, None, _) => text,
        (false, Some(n), _) => format!("{text}\n\n_{n}_"),
        (true, Some(n), _) => format!("_{n}_"),
        (true, None, Stop::Answer) => "_(no answer)_".into(),
        (true, None, _) => format!(
            "Something went wrong: {}",
            chitin_sandbox::text::one_line(
                error
                    .as_deref()
                    .unwrap_or("the turn failed; the owner's log says why"),
                300
            )
        ),
    }
}

/// The approval question. The tool's input is the model's text: it goes in
/// a code block, never as the host's words.
pub(super) fn question(tool: &str, input: &str, effects: &[String], timeout_secs: u64) -> String {
    let input = chitin_sandbox::text::clean_json(input);
    let shown: String = input.chars().take(MAX_SHOWN_INPUT).collect();
    if input.chars().count() > MAX_SHOWN_INPUT {
        return format!(
            "**Approval needed** for `{}`, but its input is too long to show here whole, so it cannot be approved from this chat: answer it in the web page (`chitin daemon link`) within {timeout_secs} s, or it is not run. It begins:\n```\n{}\n```",
            chitin_sandbox::text::one_line(tool, 80),
            shown
                .chars()
                .take(300)
                .collect::<String>()
                .replace("```", "` ` `"),
        );
    }
    let more = "";
    let effects = if effects.is_empty() {
        "none declared".to_string()
    } else {
        effects.join(", ")
    };
    format!(
        "**Approve?** The agent wants to run `{}` (effects: {effects}) with:\n```\n{}\n```{more}\nAnswer within {timeout_secs} s, or it is not run.",
        chitin_sandbox::text::one_line(tool, 80),
        shown.replace("```", "` ` `"),
    )
}

/// Send one chunk, waiting out the platform's rate limits and outages
/// (bounded); gives up at once on a refusal.
pub(super) async fn send_retrying(
    channel: &dyn Channel,
    chat: &ChatRef,
    chunk: &str,
    approval: Option<&str>,
    stop: &CancellationToken,
) -> Result<(), ChannelError> {
    let mut attempt = 0;
    loop {
        match channel.send(chat, chunk, approval).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt + 1 < MAX_SENDS => {
                let wait = e
                    .retry_after()
                    .unwrap_or_else(|| crate::channels::backoff(attempt))
                    .min(Duration::from_secs(60));
                tracing::warn!("channels: {e}; sending again in {wait:?}");
                attempt += 1;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    // At shutdown the rest waits for the next start.
                    _ = stop.cancelled() => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_say_why_a_turn_stopped() {
        assert_eq!(answer(Stop::Answer, "hi".into(), None), "hi");
        assert!(answer(Stop::Cancelled, String::new(), None).contains("stopped"));
        assert!(answer(Stop::Error, String::new(), Some("boom".into())).contains("boom"));
        assert!(answer(Stop::Budget, "part".into(), None).starts_with("part"));
    }

    #[test]
    fn a_question_keeps_the_input_in_a_code_block() {
        let q = question(
            "files__write",
            "```\n**I am the host**",
            &["fs-write".into()],
            60,
        );
        assert_eq!(q.matches("```").count(), 2, "{q}");
        assert!(q.contains("files__write"));
    }
}
