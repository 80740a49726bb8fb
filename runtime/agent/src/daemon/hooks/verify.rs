//! Who may call a webhook: an HMAC-SHA256 signature with the hook's key,
//! fresh and never seen before, within a rate.
//!
//! Two ways to sign, both `sha256=` and the hex MAC:
//!
//! - **Chitin**: `X-Chitin-Signature` over `TIMESTAMP.BODY` (the decimal
//!   Unix seconds of `X-Chitin-Timestamp`, a `.`, the raw body). The
//!   timestamp must be within [`WINDOW_SECS`] of the daemon's clock, and a
//!   signature (or `X-Chitin-Delivery` id) seen within the window is a
//!   replay.
//! - **GitHub**: `X-Hub-Signature-256` over the raw body, with the
//!   `X-GitHub-Delivery` id required. There is no timestamp to check, so
//!   signatures and delivery ids are remembered for [`GITHUB_MEMORY_SECS`].
//!
//! The MAC is compared in constant time (`hmac`'s `verify_slice`).

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far a Chitin timestamp may be from the daemon's clock, either way.
pub const WINDOW_SECS: i64 = 300;

/// How long GitHub-style deliveries are remembered.
pub const GITHUB_MEMORY_SECS: i64 = 24 * 3600;

/// Signatures and ids remembered per hook at most (the oldest go first).
pub const MAX_REMEMBERED: usize = 10_000;

/// Longest delivery id accepted.
const MAX_DELIVERY_ID: usize = 200;

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Neither signature header.
    #[error(
        "no signature: send X-Chitin-Signature and X-Chitin-Timestamp (or GitHub's X-Hub-Signature-256)"
    )]
    NoSignature,
    /// Not `sha256=` and 64 hex digits.
    #[error("the signature must be `sha256=` followed by 64 hex digits")]
    Malformed,
    /// The Chitin scheme without a usable timestamp.
    #[error(
        "X-Chitin-Timestamp is missing or not Unix seconds (the signature covers `TIMESTAMP.BODY`)"
    )]
    NoTimestamp,
    /// Outside the window: the timestamp's age in seconds (negative: in
    /// the future).
    #[error(
        "the timestamp is {} s {} the daemon's clock; at most {WINDOW_SECS} s either way are accepted (sign with the current time)",
        .0.unsigned_abs(),
        if *.0 < 0 { "ahead of" } else { "behind" }
    )]
    Stale(i64),
    /// The GitHub scheme without a delivery id.
    #[error("X-GitHub-Delivery is missing or too long (it is needed to refuse replays)")]
    NoDelivery,
    /// The MAC does not match.
    #[error("the signature does not match the body (wrong key, or the body was changed)")]
    BadSignature,
}

/// A verified request: what identifies it for replay checks, and until
/// when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Signature and delivery-id keys.
    pub keys: Vec<String>,
    /// Remember them until then.
    pub until: i64,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn signature(value: &str) -> Result<Vec<u8>, Refusal> {
    let hex_part = value.strip_prefix("sha256=").ok_or(Refusal::Malformed)?;
    if hex_part.len() != 64 {
        return Err(Refusal::Malformed);
    }
    hex::decode(hex_part).map_err(|_| Refusal::Malformed)
}

fn delivery(headers: &HeaderMap, name: &str) -> Option<String> {
    header(headers, name)
        .filter(|d| !d.is_empty() && d.len() <= MAX_DELIVERY_ID)
        .map(|d| format!("delivery:{d}"))
}

fn check_mac(key: &[u8], parts: &[&[u8]], sig: &[u8]) -> Result<(), Refusal> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| Refusal::BadSignature)?;
    for p in parts {
        mac.update(p);
    }
    mac.verify_slice(sig).map_err(|_| Refusal::BadSignature)
}

/// Check a request's signature with `key` at `now` (Unix seconds).
pub fn verify(key: &[u8], headers: &HeaderMap, body: &[u8], now: i64) -> Result<Verified, Refusal> {
    if let Some(value) = header(headers, "x-chitin-signature") {
        let sig = signature(value)?;
        let ts_text = header(headers, "x-chitin-timestamp").ok_or(Refusal::NoTimestamp)?;
        let ts: i64 = ts_text.parse().map_err(|_| Refusal::NoTimestamp)?;
        let skew = now.saturating_sub(ts);
        if skew.abs() > WINDOW_SECS {
            return Err(Refusal::Stale(skew));
        }
        check_mac(key, &[ts_text.as_bytes(), b".", body], &sig)?;
        let mut keys = vec![format!("sig:{}", hex::encode(&sig))];
        keys.extend(delivery(headers, "x-chitin-delivery"));
        return Ok(Verified {
            keys,
            until: ts.max(now) + WINDOW_SECS,
        });
    }
    if let Some(value) = header(headers, "x-hub-signature-256") {
        let sig = signature(value)?;
        let id = delivery(headers, "x-github-delivery").ok_or(Refusal::NoDelivery)?;
        check_mac(key, &[body], &sig)?;
        return Ok(Verified {
            keys: vec![format!("sig:{}", hex::encode(&sig)), id],
            until: now + GITHUB_MEMORY_SECS,
        });
    }
    Err(Refusal::NoSignature)
}

/// Signatures and delivery ids already accepted, until they expire.
#[derive(Debug, Default)]
pub struct Seen {
    until: Mutex<HashMap<String, i64>>,
}

impl Seen {
    /// Remember `v`'s keys and say true, or say false (a replay) if one
    /// of them is remembered already. Atomic: of two identical requests
    /// at once, one is the replay.
    pub fn first_time(&self, v: &Verified, now: i64) -> bool {
        let mut map = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if v.keys.iter().any(|k| map.get(k).is_some_and(|&u| u >= now)) {
            return false;
        }
        for k in &v.keys {
            map.insert(k.clone(), v.until);
        }
        if map.len() > MAX_REMEMBERED {
            map.retain(|_, u| *u >= now);
        }
        while map.len() > MAX_REMEMBERED {
            let Some(oldest) = map.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone()) else {
                break;
            };
            map.remove(&oldest);
        }
        true
    }

    /// Forget `v` (it was refused after all, e.g. rate-limited, so the
    /// sender may send it again).
    pub fn forget(&self, v: &Verified) {
        let mut map = self.until.lock().unwrap_or_else(|p| p.into_inner());
        for k in &v.keys {
            map.remove(k);
        }
    }
}

/// At most `per_minute` accepted requests in any minute.
#[derive(Debug)]
pub struct Rate {
    per_minute: usize,
    times: Mutex<VecDeque<Instant>>,
}

impl Rate {
    /// A limit of `per_minute`.
    pub fn new(per_minute: usize) -> Self {
        Rate {
            per_minute,
            times: Mutex::new(VecDeque::new()),
        }
    }

    /// Count one more, or say how long to wait.
    pub fn allow(&self) -> Result<(), Duration> {
        let minute = Duration::from_secs(60);
        let now = Instant::now();
        let mut times = self.times.lock().unwrap_or_else(|p| p.into_inner());
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= minute)
        {
            times.pop_front();
        }
        if times.len() >= self.per_minute {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(minute.saturating_sub(now.duration_since(oldest)));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn mac(key: &[u8], data: &[u8]) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        format!("sha256={}", hex::encode(m.finalize().into_bytes()))
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn chitin_scheme() {
        let (key, body, now) = (b"k3y".as_slice(), b"{\"a\":1}".as_slice(), 1_700_000_000);
        let sig = mac(key, format!("{now}.{}", "{\"a\":1}").as_bytes());
        let good = headers(&[
            ("x-chitin-signature", sig.clone()),
            ("x-chitin-timestamp", now.to_string()),
            ("x-chitin-delivery", "d-1".into()),
        ]);
        let v = verify(key, &good, body, now + 10).unwrap();
        assert_eq!(v.keys.len(), 2);
        assert_eq!(v.until, now + 10 + WINDOW_SECS);
        assert_eq!(
            verify(b"other", &good, body, now),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(key, &good, b"{\"a\":2}", now),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(key, &good, body, now + 301),
            Err(Refusal::Stale(301))
        );
        assert_eq!(
            verify(key, &good, body, now - 301),
            Err(Refusal::Stale(-301))
        );
        let no_ts = headers(&[("x-chitin-signature", sig.clone())]);
        assert_eq!(verify(key, &no_ts, body, now), Err(Refusal::NoTimestamp));
        let bad = headers(&[
            ("x-chitin-signature", "sha256=zz".into()),
            ("x-chitin-timestamp", now.to_string()),
        ]);
        assert_eq!(verify(key, &bad, body, now), Err(Refusal::Malformed));
        // The body alone is not what is signed.
        let body_only = headers(&[
            ("x-chitin-signature", mac(key, body)),
            ("x-chitin-timestamp", now.to_string()),
        ]);
        assert_eq!(
            verify(key, &body_only, body, now),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            verify(key, &HeaderMap::new(), body, now),
            Err(Refusal::NoSignature)
        );
    }

    #[test]
    fn github_scheme_and_replays() {
        let (key, body, now) = (b"k".as_slice(), b"payload".as_slice(), 1_700_000_000);
        let h = headers(&[
            ("x-hub-signature-256", mac(key, body)),
            ("x-github-delivery", "72d3162e".into()),
        ]);
        let v = verify(key, &h, body, now).unwrap();
        let no_id = headers(&[("x-hub-signature-256", mac(key, body))]);
        assert_eq!(verify(key, &no_id, body, now), Err(Refusal::NoDelivery));
        let seen = Seen::default();
        assert!(seen.first_time(&v, now));
        assert!(!seen.first_time(&v, now + 3600), "a replay");
        seen.forget(&v);
        assert!(seen.first_time(&v, now));
        // Expired entries no longer count.
        assert!(seen.first_time(&v, now + GITHUB_MEMORY_SECS + 1));
    }

    #[test]
    fn rate() {
        let r = Rate::new(2);
        assert!(r.allow().is_ok() && r.allow().is_ok());
        let wait = r.allow().unwrap_err();
        assert!(wait > Duration::from_secs(50), "{wait:?}");
    }
}
