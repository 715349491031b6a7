//! The component's stdout and stderr, as the host hands them over: every
//! line is passed on (around the progress bar, when one is drawn); a batch's
//! progress lines on stderr feed the bar instead, and when the component's
//! stdout is a device the host opened for it (`--stdout-is`), its `--json`
//! report comes on stderr and goes to the host's stdout.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rangeget_core::batch_progress::BatchProgress;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use crate::progress::{Progress, Target};

/// Cloned into the WASI context; all clones share one line buffer.
#[derive(Clone)]
pub struct GuestOutput {
    target: Target,
    partial: Arc<Mutex<Vec<u8>>>,
    progress: Progress,
    /// stderr of a component whose stdout is a device: its reports come here.
    reports_on_stderr: bool,
}

impl GuestOutput {
    pub fn new(target: Target, progress: Progress) -> GuestOutput {
        GuestOutput {
            target,
            partial: Arc::default(),
            progress,
            reports_on_stderr: false,
        }
    }

    /// stderr of a component writing the file into its stdout (`--stdout-is`).
    pub fn with_reports(mut self) -> GuestOutput {
        self.reports_on_stderr = true;
        self
    }

    /// Passes on what is left of a last line without its newline.
    pub fn finish(&self) {
        let rest = std::mem::take(&mut *self.partial.lock().unwrap());
        if !rest.is_empty() {
            self.line(&rest);
        }
    }

    fn write(&self, bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap();
        partial.extend_from_slice(bytes);
        while let Some(newline) = partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = partial.drain(..=newline).collect();
            self.line(&line[..line.len() - 1]);
        }
    }

    fn line(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let mut target = self.target;
        if self.target == Target::Stderr {
            if let Some(batch) = BatchProgress::from_line(&text) {
                self.progress.batch(batch);
                return;
            }
            // A report is an object line; the component's messages never are.
            if self.reports_on_stderr && text.starts_with("{\"status\":") {
                target = Target::Stdout;
            }
        }
        self.progress.print_line(target, &text);
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
