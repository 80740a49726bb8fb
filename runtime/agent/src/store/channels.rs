//! What the channels keep: which session each chat talks in, who the owner
//! paired, the pending pairing codes, and the inbox — every accepted
//! message from its arrival to its last sent chunk, so a restart neither
//! loses one nor answers one twice.

use super::{Store, StoreError, now_ms};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// The channels' tables (part of the schema).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS channel_chats (
    chat_key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_pairings (
    channel TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    name TEXT NOT NULL,
    paired_ms INTEGER NOT NULL,
    PRIMARY KEY (channel, sender_id)
);
CREATE TABLE IF NOT EXISTS channel_codes (
    code TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    sender_id TEXT NOT NULL,
    name TEXT NOT NULL,
    chat TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    event_id TEXT NOT NULL,
    chat_key TEXT NOT NULL,
    chat TEXT NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    answer TEXT,
    sent INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    UNIQUE (channel, event_id)
);
CREATE INDEX IF NOT EXISTS channel_inbox_open ON channel_inbox(state, seq);
";

/// A paired sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pairing {
    /// The channel.
    pub channel: String,
    /// The platform's user id.
    pub sender_id: String,
    /// Display name when paired (hostile text).
    pub name: String,
    /// When, ms since the epoch.
    pub paired_ms: i64,
}

/// A pairing code waiting for the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PairingCode {
    /// The code (`XXXX-XXXX`).
    pub code: String,
    /// The channel.
    pub channel: String,
    /// Who asked.
    pub sender_id: String,
    /// Their display name (hostile text).
    pub name: String,
    /// The chat it came from (JSON of a `ChatRef`).
    pub chat: String,
    /// Expiry, ms since the epoch.
    pub expires_ms: i64,
}

/// Where an inbox message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxState {
    /// Accepted, waiting for its turn.
    Queued,
    /// Its turn is running.
    Running,
    /// Answered; chunks are being sent (`sent` of them so far).
    Answered,
    /// Every chunk sent (or given up on).
    Done,
}

impl InboxState {
    fn as_str(self) -> &'static str {
        match self {
            InboxState::Queued => "queued",
            InboxState::Running => "running",
            InboxState::Answered => "answered",
            InboxState::Done => "done",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "queued" => InboxState::Queued,
            "running" => InboxState::Running,
            "answered" => InboxState::Answered,
            _ => InboxState::Done,
        }
    }
}

/// A message in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    /// Its row.
    pub seq: i64,
    /// The channel.
    pub channel: String,
    /// The chat's key.
    pub chat_key: String,
    /// The chat (JSON of a `ChatRef`).
    pub chat: String,
    /// The sender (JSON of a `Sender`).
    pub sender: String,
    /// The message.
    pub text: String,
    /// Where it is.
    pub state: InboxState,
    /// Turns started for it.
    pub attempts: i64,
    /// The answer, once there is one.
    pub answer: Option<String>,
    /// Chunks of the answer already sent.
    pub sent: i64,
}

/// Finished inbox rows kept (for deduplicating redeliveries) per channel.
const KEEP_DONE: i64 = 10_000;

impl Store {
    /// The session a chat talks in, if it has one.
    pub fn chat_session(&self, chat_key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT c.session_id FROM channel_chats c JOIN sessions s ON s.id = c.session_id WHERE c.chat_key = ?1",
                params![chat_key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Make `session_id` the chat's session.
    pub fn set_chat_session(&self, chat_key: &str, session_id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO channel_chats(chat_key, session_id, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(chat_key) DO UPDATE SET session_id = ?2, updated_ms = ?3",
                params![chat_key, session_id, now_ms()],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Whether the sender is paired on the channel.
    pub fn is_paired(&self, channel: &str, sender_id: &str) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT 1 FROM channel_pairings WHERE channel = ?1 AND sender_id = ?2",
                params![channel, sender_id],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.sql(e))
    }

    /// Every pairing, by channel then time.
    pub fn pairings(&self) -> Result<Vec<Pairing>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT channel, sender_id, name, paired_ms FROM channel_pairings ORDER BY channel, paired_ms")
            .map_err(|e| self.sql(e))?;
        st.query_map([], |r| {
            Ok(Pairing {
                channel: r.get(0)?,
                sender_id: r.get(1)?,
                name: r.get(2)?,
                paired_ms: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.sql(e))
    }

    /// Remove a pairing; false if there was none.
    pub fn unpair(&self, channel: &str, sender_id: &str) -> Result<bool, StoreError> {
        self.conn()
            .execute(
                "DELETE FROM channel_pairings WHERE channel = ?1 AND sender_id = ?2",
                params![channel, sender_id],
            )
            .map(|n| n > 0)
            .map_err(|e| self.sql(e))
    }

    /// The live code a sender already has, if any.
    pub fn code_for(&self, channel: &str, sender_id: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT code FROM channel_codes WHERE channel = ?1 AND sender_id = ?2 AND expires_ms > ?3",
                params![channel, sender_id, now_ms()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// File a new pairing code (expired ones are dropped); false when the
    /// channel already has `max_live` live codes: strangers cannot push out
    /// a code the owner is about to redeem.
    pub fn add_code(&self, code: &PairingCode, max_live: i64) -> Result<bool, StoreError> {
        let conn = self.conn();
        let now = now_ms();
        let run = || -> rusqlite::Result<bool> {
            conn.execute(
                "DELETE FROM channel_codes WHERE expires_ms <= ?1",
                params![now],
            )?;
            let live: i64 = conn.query_row(
                "SELECT COUNT(*) FROM channel_codes WHERE channel = ?1",
                params![code.channel],
                |r| r.get(0),
            )?;
            if live >= max_live {
                return Ok(false);
            }
            conn.execute(
                "INSERT OR REPLACE INTO channel_codes(code, channel, sender_id, name, chat, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![code.code, code.channel, code.sender_id, code.name, code.chat, code.expires_ms],
            )?;
            Ok(true)
        };
        run().map_err(|e| self.sql(e))
    }

    /// Messages of a chat not yet answered.
    pub fn inbox_waiting(&self, chat_key: &str) -> Result<i64, StoreError> {
        self.conn()
            .query_row(
                "SELECT COUNT(*) FROM channel_inbox WHERE chat_key = ?1 AND state != 'done'",
                params![chat_key],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))
    }

    /// The live pairing codes.
    pub fn codes(&self) -> Result<Vec<PairingCode>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT code, channel, sender_id, name, chat, expires_ms FROM channel_codes WHERE expires_ms > ?1 ORDER BY expires_ms")
            .map_err(|e| self.sql(e))?;
        st.query_map(params![now_ms()], |r| {
            Ok(PairingCode {
                code: r.get(0)?,
                channel: r.get(1)?,
                sender_id: r.get(2)?,
                name: r.get(3)?,
                chat: r.get(4)?,
                expires_ms: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.sql(e))
    }

    /// Redeem a live code: the sender is paired and the code is gone.
    /// `None` when no live code matches.
    pub fn redeem_code(&self, code: &str) -> Result<Option<PairingCode>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        let found: Option<PairingCode> = tx
            .query_row(
                "SELECT code, channel, sender_id, name, chat, expires_ms FROM channel_codes WHERE code = ?1 AND expires_ms > ?2",
                params![code, now_ms()],
                |r| {
                    Ok(PairingCode {
                        code: r.get(0)?,
                        channel: r.get(1)?,
                        sender_id: r.get(2)?,
                        name: r.get(3)?,
                        chat: r.get(4)?,
                        expires_ms: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let Some(found) = found else {
            return Ok(None);
        };
        tx.execute(
            "INSERT OR REPLACE INTO channel_pairings(channel, sender_id, name, paired_ms) VALUES (?1, ?2, ?3, ?4)",
            params![found.channel, found.sender_id, found.name, now_ms()],
        )
        .map_err(|e| self.sql(e))?;
        tx.execute(
            "DELETE FROM channel_codes WHERE channel = ?1 AND sender_id = ?2",
            params![found.channel, found.sender_id],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(Some(found))
    }

    /// Accept a message into the inbox; `None` when the channel delivered
    /// this event before (a redelivery: dropped).
    pub fn inbox_add(
        &self,
        channel: &str,
        event_id: &str,
        chat_key: &str,
        chat: &str,
        sender: &str,
        text: &str,
    ) -> Result<Option<i64>, StoreError> {
        let conn = self.conn();
        let added = conn
            .execute(
                "INSERT OR IGNORE INTO channel_inbox(channel, event_id, chat_key, chat, sender, text, state, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7)",
                params![channel, event_id, chat_key, chat, sender, text, now_ms()],
            )
            .map_err(|e| self.sql(e))?;
        if added == 0 {
            return Ok(None);
        }
        let seq = conn.last_insert_rowid();
        // Keep the dedupe window bounded.
        conn.execute(
            "DELETE FROM channel_inbox WHERE channel = ?1 AND state = 'done' AND seq <= ?2 - ?3",
            params![channel, seq, KEEP_DONE],
        )
        .map_err(|e| self.sql(e))?;
        Ok(Some(seq))
    }

    /// Record an event the hub handled without a turn (a pairing reply, a
    /// command); false when it was seen before (a redelivery: dropped).
    pub fn inbox_seen(&self, channel: &str, event_id: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let added = conn
            .execute(
                "INSERT OR IGNORE INTO channel_inbox(channel, event_id, chat_key, chat, sender, text, state, created_ms)
                 VALUES (?1, ?2, '', '', '', '', 'done', ?3)",
                params![channel, event_id, now_ms()],
            )
            .map_err(|e| self.sql(e))?;
        if added > 0 {
            // Strangers' messages must not grow the table without end.
            conn.execute(
                "DELETE FROM channel_inbox WHERE channel = ?1 AND state = 'done' AND seq <= ?2 - ?3",
                params![channel, conn.last_insert_rowid(), KEEP_DONE],
            )
            .map_err(|e| self.sql(e))?;
        }
        Ok(added > 0)
    }

    /// The inbox messages not yet done, oldest first.
    pub fn inbox_open(&self) -> Result<Vec<InboxItem>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT seq, channel, chat_key, chat, sender, text, state, attempts, answer, sent FROM channel_inbox WHERE state != 'done' ORDER BY seq")
            .map_err(|e| self.sql(e))?;
        st.query_map([], |r| {
            Ok(InboxItem {
                seq: r.get(0)?,
                channel: r.get(1)?,
                chat_key: r.get(2)?,
                chat: r.get(3)?,
                sender: r.get(4)?,
                text: r.get(5)?,
                state: InboxState::parse(&r.get::<_, String>(6)?),
                attempts: r.get(7)?,
                answer: r.get(8)?,
                sent: r.get(9)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.sql(e))
    }

    /// The message's turn starts.
    pub fn inbox_running(&self, seq: i64) -> Result<(), StoreError> {
        self.inbox_exec(
            "UPDATE channel_inbox SET state = 'running', attempts = attempts + 1 WHERE seq = ?1",
            params![seq],
        )
    }

    /// The message is answered; its chunks go out next.
    pub fn inbox_answered(&self, seq: i64, answer: &str) -> Result<(), StoreError> {
        self.inbox_exec(
            "UPDATE channel_inbox SET state = 'answered', answer = ?2, sent = 0 WHERE seq = ?1",
            params![seq, answer],
        )
    }

    /// `sent` chunks of the answer are out.
    pub fn inbox_sent(&self, seq: i64, sent: i64) -> Result<(), StoreError> {
        self.inbox_exec(
            "UPDATE channel_inbox SET sent = ?2 WHERE seq = ?1",
            params![seq, sent],
        )
    }

    /// Set where a message is.
    pub fn inbox_state(&self, seq: i64, state: InboxState) -> Result<(), StoreError> {
        self.inbox_exec(
            "UPDATE channel_inbox SET state = ?2 WHERE seq = ?1",
            params![seq, state.as_str()],
        )
    }

    fn inbox_exec(&self, sql: &str, p: impl rusqlite::Params) -> Result<(), StoreError> {
        self.conn()
            .execute(sql, p)
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn code(code: &str, sender: &str, expires_ms: i64) -> PairingCode {
        PairingCode {
            code: code.into(),
            channel: "telegram".into(),
            sender_id: sender.into(),
            name: "n".into(),
            chat: "{}".into(),
            expires_ms,
        }
    }

    #[test]
    fn codes_pair_once_expire_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let later = now_ms() + 60_000;
        store.add_code(&code("AAAA-AAAA", "1", later), 3).unwrap();
        store
            .add_code(&code("BBBB-BBBB", "2", now_ms() - 1), 3)
            .unwrap();
        assert_eq!(
            store.code_for("telegram", "1").unwrap().as_deref(),
            Some("AAAA-AAAA")
        );
        assert!(store.redeem_code("BBBB-BBBB").unwrap().is_none(), "expired");
        assert!(!store.is_paired("telegram", "1").unwrap());
        assert_eq!(
            store.redeem_code("AAAA-AAAA").unwrap().unwrap().sender_id,
            "1"
        );
        assert!(store.is_paired("telegram", "1").unwrap());
        assert!(!store.is_paired("slack", "1").unwrap(), "per channel");
        assert!(store.redeem_code("AAAA-AAAA").unwrap().is_none(), "used");
        for i in 0..10 {
            store
                .add_code(
                    &code(&format!("C{i:03}-CCCC"), &format!("s{i}"), later + i),
                    3,
                )
                .unwrap();
        }
        assert_eq!(store.codes().unwrap().len(), 3, "at most 3 live codes");
        assert!(store.unpair("telegram", "1").unwrap());
        assert!(!store.unpair("telegram", "1").unwrap());
    }

    #[test]
    fn the_inbox_drops_redeliveries_and_keeps_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let seq = store
            .inbox_add("telegram", "7", "telegram:1", "{}", "{}", "hi")
            .unwrap()
            .unwrap();
        assert!(
            store
                .inbox_add("telegram", "7", "telegram:1", "{}", "{}", "hi")
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .inbox_add("slack", "7", "slack:1", "{}", "{}", "hi")
                .unwrap()
                .is_some()
        );
        store.inbox_running(seq).unwrap();
        store.inbox_answered(seq, "answer").unwrap();
        store.inbox_sent(seq, 1).unwrap();
        let open = store.inbox_open().unwrap();
        let item = open.iter().find(|i| i.seq == seq).unwrap();
        assert_eq!(
            (item.state, item.attempts, item.sent),
            (InboxState::Answered, 1, 1)
        );
        assert_eq!(item.answer.as_deref(), Some("answer"));
        store.inbox_state(seq, InboxState::Done).unwrap();
        assert!(store.inbox_open().unwrap().iter().all(|i| i.seq != seq));
        assert!(store.inbox_seen("telegram", "8").unwrap());
        assert!(!store.inbox_seen("telegram", "8").unwrap());
        assert!(
            !store.inbox_seen("telegram", "7").unwrap(),
            "a message seen is seen"
        );
    }
}
