//! The rangeget proxy component: a `wasi:http/proxy` for edge and
//! serverless platforms.
//!
//! Each incoming `GET` or `HEAD` names an object under the configured
//! origin; the component fetches it with several validated range requests
//! at once (the same planning and validation as the command, from
//! `rangeget-core`) and streams it to the client in order. Configuration
//! comes from the environment (see [`config`]); the path rules that keep it
//! from fetching anything outside its origin are in [`origin_path`]. Both
//! are plain Rust, tested natively; the WASI driver exists only on wasm.

pub mod baked;
pub mod config;
pub mod origin_path;

#[cfg(target_os = "wasi")]
mod component;
