//! Pairing codes: what an unknown sender gets instead of an answer. The
//! owner redeems one on their own machine (`chitin channels pair CODE`, or
//! the web page); a code names the sender it was made for, so seeing it
//! lets nobody else in.

use crate::store::{PairingCode, Store, StoreError, now_ms};

/// Letters and digits that are not mistaken for each other.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// How long a code is good for.
pub const CODE_TTL_MS: i64 = 60 * 60 * 1000;

/// Live codes per channel at most (strangers cannot fill the table; when
/// full, new ones are refused rather than old ones dropped).
pub const MAX_LIVE_CODES: i64 = 50;

/// A fresh random code, `XXXX-XXXX`.
pub fn new_code() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Not guessable by a stranger in any useful way even so: codes
        // expire, are rate limited, and only the owner redeems them.
        bytes = (now_ms() as u64 ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes();
    }
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// A code as the owner typed it (any case, with or without the dash or
/// spaces), in its canonical form; `None` when it cannot be one.
pub fn normalize(typed: &str) -> Option<String> {
    let chars: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (chars.len() == 8 && chars.bytes().all(|b| ALPHABET.contains(&b)))
        .then(|| format!("{}-{}", &chars[..4], &chars[4..]))
}

/// The sender's live code, or a new one filed for them; `None` when too
/// many are waiting already.
pub fn code_for(
    store: &Store,
    channel: &str,
    sender_id: &str,
    name: &str,
    chat_json: &str,
) -> Result<Option<String>, StoreError> {
    if let Some(code) = store.code_for(channel, sender_id)? {
        return Ok(Some(code));
    }
    let code = new_code();
    let filed = store.add_code(
        &PairingCode {
            code: code.clone(),
            channel: channel.to_string(),
            sender_id: sender_id.to_string(),
            name: chitin_sandbox::text::one_line(name, 80),
            chat: chat_json.to_string(),
            expires_ms: now_ms() + CODE_TTL_MS,
        },
        MAX_LIVE_CODES,
    )?;
    Ok(filed.then_some(code))
}

/// What an unknown sender is told.
pub fn pairing_message(code: Option<&str>) -> String {
    match code {
        Some(code) => format!(
            "I only answer people my owner has paired with me. If you are my owner, run this on the machine where Chitin runs:\n\n`chitin channels pair {code}`\n\nThen send your message again. The code expires in one hour."
        ),
        None => "I only answer people my owner has paired with me, and too many pairing requests are waiting right now; try again later.".into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_what_people_type() {
        let c = new_code();
        assert_eq!(c.len(), 9);
        assert_eq!(normalize(&c).unwrap(), c);
        assert_eq!(normalize(&c.to_lowercase().replace('-', " ")).unwrap(), c);
        assert!(normalize("ABCD-EFG").is_none());
        assert!(normalize("ABCD-EFG0").is_none(), "0 is not in the alphabet");
        assert!(normalize("'; DROP TABLE").is_none());
    }
}
