//! Per-sender rate limits: a token bucket per `channel:sender`, refilled
//! over a minute, so one sender (or a flood of strangers asking for pairing
//! codes) cannot run up the owner's bill or drown the other chats.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most buckets kept; the idlest go first.
const MAX_BUCKETS: usize = 10_000;

/// Token buckets per key.
pub struct Limiter {
    per_minute: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    /// `per_minute` events per key per minute, in bursts of as many.
    pub fn new(per_minute: u32) -> Self {
        Limiter {
            per_minute: f64::from(per_minute.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Take one event for `key`: `Ok` or how long until one is free.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let full = self.per_minute;
            let rate = self.per_minute / 60.0;
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < full
            });
            if buckets.len() >= MAX_BUCKETS {
                return Err(Duration::from_secs(60));
            }
        }
        let rate = self.per_minute / 60.0;
        let (tokens, at) = buckets
            .entry(key.to_string())
            .or_insert((self.per_minute, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(self.per_minute);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_per_key() {
        let l = Limiter::new(3);
        for _ in 0..3 {
            assert!(l.take("a").is_ok());
        }
        let wait = l.take("a").unwrap_err();
        assert!(
            wait > Duration::from_secs(5) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(l.take("b").is_ok(), "other senders are not affected");
    }
}
