//! The live progress bar, drawn by the host from the bytes it carries for
//! the component (the component itself never sees a terminal here).

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use indicatif::{
    HumanBytes, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle,
};
use rangeget_core::batch_progress::BatchProgress;
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
    /// Where a batch stands, as the component last said.
    batch: Arc<Mutex<Option<BatchProgress>>>,
    /// A run of several files: its bar waits for the component's first
    /// word on them instead of showing a one-file bar meanwhile.
    several: bool,
}

impl Progress {
    /// A bar on stderr when it is a terminal and the user did not ask for
    /// quiet; `several`: the run is a batch.
    pub fn new(quiet: bool, several: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                batch: Arc::default(),
                several,
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bar:30.cyan/blue} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta_once_moving:>4} {msg}",
            )
            .expect("the template is valid")
            .with_key("eta_once_moving", eta_once_moving)
            .progress_chars("=> "),
        );
        Progress {
            bar: Some(bar),
            batch: Arc::default(),
            several,
        }
    }

    /// Where the batch stands now (the component's progress line).
    pub fn batch(&self, progress: BatchProgress) {
        *self.batch.lock().unwrap() = Some(progress);
    }

    /// Where the batch stood at the component's last progress line (at
    /// most 200 ms ago), if it is a batch that said so.
    pub fn last_batch(&self) -> Option<BatchProgress> {
        self.batch.lock().unwrap().clone()
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
        let batch = Arc::clone(&self.batch);
        let several = self.several;
        let client = client.clone();
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            // With -i, each file announces a new size: its bar starts from
            // what has been carried so far, with nothing reused.
            let (mut shown_total, mut baseline, mut reused) = (0, 0, reused);
            let mut batch_bar: Option<BatchBar> = None;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.notified() => return,
                }
                if let Some(progress) = batch.lock().unwrap().clone() {
                    let carried = client.stats.bytes_received.load(Ordering::Relaxed);
                    batch_bar
                        .get_or_insert_with(|| BatchBar::start(&bar))
                        .draw(&bar, &progress, carried);
                    continue;
                }
                if several {
                    continue;
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

/// The ETA, from the rate the bar moves at (bytes, or a batch's files):
/// none before it has moved at all (there is no rate yet; indicatif's own
/// `{eta}` says "0s" then).
fn eta_once_moving(state: &ProgressState, out: &mut dyn std::fmt::Write) {
    let _ = if state.pos() == 0 {
        out.write_str("-")
    } else {
        write!(out, "{:#}", HumanDuration(state.eta()))
    };
}

/// A batch's bar: files done out of all, bytes carried and the speed of
/// the last seconds, and the files under way.
struct BatchBar {
    /// (when, bytes carried then), over the last few seconds.
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl BatchBar {
    const WINDOW: Duration = Duration::from_secs(3);

    fn start(bar: &ProgressBar) -> BatchBar {
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {pos}/{len} files {bar:20.cyan/blue} ETA {eta_once_moving:>4} {wide_msg}",
            )
            .expect("the template is valid")
            .with_key("eta_once_moving", eta_once_moving)
            .progress_chars("=> "),
        );
        bar.reset_eta();
        BatchBar {
            samples: Default::default(),
        }
    }

    fn draw(&mut self, bar: &ProgressBar, progress: &BatchProgress, carried: u64) {
        let now = Instant::now();
        self.samples.push_back((now, carried));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > Self::WINDOW)
        {
            self.samples.pop_front();
        }
        let speed = match self.samples.front() {
            Some((at, bytes)) if now > *at => {
                (carried - bytes) as f64 / now.duration_since(*at).as_secs_f64()
            }
            _ => 0.0,
        };
        bar.set_length(progress.files as u64);
        bar.set_position(progress.done as u64);
        let failed = match progress.failed {
            0 => String::new(),
            n => format!(" · {n} failed"),
        };
        bar.set_message(format!(
            "{} {}/s{failed} · {}",
            HumanBytes(carried),
            HumanBytes(speed as u64),
            progress.describe_active()
        ));
    }
}
