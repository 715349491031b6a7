//! What the proxy tells its host: lines on stderr (which hosts usually
//! collect per request), origin requests too with `VERBOSE=1`.

use std::sync::atomic::{AtomicBool, Ordering};

use rangeget_core::request::Event;
use rangeget_wasi_http::{Hooks, Trace};

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
}

/// A line on stderr.
pub fn log(message: &str) {
    eprintln!("rangeget-proxy: {message}");
}

/// Origin requests and responses, with `VERBOSE=1`.
pub struct OriginLog;

impl Trace for OriginLog {
    fn line(message: impl FnOnce() -> String) {
        if VERBOSE.load(Ordering::Relaxed) {
            log(&message());
        }
    }
}

/// The engines' events: retries are logged, timings only with `VERBOSE=1`.
pub struct ProxyHooks;

impl Hooks for ProxyHooks {
    fn event(&mut self, event: Event) {
        match event {
            Event::Timing { .. } => OriginLog::line(|| event.to_string()),
            _ => log(&event.to_string()),
        }
    }
}
