//! A response body that counts bytes against the call's budget and redacts
//! secret values before the guest sees them.

use crate::audit::{Audit, Capability};
use crate::redact::{Redactor, StreamRedactor};
use bytes::Bytes;
use http_body::{Body, Frame};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll, ready};
use wasmtime_wasi_http::Error as HttpError;

pub(crate) struct GuardedBody {
    inner: hyper::body::Incoming,
    redact: StreamRedactor,
    budget: Arc<AtomicI64>,
    audit: Audit,
    target: String,
    done: bool,
}

impl GuardedBody {
    pub(crate) fn new(
        inner: hyper::body::Incoming,
        redactor: Redactor,
        budget: Arc<AtomicI64>,
        audit: Audit,
        target: String,
    ) -> Self {
        GuardedBody {
            inner,
            redact: StreamRedactor::new(redactor),
            budget,
            audit,
            target,
            done: false,
        }
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            None => {
                this.done = true;
                let tail = this.redact.finish();
                Poll::Ready((!tail.is_empty()).then(|| Ok(Frame::data(Bytes::from(tail)))))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    let len = i64::try_from(data.len()).unwrap_or(i64::MAX);
                    if this.budget.fetch_sub(len, Ordering::Relaxed) < len {
                        this.done = true;
                        this.audit.deny(
                            Capability::Limit,
                            &this.target,
                            "response bytes exceed the call's limit".to_string(),
                            Some("raise limits.http_response_kib in the grant".into()),
                        );
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(None))));
                    }
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from(this.redact.push(&data))))))
                }
                // Trailers are redacted like headers, and fail closed the
                // same way: a value that cannot be re-encoded ends the body.
                Err(frame) => match frame.into_trailers() {
                    Ok(mut trailers) => {
                        if !this.redact.redactor().redact_headers(&mut trailers) {
                            this.done = true;
                            this.audit.deny(
                                Capability::Secret,
                                &this.target,
                                "a response trailer carried a secret that could not be redacted"
                                    .to_string(),
                                None,
                            );
                            return Poll::Ready(Some(Err(HttpError::HttpProtocolError)));
                        }
                        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                    }
                    Err(other) => Poll::Ready(Some(Ok(other))),
                },
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
