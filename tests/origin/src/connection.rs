//! A TCP stream that response bodies can ask to cut.
//!
//! Three faults need control hyper does not offer: `truncate` must close
//! the connection after exactly half a body has reached the socket,
//! `overlong` must write bytes past the declared `Content-Length` (hyper
//! silently drops them), and `unanswered` must close it before the
//! answer's first byte. Just returning a body error would not do for
//! `truncate` either: hyper discards what it has buffered but not written.
//!
//! So a body arms a [`ConnectionCut`] shared with the [`CuttableStream`]
//! under hyper. hyper writes out its whole buffer before it calls
//! `poll_flush` on the stream, and a body frame is buffered in the same poll
//! that produced it; so the first flush after arming is exactly the point
//! where every byte before the cut is on the socket. There the stream writes
//! the trailing bytes, shuts the socket down and fails, which makes hyper
//! drop the connection.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::objects::lock;

/// Shared between a connection's stream and the bodies sent on it.
#[derive(Default)]
pub(crate) struct ConnectionCut {
    state: Mutex<CutState>,
}

#[derive(Default)]
enum CutState {
    #[default]
    Open,
    /// Cut at the next flush, after writing these bytes.
    Armed(Bytes),
    /// Cut at the next write, before anything of the answer is written.
    Unanswered,
    Cut,
}

impl ConnectionCut {
    /// Closes the connection once what was written so far is on the socket,
    /// followed by `trailing` bytes no header announced.
    pub(crate) fn cut_after_flush(&self, trailing: Bytes) {
        let mut state = lock(&self.state);
        if matches!(*state, CutState::Open) {
            *state = CutState::Armed(trailing);
        }
    }

    /// Closes the connection before the answer's first byte.
    pub(crate) fn close_unanswered(&self) {
        let mut state = lock(&self.state);
        if matches!(*state, CutState::Open) {
            *state = CutState::Unanswered;
        }
    }

    fn take_unanswered(&self) -> bool {
        let mut state = lock(&self.state);
        let unanswered = matches!(*state, CutState::Unanswered);
        if unanswered {
            *state = CutState::Cut;
        }
        unanswered
    }

    pub(crate) fn is_cut(&self) -> bool {
        matches!(*lock(&self.state), CutState::Cut)
    }

    fn take_armed(&self) -> Option<Bytes> {
        let mut state = lock(&self.state);
        match std::mem::replace(&mut *state, CutState::Cut) {
            CutState::Armed(trailing) => Some(trailing),
            other => {
                *state = other;
                None
            }
        }
    }
}

pub(crate) struct CuttableStream {
    stream: TcpStream,
    cut: Arc<ConnectionCut>,
    /// Trailing bytes still to write before shutting down, once armed.
    cutting: Option<Bytes>,
}

impl CuttableStream {
    pub(crate) fn new(stream: TcpStream, cut: Arc<ConnectionCut>) -> Self {
        CuttableStream {
            stream,
            cut,
            cutting: None,
        }
    }

    /// `unanswered`: the answer's first write fails instead, so hyper
    /// drops the connection with nothing of the answer sent.
    fn cut_if_unanswered(&mut self) {
        if self.cutting.is_none() && self.cut.take_unanswered() {
            self.cutting = Some(Bytes::new());
        }
    }

    fn poll_cut(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let trailing = self.cutting.as_mut().expect("cut in progress");
        while trailing.has_remaining() {
            let written = ready!(Pin::new(&mut self.stream).poll_write(cx, trailing.chunk()))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            trailing.advance(written);
        }
        ready!(Pin::new(&mut self.stream).poll_shutdown(cx))?;
        Poll::Ready(Err(cut_on_purpose()))
    }
}

fn cut_on_purpose() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut on purpose by a fault",
    )
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.cutting.is_some() {
            // Reads end as if the peer closed, so hyper stops serving.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.cut_if_unanswered();
        if this.cutting.is_some() {
            return Poll::Ready(Err(cut_on_purpose()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.cut_if_unanswered();
        if this.cutting.is_some() {
            return Poll::Ready(Err(cut_on_purpose()));
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.cutting.is_none() {
            ready!(Pin::new(&mut this.stream).poll_flush(cx))?;
            this.cutting = this.cut.take_armed();
            if this.cutting.is_none() {
                return Poll::Ready(Ok(()));
            }
        }
        this.poll_cut(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
