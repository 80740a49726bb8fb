//! Retries and status mapping shared by the providers: exponential backoff
//! (honoring `Retry-After`) for 429, 5xx, timeouts and connection errors, only
//! while no text has been streamed; a non-success response read into a
//! [`ProviderError`] (see [`super::errors`]).

use super::errors::status_error;
use super::http::HttpResponse;
use super::sse::SseError;
use super::{ProviderError, ProviderSettings};
use http::HeaderMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The longest wait between attempts (for `Retry-After` and for backoff).
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// The most of an error body that is read.
const MAX_ERROR_BODY: usize = 64 << 10;

/// One failed attempt: the error, and how long the server asked us to wait.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong (attempt counts are filled in by [`run`]).
    pub error: ProviderError,
    /// The server's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
}

impl From<ProviderError> for Failure {
    fn from(error: ProviderError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

impl From<SseError> for Failure {
    fn from(e: SseError) -> Self {
        ProviderError::from(e).into()
    }
}

/// When and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first delay; it doubles with each retry.
    pub base: Duration,
    /// Add up to 25% random jitter to backoff delays.
    pub jitter: bool,
}

impl RetryPolicy {
    /// The policy of `settings` (with jitter).
    pub fn from_settings(settings: &ProviderSettings) -> Self {
        RetryPolicy {
            max_retries: settings.max_retries,
            base: settings.retry_base,
            jitter: true,
        }
    }

    /// The wait before retry number `retry` (1-based): `base * 2^(retry-1)`,
    /// or the server's `Retry-After` when longer, both capped at [`MAX_DELAY`].
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 1u32 << retry.saturating_sub(1).min(20);
        let mut backoff = self.base.saturating_mul(factor).min(MAX_DELAY);
        if self.jitter {
            let spread = getrandom::u32().unwrap_or(0) % 256;
            backoff += backoff.mul_f64(f64::from(spread) / 1024.0);
        }
        match retry_after {
            Some(ra) => backoff.max(ra.min(MAX_DELAY)),
            None => backoff,
        }
        .min(MAX_DELAY)
    }
}

/// Run `attempt` until it succeeds, fails for good, or the retries run out.
/// A retryable failure is retried only while `emitted` is false (no text
/// reached the user yet). The final error carries the number of attempts.
pub async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    emitted: &AtomicBool,
    mut attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let failure = match attempt().await {
            Ok(value) => return Ok(value),
            Err(failure) => failure,
        };
        let retry = failure.error.retryable()
            && attempts <= policy.max_retries
            && !emitted.load(Ordering::SeqCst);
        if !retry {
            return Err(with_attempts(failure.error, attempts));
        }
        let delay = policy.delay(attempts, failure.retry_after);
        tracing::warn!(
            "provider call failed (attempt {attempts} of {}), retrying in {delay:?}: {}",
            policy.max_retries + 1,
            failure.error
        );
        tokio::time::sleep(delay).await;
    }
}

/// Set the attempt count of a retryable error.
fn with_attempts(mut error: ProviderError, n: u32) -> ProviderError {
    if let ProviderError::Unavailable { attempts, .. }
    | ProviderError::Unreachable { attempts, .. }
    | ProviderError::Cut { attempts, .. } = &mut error
    {
        *attempts = n;
    }
    error
}

/// `Retry-After` in seconds (HTTP dates are ignored).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// Pass a 2xx response through; otherwise read the error body and fail.
pub async fn check_status(resp: HttpResponse, model: &str) -> Result<HttpResponse, Failure> {
    if (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    let status = resp.status;
    let retry_after = retry_after(&resp.headers);
    let location = resp.header("location").map(str::to_string);
    let body = match resp.bytes(MAX_ERROR_BODY).await {
        Ok(body) => body,
        Err(e) => format!("(the error body could not be read: {e})").into_bytes(),
    };
    let error = match location.filter(|_| (300..400).contains(&status)) {
        Some(to) => ProviderError::Rejected {
            status,
            message: format!("redirected to {to} (not followed; check base_url)"),
        },
        None => status_error(status, &body, model),
    };
    Err(Failure { error, retry_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_honor_retry_after_within_the_cap() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            jitter: false,
        };
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(p.delay(1, None)), 100);
        assert_eq!(ms(p.delay(3, None)), 400);
        assert_eq!(ms(p.delay(1, Some(Duration::from_secs(2)))), 2000);
        assert_eq!(ms(p.delay(3, Some(Duration::ZERO))), 400);
        assert_eq!(p.delay(1, Some(Duration::from_secs(600))), MAX_DELAY);
        assert_eq!(p.delay(40, None), MAX_DELAY);
        let j = RetryPolicy { jitter: true, ..p };
        let d = j.delay(2, None);
        assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(250));
    }

    #[test]
    fn maps_statuses() {
        let m = |s, msg: &str| status_error(s, msg.as_bytes(), "m");
        assert!(matches!(
            m(401, "x"),
            ProviderError::Auth { status: 401, .. }
        ));
        assert!(matches!(
            m(403, "x"),
            ProviderError::Auth { status: 403, .. }
        ));
        assert!(matches!(m(404, "x"), ProviderError::NotFound { .. }));
        assert!(matches!(
            m(400, "The model `gpt-9` does not exist"),
            ProviderError::NotFound { .. }
        ));
        assert!(matches!(
            m(400, "bad tools"),
            ProviderError::Rejected { status: 400, .. }
        ));
        assert!(m(429, "x").retryable());
        assert!(m(503, "x").retryable());
        assert!(!m(413, "x").retryable());
        let mut h = HeaderMap::new();
        h.insert("retry-after", http::HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            "retry-after",
            http::HeaderValue::from_static("Wed, 21 Oct 2015"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[tokio::test]
    async fn stops_retrying_once_text_was_emitted() {
        let p = RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(1),
            jitter: false,
        };
        let unavailable = || ProviderError::Unavailable {
            status: 503,
            attempts: 1,
            message: "busy".into(),
        };
        let emitted = AtomicBool::new(false);
        let mut calls = 0;
        let r: Result<(), _> = run(&p, &emitted, || {
            calls += 1;
            async { Err(unavailable().into()) }
        })
        .await;
        assert!(matches!(
            r,
            Err(ProviderError::Unavailable { attempts: 4, .. })
        ));
        assert_eq!(calls, 4);

        emitted.store(true, Ordering::SeqCst);
        let mut calls = 0;
        let r: Result<(), _> = run(&p, &emitted, || {
            calls += 1;
            async { Err(unavailable().into()) }
        })
        .await;
        assert!(matches!(
            r,
            Err(ProviderError::Unavailable { attempts: 1, .. })
        ));
        assert_eq!(calls, 1);
    }
}
