//! A request body with a deadline: the whole body must arrive within
//! [`BODY_READ_TIMEOUT`] of the handler starting to read it, so a client
//! trickling a body a byte at a time cannot hold a connection slot (the
//! header deadline covers only the headers).

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Time to receive a whole request body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {BODY_READ_TIMEOUT:?}")]
pub struct BodyTimeout;

/// `inner`, failing with [`BodyTimeout`] once the deadline passes.
pub struct TimedBody<B> {
    inner: B,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> TimedBody<B> {
    /// Bound the time to read `inner`.
    pub fn new(inner: B) -> Self {
        TimedBody {
            inner,
            deadline: None,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        // The clock starts at the first read that has to wait.
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(BODY_READ_TIMEOUT)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
