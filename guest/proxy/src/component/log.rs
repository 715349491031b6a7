//! What the proxy tells its host: lines on stderr (which hosts usually
//! collect per request), origin requests too with `VERBOSE=1`.

use std::sync::atomic::{AtomicBool, Ordering};

use rangeget_wasi_http::Trace;

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
