//! Ctrl-C, SIGTERM and SIGHUP: one clean stop for all three, taken on a
//! thread of its own. The component's file calls run on the runtime's
//! threads; one that blocks (a FIFO where a file should be, a disk that
//! hangs) must not be able to delay the stop.

use std::ffi::c_int;

/// The signals that stop rangeget the way Ctrl-C does.
const STOP_SIGNALS: [c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The stop signals, blocked so that only [`StopSignals::on_stop`]'s
/// thread receives them.
pub struct StopSignals {
    set: libc::sigset_t,
}

/// Blocks the stop signals in the calling thread and every thread it
/// starts afterwards. Call it first, before any runtime spawns threads.
pub fn block_stop_signals() -> StopSignals {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local sigset_t;
    // pthread_sigmask only changes this thread's mask.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for signal in STOP_SIGNALS {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        StopSignals { set }
    }
}

impl StopSignals {
    /// Runs `stop` with the signal's number, on a thread of its own, when
    /// one of the stop signals arrives.
    pub fn on_stop(self, stop: impl FnOnce(c_int) + Send + 'static) {
        let set = self.set;
        std::thread::Builder::new()
            .name("rangeget-signals".into())
            .spawn(move || {
                let mut signal: c_int = 0;
                // SAFETY: `set` is an initialised sigset_t holding signals
                // that every thread has blocked, as sigwait requires.
                let waited = unsafe { libc::sigwait(&set, &mut signal) };
                if waited == 0 {
                    stop(signal);
                }
            })
            .expect("a thread for signals can be started");
    }
}

/// `SIGTERM` and the like, for messages.
pub fn name(signal: c_int) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}
