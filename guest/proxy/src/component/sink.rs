//! The client's response: its head, and its body written only as fast as
//! the host takes it.

use wasip2::http::types::{Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasip2::io::poll::Pollable;
use wasip2::io::streams::{OutputStream, StreamError};

use rangeget_core::fetch::ResponseHead;

use super::log::log;

/// The response resource of `head`; `None` if the host refuses a header.
pub fn response(head: &ResponseHead) -> Option<OutgoingResponse> {
    let fields: Vec<(String, Vec<u8>)> = head
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
        .collect();
    let fields = Fields::from_list(&fields).ok()?;
    let response = OutgoingResponse::new(fields);
    response.set_status_code(head.status).ok()?;
    Some(response)
}

/// The client went away (or the host closed the body).
#[derive(Debug)]
pub struct Closed;

/// An answer whose headers are sent and whose body is being written.
///
/// Dropping it without [`Sink::finish`] aborts the response: the host then
/// breaks the transfer off instead of ending it cleanly, so a client never
/// mistakes a partial body for a complete one.
pub struct Sink {
    // Declared first: a pollable must be dropped before the stream it
    // watches, and the stream before its body.
    ready: Pollable,
    stream: OutputStream,
    body: OutgoingBody,
    /// Bytes taken from the source and not yet accepted by the stream.
    pending: Vec<u8>,
    written: usize,
}

impl Sink {
    /// Sends the head and opens the body; `None` (after sending a 500 if
    /// still possible) when the host refuses either.
    pub fn open(out: ResponseOutparam, head: &ResponseHead) -> Option<Sink> {
        let Some(response) = response(head) else {
            log("the host refused the response headers");
            ResponseOutparam::set(
                out,
                Err(wasip2::http::types::ErrorCode::InternalError(None)),
            );
            return None;
        };
        let body = response.body().ok()?;
        let stream = body.write().ok()?;
        ResponseOutparam::set(out, Ok(response));
        Some(Sink {
            ready: stream.subscribe(),
            stream,
            body,
            pending: Vec::new(),
            written: 0,
        })
    }

    /// Takes bytes to write after what is pending.
    pub fn give(&mut self, data: Vec<u8>) {
        if self.has_pending() {
            self.pending.drain(..self.written);
            self.pending.extend_from_slice(&data);
        } else {
            self.pending = data;
        }
        self.written = 0;
    }

    /// Ready when the stream can take more bytes.
    pub fn pollable(&self) -> &Pollable {
        &self.ready
    }

    /// Bytes are waiting for the stream.
    pub fn has_pending(&self) -> bool {
        self.written < self.pending.len()
    }

    /// How many bytes the stream takes right now (0: wait on the pollable).
    pub fn capacity(&self) -> Result<u64, Closed> {
        self.stream.check_write().map_err(|_| Closed)
    }

    /// Writes what the stream accepts without blocking: first the bytes
    /// already pending, then more from `next`, which is only asked when
    /// the stream has room (so a slow client leaves data at its source).
    pub fn pump(&mut self, mut next: impl FnMut(u64) -> Option<Vec<u8>>) -> Result<(), Closed> {
        loop {
            let room = self.capacity()?;
            if room == 0 {
                return Ok(());
            }
            if !self.has_pending() {
                match next(room) {
                    Some(data) if !data.is_empty() => {
                        self.pending = data;
                        self.written = 0;
                    }
                    _ => return Ok(()),
                }
            }
            let end = self.pending.len().min(self.written + room as usize);
            self.stream
                .write(&self.pending[self.written..end])
                .map_err(|_| Closed)?;
            self.written = end;
        }
    }

    /// Writes all of `data` after what is pending, blocking as the stream
    /// requires (small bodies, the last bytes).
    pub fn write_all(&mut self, data: &[u8]) -> Result<(), Closed> {
        let mut rest = (!data.is_empty()).then(|| data.to_vec());
        while rest.is_some() || self.has_pending() {
            self.pump(|_| rest.take())?;
            if rest.is_some() || self.has_pending() {
                self.ready.block();
            }
        }
        Ok(())
    }

    /// Writes what is still pending, then ends the body cleanly; the host
    /// checks it against Content-Length.
    pub fn finish(mut self) {
        if self.write_all(&[]).is_err() {
            return log("the client went away before the end");
        }
        let Sink {
            ready,
            stream,
            body,
            ..
        } = self;
        let flushed = stream.blocking_flush();
        drop(ready);
        drop(stream);
        match flushed {
            Ok(()) | Err(StreamError::Closed) => {
                if let Err(e) = OutgoingBody::finish(body, None) {
                    log(&format!("the response did not end cleanly: {e:?}"));
                }
            }
            Err(StreamError::LastOperationFailed(e)) => {
                log(&format!("the response was cut: {}", e.to_debug_string()));
            }
        }
    }
}
