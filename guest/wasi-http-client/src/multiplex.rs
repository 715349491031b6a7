//! Waiting on many requests at once.

use wasip2::io::poll::{poll, Pollable};

/// Blocks until at least one of `watched` or `extra` (a timer, the
/// client's body) is ready, and returns the indices of the ready ones
/// among `watched`.
pub fn ready(watched: &[&Pollable], extra: &[&Pollable]) -> Vec<usize> {
    let mut pollables = watched.to_vec();
    pollables.extend_from_slice(extra);
    if pollables.is_empty() {
        // Nothing to wait for; `poll` refuses an empty list.
        return Vec::new();
    }
    poll(&pollables)
        .into_iter()
        .map(|i| i as usize)
        .filter(|&i| i < watched.len())
        .collect()
}
