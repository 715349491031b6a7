//! The component's stdout and stderr, as the host hands them over: every
//! line is passed on (around the progress bar, when one is drawn), and the
//! final error line on stderr is read back for its failure kind, the
//! component's only portable way of saying *why* it failed.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rangeget_core::batch_progress::BatchProgress;
use rangeget_core::FailureKind;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::progress::{Progress, Target};

#[derive(Default)]
struct Seen {
    partial: Vec<u8>,
    failure: Option<FailureKind>,
}

/// Cloned into the WASI context; all clones share one line buffer.
#[derive(Clone)]
pub struct GuestOutput {
    target: Target,
    seen: Arc<Mutex<Seen>>,
    progress: Progress,
}

impl GuestOutput {
    pub fn new(target: Target, progress: Progress) -> GuestOutput {
        GuestOutput {
            target,
            seen: Arc::default(),
            progress,
        }
    }

    /// The kind named by the component's error line, if it printed one.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        let mut seen = self.seen.lock().unwrap();
        let rest = std::mem::take(&mut seen.partial);
        if !rest.is_empty() {
            self.line(&mut seen, &rest);
        }
        seen.failure
    }

    fn write(&self, bytes: &[u8]) {
        let mut seen = self.seen.lock().unwrap();
        seen.partial.extend_from_slice(bytes);
        while let Some(newline) = seen.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = seen.partial.drain(..=newline).collect();
            self.line(&mut seen, &line[..line.len() - 1]);
        }
    }

    fn line(&self, seen: &mut Seen, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        if self.target == Target::Stderr {
            if let Some(batch) = BatchProgress::from_line(&text) {
                self.progress.batch(batch);
                return;
            }
            // With several files, the worst failure decides the exit code.
            if let Some(kind) = FailureKind::from_error_line(&text) {
                let worse = seen
                    .failure
                    .is_none_or(|k| kind.exit_code() > k.exit_code());
                if worse {
                    seen.failure = Some(kind);
                }
            }
        }
        self.progress.print_line(self.target, &text);
    }
}

impl IsTerminal for GuestOutput {
    /// Always false: the host draws the progress, so the component must not.
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
