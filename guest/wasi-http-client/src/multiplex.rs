//! Waiting on many requests at once.

use wasip2::io::poll::{poll, Pollable};

/// Blocks until at least one of `transfers` or `extra` (a timer, an
/// outgoing body) is ready, and returns the indices of the ready
/// transfers, highest first: a caller that removes a finished transfer
/// with `swap_remove` then never shifts one it has yet to service.
pub fn ready_transfers(transfers: &[&Pollable], extra: Option<&Pollable>) -> Vec<usize> {
    let mut pollables = transfers.to_vec();
    pollables.extend(extra);
    let mut ready: Vec<usize> = poll(&pollables)
        .into_iter()
        .map(|i| i as usize)
        .filter(|&i| i < transfers.len())
        .collect();
    ready.sort_unstable_by(|a, b| b.cmp(a));
    ready
}
