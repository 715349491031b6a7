//! Response bodies: small fixed ones, and object bodies generated block by
//! block with the body faults (cut, stall, pace, overlong) applied.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::connection::ConnectionCut;
use crate::content::Served;
use crate::counters::Counters;
use crate::objects::ObjectEntry;
use crate::pacing::Pacer;

/// Bodies are written in blocks of this size: large enough for vectored
/// writes to move gigabytes per second, small enough to stay in cache.
const BLOCK_SIZE: usize = 64 * 1024;

/// How long a stalled response stays silent; tests never wait this out,
/// they time out or drop the origin, which ends the stall.
const STALL_DURATION: Duration = Duration::from_secs(600);

pub(crate) enum ResponseBody {
    Empty,
    Fixed(Option<Bytes>),
    Object(Box<ObjectBody>),
}

impl ResponseBody {
    pub(crate) fn fixed(bytes: impl Into<Bytes>) -> Self {
        ResponseBody::Fixed(Some(bytes.into()))
    }
}

/// A response body counted as an open request until it is dropped.
pub(crate) struct TrackedBody {
    pub(crate) body: ResponseBody,
    pub(crate) _open: crate::counters::OpenRequest,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            ResponseBody::Empty => Poll::Ready(None),
            ResponseBody::Fixed(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Object(body) => body.poll_block(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Empty => true,
            ResponseBody::Fixed(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            ResponseBody::Object(body) => body.next == body.end,
        }
    }

    /// Object bodies report no size: their `Content-Length` header, or its
    /// absence (chunked encoding), is set explicitly by the response, and
    /// hyper would otherwise insist the two agree.
    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Empty => SizeHint::with_exact(0),
            ResponseBody::Fixed(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ResponseBody::Object(_) => SizeHint::default(),
        }
    }
}

/// How an object body should misbehave; all offsets are absolute object
/// offsets within the body's span.
#[derive(Debug, Default)]
pub(crate) struct BodyFaults {
    /// Close the connection once the bytes before this offset are sent.
    pub(crate) cut_at: Option<u64>,
    /// Go silent once the bytes before this offset are sent.
    pub(crate) stall_at: Option<u64>,
    /// Garbage bytes written after the last byte, then close.
    pub(crate) trailing_garbage: u64,
    /// Garbage bytes sent after the last byte as part of the body (its
    /// `Content-Length` counts them).
    pub(crate) appended: u64,
    pub(crate) pacer: Option<Pacer>,
    /// `change_after` threshold of the object.
    pub(crate) change_after: Option<u64>,
    /// `change_times`: how many times the object is replaced.
    pub(crate) change_times: u64,
}

/// Where object bytes are accounted.
pub(crate) struct Accounting {
    pub(crate) counters: Arc<Counters>,
    /// Whether the bytes are the twin's (`/twin/`), counted apart too.
    pub(crate) twin: bool,
    pub(crate) object: Arc<ObjectEntry>,
    pub(crate) connection: Arc<ConnectionCut>,
}

pub(crate) struct ObjectBody {
    content: Served,
    next: u64,
    end: u64,
    faults: BodyFaults,
    accounting: Accounting,
    waiting: Option<Pin<Box<Sleep>>>,
    /// Reused between blocks: once hyper has written and dropped a block,
    /// `reserve` gets its allocation back instead of asking for a new one.
    buffer: BytesMut,
}

impl ObjectBody {
    /// The bytes `first..end` of `content`.
    pub(crate) fn new(
        content: Served,
        first: u64,
        end: u64,
        faults: BodyFaults,
        accounting: Accounting,
    ) -> Self {
        ObjectBody {
            content,
            next: first,
            end,
            faults,
            accounting,
            waiting: None,
            buffer: BytesMut::new(),
        }
    }

    fn poll_block(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            if let Some(timer) = self.waiting.as_mut() {
                ready!(timer.as_mut().poll(cx));
                self.waiting = None;
            }
            if self.next == self.end {
                if self.faults.appended > 0 {
                    let tail = garbage(std::mem::take(&mut self.faults.appended));
                    return Poll::Ready(Some(Ok(Frame::data(tail))));
                }
                return Poll::Ready(None);
            }
            if self.faults.cut_at == Some(self.next) {
                return self.poll_cut();
            }
            if self.faults.stall_at == Some(self.next) {
                self.faults.stall_at = None;
                self.waiting = Some(Box::pin(tokio::time::sleep(STALL_DURATION)));
                continue;
            }
            let Some(len) = self.next_block_len() else {
                self.waiting = Some(Box::pin(tokio::time::sleep(Pacer::STEP)));
                continue;
            };
            return Poll::Ready(Some(Ok(Frame::data(self.produce(len)))));
        }
    }

    /// Arms the cut and waits for the connection to go; hyper flushes while
    /// we are pending, which performs the cut and ends the connection.
    fn poll_cut(&mut self) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.accounting.connection.is_cut() {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "response cut on purpose by the truncate fault",
            ))));
        }
        self.accounting.connection.cut_after_flush(Bytes::new());
        Poll::Pending
    }

    /// Length of the next block, `None` if the pacer says wait.
    fn next_block_len(&mut self) -> Option<u64> {
        let mut len = (self.end - self.next).min(BLOCK_SIZE as u64);
        for stop in [self.faults.cut_at, self.faults.stall_at]
            .into_iter()
            .flatten()
        {
            if stop > self.next {
                len = len.min(stop - self.next);
            }
        }
        if let Some(pacer) = self.faults.pacer.as_mut() {
            let allowed = pacer.allowance(Instant::now());
            if allowed == 0 {
                return None;
            }
            len = len.min(allowed);
            pacer.record(len);
        }
        Some(len)
    }

    fn produce(&mut self, len: u64) -> Bytes {
        let len_usize = len as usize;
        self.buffer.reserve(BLOCK_SIZE.max(len_usize));
        // Zeroing first costs a memset, a fraction of generating the content,
        // and keeps this free of unsafe code.
        self.buffer.resize(len_usize, 0);
        self.content.fill(self.next, &mut self.buffer);
        let block = self.buffer.split().freeze();

        self.next += len;
        let accounting = &self.accounting;
        accounting.counters.record_body_bytes(len, accounting.twin);
        accounting
            .object
            .record_sent(len, self.faults.change_after, self.faults.change_times);
        if self.next == self.end && self.faults.trailing_garbage > 0 {
            accounting
                .connection
                .cut_after_flush(garbage(self.faults.trailing_garbage));
        }
        block
    }
}

/// Recognisable filler for `overlong`, unlike any object content.
fn garbage(len: u64) -> Bytes {
    const PATTERN: &[u8] = b"GARBAGE!";
    PATTERN
        .iter()
        .copied()
        .cycle()
        .take(len as usize)
        .collect::<Vec<u8>>()
        .into()
}
