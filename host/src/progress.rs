//! The live progress bar, drawn by the host from the bytes it carries for
//! the component (the component itself never sees a terminal here).

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::Notify;

use crate::http_client::HttpClient;

/// The task updating the bar.
pub struct Tracker {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    /// Returns once the task has stopped, so no update can land after the
    /// bar is cleared (it would erase the line printed below it).
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// Which of the process's outputs a line goes to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Stdout,
    Stderr,
}

#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar on stderr when it is a terminal and the user did not ask for quiet.
    pub fn new(quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bar:30.cyan/blue} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta:>4} {msg}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        Progress { bar: Some(bar) }
    }

    /// Prints a line of the component's output without tearing the bar.
    /// A closed pipe is not an error worth dying for (`rangeget … | head`):
    /// `println!` would panic inside the stream task and leave the
    /// component waiting on its write forever, so failures are ignored.
    pub fn print_line(&self, target: Target, line: &str) {
        let print = || {
            let _ = match target {
                Target::Stdout => writeln!(std::io::stdout().lock(), "{line}"),
                Target::Stderr => writeln!(std::io::stderr().lock(), "{line}"),
            };
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Updates the bar ten times a second until the returned tracker is
    /// stopped. `reused` is what a previous run left on disk.
    pub fn track(&self, client: &HttpClient, reused: u64) -> Option<Tracker> {
        let bar = self.bar.clone()?;
        let client = client.clone();
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            // With -i, each file announces a new size: its bar starts from
            // what has been carried so far, with nothing reused.
            let (mut shown_total, mut baseline, mut reused) = (0, 0, reused);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.notified() => return,
                }
                let total = client.stats.total_size.load(Ordering::Relaxed);
                let carried = client.stats.bytes_received.load(Ordering::Relaxed);
                if total != shown_total && shown_total != 0 {
                    baseline = carried;
                    reused = 0;
                }
                shown_total = total;
                let position = reused + carried - baseline;
                if total > 0 {
                    bar.set_length(total);
                    bar.set_position(position.min(total));
                } else {
                    bar.set_position(position);
                }
                let connections = client.requests_in_flight();
                bar.set_message(format!(
                    "{connections} connection{}",
                    if connections == 1 { "" } else { "s" }
                ));
            }
        });
        Some(Tracker { stop, task })
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
