//! The WASI side both of rangeget's components share: outgoing HTTP over
//! `wasi:http`, readable without blocking so that many requests can be
//! multiplexed with `wasi:io/poll`; the exchanges that carry an engine's
//! requests; and the clock. The command (downloads to a file) and the
//! proxy (streams to an incoming request) differ only in where bytes go. It only makes sense on
//! `wasm32-wasip2`; elsewhere the crate is empty, so workspace-wide native
//! builds still succeed.

#[cfg(target_os = "wasi")]
mod client;

#[cfg(target_os = "wasi")]
pub mod clock;
#[cfg(target_os = "wasi")]
mod exchanges;
#[cfg(target_os = "wasi")]
mod multiplex;

#[cfg(target_os = "wasi")]
pub use client::*;
#[cfg(target_os = "wasi")]
pub use exchanges::{Exchanges, Hooks, ProbeRun};
#[cfg(target_os = "wasi")]
pub use multiplex::ready;
