//! Waiting in a way that keeps this run's lease on its destination (see
//! `lease`): the drivers wake in time to renew it, however long the
//! engine's own wait would be.

use rangeget_core::request::Event;
use rangeget_core::Failure;
use rangeget_wasi_http::Hooks;

use super::lease;
use super::report::{trace, warn};

/// The earlier of `deadline` and the lease's next renewal: a loop that
/// waits until then and calls `lease::renew_due` keeps the leases.
pub fn with_lease(deadline: Option<u64>) -> Option<u64> {
    match (deadline, lease::next_renewal_ms()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How the command drives its engines: events are warnings (timings are
/// `-v` lines), and every wait keeps the lease.
pub struct CommandHooks;

impl Hooks for CommandHooks {
    fn event(&mut self, event: Event) {
        match event {
            Event::Timing { .. } => trace(|| event.to_string()),
            _ => warn(&event.to_string()),
        }
    }

    fn deadline(&self, engine: Option<u64>) -> Option<u64> {
        with_lease(engine)
    }

    fn woke(&mut self) -> Result<(), Failure> {
        lease::renew_due();
        Ok(())
    }
}
