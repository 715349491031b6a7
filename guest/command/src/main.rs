//! The rangeget command component.
//!
//! A thin WASI 0.2 adapter around `rangeget-core`: it issues the requests the
//! core asks for over `wasi:http`, multiplexes them with `wasi:io/poll`, and
//! writes bodies at their offsets through `wasi:filesystem`. It imports only
//! standard WASI interfaces, so any WASI 0.2 runtime with wasi:http runs it.

#[cfg(target_os = "wasi")]
mod adapter;

#[cfg(target_os = "wasi")]
fn main() {
    std::process::exit(adapter::run());
}

#[cfg(not(target_os = "wasi"))]
fn main() {
    eprintln!("rangeget-command is a WASI component: build it with --target wasm32-wasip2");
    std::process::exit(2);
}
