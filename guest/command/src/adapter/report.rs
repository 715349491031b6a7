//! What the user reads: warnings and the progress line on stderr, the
//! summary or JSON report on stdout.

use std::sync::atomic::{AtomicBool, Ordering};

use rangeget_core::report::{ProgressText, Told};
use rangeget_core::request::Event;
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
    text: ProgressText,
}

impl ProgressLine {
    pub fn new(now_ms: u64) -> ProgressLine {
        let enabled = !QUIET.load(Ordering::Relaxed) && get_terminal_stderr().is_some();
        ProgressLine {
            enabled,
            text: ProgressText::new(now_ms),
        }
    }

    /// See [`ProgressText::line`].
    pub fn update(
        &mut self,
        now_ms: u64,
        got: u64,
        total: Option<u64>,
        files: Option<(usize, usize)>,
    ) {
        if let Some(line) = self
            .enabled
            .then(|| self.text.line(now_ms, got, total, files))
            .flatten()
        {
            // \r and clear-to-end-of-line redraw in place.
            eprint!("\r{line}\x1b[K");
        }
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
        Event::Timing { .. } | Event::RoundTrip { .. } => trace(|| event.to_string()),
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
