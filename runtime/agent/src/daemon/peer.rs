//! A connection's client, watched: the slot a connection holds is freed as
//! soon as its client goes away or stops reading what it is sent, not when
//! the turn it streams ends. A turn does not depend on its connection (it
//! runs in its own task), so dropping the connection loses nothing but the
//! stream nobody reads.
//!
//! A client that closes is seen by hyper itself (half-close off: the end of
//! its stream ends the connection, as nginx treats it); a client that stays
//! but never reads is cut by [`StallGuard`] once a write has waited
//! [`WRITE_STALL_TIMEOUT`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest a write may wait for the client to read before the connection
/// is dropped.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Least a client must read per stall window once it has made the server
/// wait: one that takes a byte at a time (slowloris) is cut like one that
/// reads nothing.
pub const MIN_PROGRESS: usize = 16 * 1024;

/// `inner`, whose writes fail with `TimedOut` once the client has kept the
/// server waiting for `limit` without reading at least `min_progress` bytes.
pub struct StallGuard<T> {
    inner: T,
    limit: Duration,
    min_progress: usize,
    stall: Option<Stall>,
    /// The current write had to wait (the client's buffers were full).
    waited: bool,
}

struct Stall {
    timer: Pin<Box<tokio::time::Sleep>>,
    written: usize,
}

fn timed_out(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the client read too little for {limit:?}"),
    )
}

impl<T> StallGuard<T> {
    /// Guard `inner` with `limit` and [`MIN_PROGRESS`].
    pub fn new(inner: T, limit: Duration) -> Self {
        Self::with_progress(inner, limit, MIN_PROGRESS)
    }

    /// Guard `inner`, asking `min_progress` bytes per `limit`.
    pub fn with_progress(inner: T, limit: Duration, min_progress: usize) -> Self {
        StallGuard {
            inner,
            limit,
            min_progress,
            stall: None,
            waited: false,
        }
    }

    /// Account for one poll of a write or a flush (`written` bytes when it
    /// completed). A write that completes without waiting shows the client
    /// is reading: the stall ends. One that waited counts its bytes toward
    /// the minimum; the clock runs until they are reached.
    fn watch<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
        written: impl Fn(&R) -> usize,
    ) -> Poll<io::Result<R>> {
        match poll {
            Poll::Ready(Ok(r)) => {
                let waited = std::mem::take(&mut self.waited);
                if !waited {
                    self.stall = None;
                } else if let Some(stall) = &mut self.stall {
                    stall.written += written(&r);
                    if stall.written >= self.min_progress {
                        self.stall = None;
                    } else if stall.timer.as_mut().poll(cx).is_ready() {
                        self.stall = None;
                        return Poll::Ready(Err(timed_out(self.limit)));
                    }
                }
                Poll::Ready(Ok(r))
            }
            Poll::Ready(Err(e)) => {
                self.stall = None;
                self.waited = false;
                Poll::Ready(Err(e))
            }
            Poll::Pending => {
                self.waited = true;
                let limit = self.limit;
                let stall = self.stall.get_or_insert_with(|| Stall {
                    timer: Box::pin(tokio::time::sleep(limit)),
                    written: 0,
                });
                if stall.timer.as_mut().poll(cx).is_ready() {
                    self.stall = None;
                    return Poll::Ready(Err(timed_out(limit)));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll, |n| *n)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll, |n| *n)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll, |()| 0)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client reading `chunk` bytes every `every`; how much it got.
    fn reader(
        mut theirs: tokio::io::DuplexStream,
        chunk: usize,
        every: Duration,
    ) -> tokio::task::JoinHandle<usize> {
        tokio::spawn(async move {
            let mut got = 0;
            let mut buf = vec![0u8; chunk];
            loop {
                tokio::time::sleep(every).await;
                match theirs.read(&mut buf).await {
                    Ok(0) | Err(_) => return got,
                    Ok(n) => got += n,
                }
            }
        })
    }

    #[tokio::test]
    async fn clients_that_read_nothing_or_a_trickle_are_cut_and_readers_are_not() {
        let limit = Duration::from_millis(200);
        // Reads nothing.
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut guarded = StallGuard::with_progress(ours, limit, 1024);
        let started = std::time::Instant::now();
        let err = guarded.write_all(&[0u8; 4096]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        // Reads a byte at a time: still far below the minimum, still cut.
        let (ours, theirs) = tokio::io::duplex(64);
        let trickle = reader(theirs, 1, Duration::from_millis(10));
        let mut guarded = StallGuard::with_progress(ours, limit, 1024);
        let err = guarded.write_all(&[0u8; 8192]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(guarded);
        assert!(trickle.await.unwrap() < 1024);
        // Keeps up (64 bytes every 2 ms, 6x the minimum even at half speed):
        // never cut, however long it all takes.
        let (ours, theirs) = tokio::io::duplex(64);
        let steady = reader(theirs, 64, Duration::from_millis(2));
        let mut guarded = StallGuard::with_progress(ours, limit, 1024);
        guarded.write_all(&[1u8; 16384]).await.unwrap();
        guarded.shutdown().await.unwrap();
        drop(guarded);
        assert_eq!(steady.await.unwrap(), 16384);
    }
}
