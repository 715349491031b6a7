//! stdout for `-o -` (or `-o` a device or FIFO): the component hands over
//! bytes without waiting, a thread of its own writes them to fd 1 (or the
//! device) with blocking writes, as fast as the reader takes them. The
//! component may run at most [`BUDGET`] bytes ahead.
//!
//! Why not wasmtime's own: its plain stdout blocks the component in every
//! write while the pipe is full, and the reader then starves while the
//! component fetches the next bytes; its `AsyncStdoutStream` over tokio's
//! stdout hops to a blocking-pool thread and back for every piece, which
//! cost more CPU than the download itself (perf: a third of the time in
//! thread wake-ups). Here the writer thread sleeps only when it has
//! nothing to write, and one wake-up carries every piece queued meanwhile.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Bytes the component may hand over before the reader took them.
pub const BUDGET: usize = 1 << 20;

/// A stream the component writes (the process's stdout, a device), written
/// by its own thread.
#[derive(Clone)]
pub struct StdoutPipe(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
    /// The writer has work.
    work: Condvar,
    /// The writer wrote something (or failed): room may have come back.
    wrote: Notify,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Bytes>,
    /// Bytes handed over and not yet written.
    queued: usize,
    /// A flush asked for and not yet done: no writes until it is.
    flushing: bool,
    /// How the last write failed (a reader gone: EPIPE), until told.
    error: Option<std::io::Error>,
    /// A write failed: the writer is gone, and every later call fails.
    dead: bool,
}

impl StdoutPipe {
    /// The process's stdout, as a file of its own (closing it leaves fd 1).
    pub fn process_stdout() -> File {
        let fd = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .expect("stdout can be duplicated");
        File::from(fd)
    }

    /// Writes into `target`.
    pub fn new(target: File) -> StdoutPipe {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            wrote: Notify::new(),
        });
        let writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || write_out(&writer, target))
            .expect("starting the stdout thread");
        StdoutPipe(shared)
    }
}

/// The writer thread: everything queued, in order, until a write fails.
fn write_out(shared: &Shared, mut stdout: File) {
    loop {
        let batch: Vec<Bytes> = {
            let mut state = shared.state.lock().unwrap();
            while state.queue.is_empty() {
                state.flushing = false;
                shared.wrote.notify_waiters();
                state = shared.work.wait(state).unwrap();
            }
            state.queue.drain(..).collect()
        };
        for piece in batch {
            let result = stdout.write_all(&piece);
            let mut state = shared.state.lock().unwrap();
            state.queued -= piece.len();
            if let Err(error) = result {
                state.error = Some(error);
                state.dead = true;
                state.queue.clear();
                state.queued = 0;
                state.flushing = false;
                shared.wrote.notify_waiters();
                return;
            }
            drop(state);
            shared.wrote.notify_waiters();
        }
    }
}

impl Shared {
    /// The failure, told once as it was, then as a closed stream.
    fn failed(state: &mut State) -> StreamResult<()> {
        match state.error.take() {
            Some(error) => Err(StreamError::LastOperationFailed(error.into())),
            None if state.dead => Err(StreamError::Closed),
            None => Ok(()),
        }
    }
}

impl IsTerminal for StdoutPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdoutPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASI 0.3 components ask for this; rangeget's is 0.2.
        Box::new(tokio::io::stdout())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for StdoutPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut state = self.0.state.lock().unwrap();
        Shared::failed(&mut state)?;
        if state.flushing || state.queued + bytes.len() > BUDGET {
            return Err(StreamError::trap("write past the permitted length"));
        }
        state.queued += bytes.len();
        state.queue.push_back(bytes);
        self.0.work.notify_one();
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        let mut state = self.0.state.lock().unwrap();
        Shared::failed(&mut state)?;
        if !state.queue.is_empty() || state.queued > 0 {
            state.flushing = true;
        }
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let mut state = self.0.state.lock().unwrap();
        Shared::failed(&mut state)?;
        Ok(if state.flushing {
            0
        } else {
            BUDGET - state.queued
        })
    }
}

#[async_trait::async_trait]
impl Pollable for StdoutPipe {
    /// Ready when there is room, a flush is done, or a write failed.
    async fn ready(&mut self) {
        loop {
            let wrote = self.0.wrote.notified();
            tokio::pin!(wrote);
            wrote.as_mut().enable();
            {
                let state = self.0.state.lock().unwrap();
                let room = !state.flushing && state.queued < BUDGET;
                if room || state.dead {
                    return;
                }
            }
            wrote.await;
        }
    }
}
