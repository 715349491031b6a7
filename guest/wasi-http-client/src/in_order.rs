//! A fetch that delivers in order (`-o -`, a device, a proxy's client),
//! pumped into one `wasi:io` output stream: a delivery is written only as
//! fast as the reader takes it, and the fetch hands over the next one only
//! once the last is all written, so a slow reader holds requests back
//! instead of filling memory. The command and the proxy differ only in
//! what the stream is and what they do with the other outputs.

use rangeget_core::fetch::{Fetch, Input, Output};
use rangeget_core::Failure;
use wasip2::io::poll::Pollable;
use wasip2::io::streams::{OutputStream, StreamError};

use crate::client::Trace;
use crate::clock;
use crate::exchanges::Exchanges;

/// What the adapter sees of a pump in order, besides the outputs it
/// handles itself.
pub enum Seen<'a> {
    /// A delivery, before it is written (for a digest).
    Delivered(&'a [u8]),
    /// The pump is about to wait, `written` bytes out of `size` (progress).
    Waiting { written: u64, size: Option<u64> },
}

/// An output stream written without blocking, as fast as its reader goes.
pub struct Paced {
    // Declared first: a pollable is dropped before the stream it watches.
    ready: Pollable,
    stream: OutputStream,
    /// A delivery not all written yet.
    pending: Vec<u8>,
    at: usize,
    written: u64,
}

impl Paced {
    pub fn new(stream: OutputStream) -> Paced {
        Paced {
            ready: stream.subscribe(),
            stream,
            pending: Vec::new(),
            at: 0,
            written: 0,
        }
    }

    /// Bytes the stream has taken so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn has_pending(&self) -> bool {
        self.at < self.pending.len()
    }

    /// Takes bytes to write after what is pending.
    pub fn give(&mut self, data: Vec<u8>) {
        if self.has_pending() {
            self.pending.drain(..self.at);
            self.pending.extend_from_slice(&data);
        } else {
            self.pending = data;
        }
        self.at = 0;
    }

    /// Writes what the reader takes now, without blocking.
    pub fn write_ready(&mut self) -> Result<(), StreamError> {
        while self.has_pending() {
            let room = self.stream.check_write()?;
            if room == 0 {
                return Ok(());
            }
            let end = self.pending.len().min(self.at + room as usize);
            self.stream.write(&self.pending[self.at..end])?;
            self.written += (end - self.at) as u64;
            self.at = end;
        }
        Ok(())
    }

    /// Writes what is left, waiting for the reader, then flushes.
    pub fn finish(&mut self) -> Result<(), StreamError> {
        loop {
            self.write_ready()?;
            if !self.has_pending() {
                return self.flush();
            }
            self.ready.block();
        }
    }

    /// Hands what was written on to the reader, waiting for it.
    pub fn flush(&mut self) -> Result<(), StreamError> {
        self.stream.blocking_flush()
    }

    /// Writes what the reader takes now; once the last delivery is all
    /// written, the fetch may deliver the next.
    fn pump(&mut self, fetch: &mut Fetch) -> Result<(), StreamError> {
        if self.has_pending() {
            self.write_ready()?;
            if !self.has_pending() {
                fetch.handle(Input::Taken, clock::now_ms());
            }
        }
        Ok(())
    }
}

impl<T: Trace> Exchanges<T> {
    /// [`Exchanges::poll`] for a fetch that delivers in order into `to`:
    /// deliveries and waits are carried out here (`seen` is told of
    /// each, see [`Seen`]), every other output is returned.
    /// With no stream to write into yet, a delivery is returned too. An
    /// error: the stream took no more.
    pub fn poll_in_order(
        &mut self,
        fetch: &mut Fetch,
        mut to: Option<&mut Paced>,
        seen: &mut impl FnMut(Seen),
    ) -> Result<Output, StreamError> {
        loop {
            match self.poll(fetch) {
                Output::Deliver(piece) => {
                    let Some(paced) = to.as_deref_mut() else {
                        return Ok(Output::Deliver(piece));
                    };
                    seen(Seen::Delivered(&piece));
                    paced.give(piece);
                    paced.pump(fetch)?;
                }
                Output::Wait(deadline) => {
                    let written = to.as_deref().map_or(0, Paced::written);
                    let size = fetch.progress().1;
                    seen(Seen::Waiting { written, size });
                    let timer = deadline.map(clock::wake_at);
                    let reader = to.as_deref().filter(|p| p.has_pending());
                    let extra: Vec<&Pollable> =
                        timer.iter().chain(reader.map(|p| &p.ready)).collect();
                    for id in self.wait(fetch, &extra) {
                        // Nothing is written here: a failure would be the
                        // disk's, and a stream has none.
                        let _ = self.service(id, fetch, &mut |_, _| Ok::<(), Failure>(()));
                    }
                    if let Some(paced) = to.as_deref_mut() {
                        paced.pump(fetch)?;
                    }
                }
                other => return Ok(other),
            }
        }
    }
}
