//! What the user reads: warnings and the progress line on stderr, the
//! summary or JSON report on stdout.

use std::sync::atomic::{AtomicBool, Ordering};

use rangeget_core::report::Told;
use rangeget_core::request::Event;
use rangeget_core::size::format_size;
use wasip2::cli::terminal_stderr::get_terminal_stderr;

static QUIET: AtomicBool = AtomicBool::new(false);
static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
}

/// A `-v` line: what went over the wire.
pub fn trace(message: impl FnOnce() -> String) {
    if VERBOSE.load(Ordering::Relaxed) {
        eprintln!("rangeget: {}", message());
    }
}

pub fn warn(message: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("rangeget: {message}");
    }
}

/// A one-line progress display, only when stderr is a terminal the
/// component owns (e.g. under `wasmtime run`); a host that draws its own
/// progress gives it no terminal, and pipes get nothing.
pub struct ProgressLine {
    enabled: bool,
    last_ms: u64,
    start_ms: u64,
    start_bytes: u64,
}

impl ProgressLine {
    const INTERVAL_MS: u64 = 500;

    pub fn new(now_ms: u64, start_bytes: u64) -> ProgressLine {
        let enabled = !QUIET.load(Ordering::Relaxed) && get_terminal_stderr().is_some();
        ProgressLine {
            enabled,
            last_ms: now_ms,
            start_ms: now_ms,
            start_bytes,
        }
    }

    /// `files`: with several, how many ended out of how many.
    pub fn update(
        &mut self,
        now_ms: u64,
        received: u64,
        total: Option<u64>,
        files: Option<(usize, usize)>,
    ) {
        if !self.enabled || now_ms < self.last_ms + Self::INTERVAL_MS {
            return;
        }
        self.last_ms = now_ms;
        let seconds = (now_ms - self.start_ms).max(1) as f64 / 1000.0;
        let rate = (received.saturating_sub(self.start_bytes)) as f64 / seconds;
        let line = match total {
            Some(total) => format!(
                "{} / {} ({:.0}%) {}/s",
                format_size(received),
                format_size(total),
                received as f64 * 100.0 / total.max(1) as f64,
                format_size(rate as u64)
            ),
            None => format!("{} {}/s", format_size(received), format_size(rate as u64)),
        };
        let files = files.map_or(String::new(), |(done, all)| {
            format!("{done}/{all} files · ")
        });
        // \r and clear-to-end-of-line redraw in place.
        eprint!("\r{files}{line}\x1b[K");
    }

    pub fn clear(&self) {
        if self.enabled {
            eprint!("\r\x1b[K");
        }
    }
}

/// A fetch's event, told: a warning (timings are `-v` lines).
pub fn tell(event: Event) {
    match event {
        Event::Timing { .. } => trace(|| event.to_string()),
        _ => warn(&event.to_string()),
    }
}

/// Lines the core wrote to tell how something ended, each where it goes.
pub fn say(told: Told) {
    if let Some(line) = told.stdout {
        println!("{line}");
    }
    if let Some(line) = told.stderr {
        eprintln!("{line}");
    }
}
