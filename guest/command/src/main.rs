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
    let status = adapter::run();
    // Success returns from `run` rather than calling `exit`: jco (Node's
    // WASI shim) writes stdout from a worker thread, and an `exit` drops
    // what that thread still holds (a stream's last bytes), while a return
    // lets it drain first. A failure says which with `exit-with-code`
    // (WASI 0.2.12): `exit`'s plain error would reach every runtime as 1.
    if status != 0 {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        wasip2::cli::exit::exit_with_code(u8::try_from(status).unwrap_or(1));
    }
}

#[cfg(not(target_os = "wasi"))]
fn main() {
    eprintln!("rangeget-command is a WASI component: build it with --target wasm32-wasip2");
    std::process::exit(2);
}
