//! The WASI side both of rangeget's components share: outgoing HTTP over
//! `wasi:http`, readable without blocking so that many requests can be
//! multiplexed with `wasi:io/poll`; the exchanges that carry an engine's
//! requests; and the clock. The command (downloads to a file) and the
//! proxy (streams to an incoming request) differ only in where bytes go.
//! It only makes sense on `wasm32-wasip2`; natively the crate holds only the
//! exchanges' unit tests, run against a scripted server (`fake.rs`), so
//! workspace-wide native builds still succeed.

#[cfg(target_os = "wasi")]
mod client;
// Natively, the pump's unit tests put a scripted server and a clock moved
// by hand where wasi:http and wasi:io are (see `fake`).
#[cfg(all(test, not(target_os = "wasi")))]
#[path = "fake.rs"]
mod client;

#[cfg(target_os = "wasi")]
pub mod clock;
#[cfg(all(test, not(target_os = "wasi")))]
use client::clock;
// Natively only the tests use it, and not all of it.
#[cfg(any(target_os = "wasi", test))]
#[cfg_attr(not(target_os = "wasi"), allow(dead_code))]
mod exchanges;
#[cfg(target_os = "wasi")]
mod in_order;
#[cfg(target_os = "wasi")]
mod multiplex;
#[cfg(all(test, not(target_os = "wasi")))]
use client::multiplex;
#[cfg(all(test, not(target_os = "wasi")))]
mod pump_tests;

#[cfg(target_os = "wasi")]
pub use client::*;
#[cfg(target_os = "wasi")]
pub use exchanges::Exchanges;
#[cfg(target_os = "wasi")]
pub use in_order::{Paced, Seen};
#[cfg(target_os = "wasi")]
pub use multiplex::ready;
