//! Outgoing HTTP requests over `wasi:http`, readable without blocking so
//! that many can be multiplexed with `wasi:io/poll`.
//!
//! Shared by rangeget's two components: the command (downloads to a file)
//! and the proxy (streams to an incoming request). It only makes sense on
//! `wasm32-wasip2`; elsewhere the crate is empty, so workspace-wide native
//! builds still succeed.

#[cfg(target_os = "wasi")]
mod client;

#[cfg(target_os = "wasi")]
mod multiplex;

#[cfg(target_os = "wasi")]
pub use client::*;
#[cfg(target_os = "wasi")]
pub use multiplex::ready_transfers;
