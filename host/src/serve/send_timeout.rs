//! A client that takes no bytes of its answer for a while loses its
//! connection, as with nginx's `send_timeout` (60 s). Otherwise a client
//! that never reads keeps its instance, and its place among
//! `--max-clients`, for as long as it keeps the connection open: 64 such
//! clients would make every other answer a `503`.
//!
//! Only a full socket counts: a write that waits because the client reads
//! nothing. An answer that is slow because the origin is slow writes
//! nothing meanwhile, so it never waits here.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// `io` whose writes fail with `TimedOut` once they have waited `limit`
/// without the peer taking a byte.
pub(super) struct SendTimeout<T> {
    io: T,
    limit: Duration,
    /// Armed when a write first waits; cleared by any progress.
    waiting_since: Option<Pin<Box<Sleep>>>,
}

impl<T> SendTimeout<T> {
    pub(super) fn new(io: T, limit: Duration) -> SendTimeout<T> {
        SendTimeout {
            io,
            limit,
            waiting_since: None,
        }
    }

    /// After the inner write said `Pending`: still pending, or timed out.
    fn poll_waited<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let limit = self.limit;
        let deadline = self
            .waiting_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took no bytes for {} s", limit.as_secs_f64()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<R>(
        &mut self,
        result: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match result {
            Poll::Ready(result) => {
                self.waiting_since = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_waited(cx),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        this.progressed(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.progressed(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_flush(cx);
        this.progressed(result, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_shutdown(cx);
        this.progressed(result, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: Duration = Duration::from_millis(300);

    /// The far side of a duplex pipe stands for the client: a pipe of 4
    /// bytes is full after 4.
    #[tokio::test]
    async fn a_write_the_peer_takes_nothing_of_fails_after_the_limit() {
        let (near, far) = tokio::io::duplex(4);
        let mut io = SendTimeout::new(near, LIMIT);
        io.write_all(&[0; 4]).await.unwrap();
        let started = std::time::Instant::now();
        let error = io.write_all(&[0; 1]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= LIMIT);
        drop(far);
    }

    #[tokio::test]
    async fn a_peer_that_takes_a_byte_now_and_then_keeps_its_connection() {
        let (near, mut far) = tokio::io::duplex(4);
        let mut io = SendTimeout::new(near, LIMIT);
        // A byte every 100 ms: 1.2 s in all, four times the limit, but
        // never the limit without progress.
        let reader = tokio::spawn(async move {
            let mut byte = [0; 1];
            for _ in 0..12 {
                tokio::time::sleep(LIMIT / 3).await;
                far.read_exact(&mut byte).await.unwrap();
            }
        });
        io.write_all(&[0; 12]).await.unwrap();
        reader.await.unwrap();
    }
}
