//! The rangeget proxy component: a `wasi:http/proxy` for edge and
//! serverless platforms.
//!
//! Each incoming `GET` or `HEAD` names an object under the configured
//! origin; the component fetches it with several validated range requests
//! at once (`rangeget_core::fetch`, the same engine as the command) and
//! streams it to the client in order. Its settings and path rules are
//! `rangeget_core::proxy`'s; the WASI pump exists only on wasm.

#[cfg(target_os = "wasi")]
mod component;
