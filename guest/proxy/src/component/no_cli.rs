//! Keeps `wasi:cli` out of the component's imports beyond what the
//! `wasi:http/proxy` world has (stdin, stdout, stderr).
//!
//! Rust's standard library on wasm32-wasip2 sits on wasi-libc, whose
//! start-up code asks for the environment (`environ`), whether the three
//! standard streams are terminals (its descriptor table), and links `exit`.
//! The proxy uses none of them (its settings come from wasi:config), yet
//! those calls alone import `wasi:cli/environment`, `exit` and five
//! `terminal-*` interfaces, which strict hosts of the proxy world refuse.
//! wasi-libc reaches each through an import symbol; defining the symbol
//! here resolves it at link time, so the import never appears. Each gives
//! the answer a host without the interface would: no variables, not a
//! terminal, and `exit` traps (as `abort` does; the proxy never exits).

use core::arch::wasm32::unreachable;

/// `wasi:cli/environment.get-environment`: an empty list, written where
/// wasi-libc asks (pointer, length).
#[no_mangle]
unsafe extern "C" fn __wasm_import_environment_get_environment(ret: *mut usize) {
    // SAFETY: wasi-libc passes room for the list's pointer and length.
    unsafe {
        ret.write(0);
        ret.add(1).write(0);
    }
}

/// `wasi:cli/exit.exit`.
#[no_mangle]
extern "C" fn __wasm_import_exit_exit(_status: i32) {
    unreachable()
}

/// `wasi:cli/terminal-{stdin,stdout,stderr}.get-terminal-*`: `none`, not
/// a terminal (the option's tag, written where wasi-libc asks).
unsafe fn not_a_terminal(ret: *mut u8) {
    // SAFETY: wasi-libc passes room for an `option<terminal>`.
    unsafe { ret.write(0) }
}

#[no_mangle]
unsafe extern "C" fn __wasm_import_terminal_stdin_get_terminal_stdin(ret: *mut u8) {
    // SAFETY: as `not_a_terminal`.
    unsafe { not_a_terminal(ret) }
}

#[no_mangle]
unsafe extern "C" fn __wasm_import_terminal_stdout_get_terminal_stdout(ret: *mut u8) {
    // SAFETY: as `not_a_terminal`.
    unsafe { not_a_terminal(ret) }
}

#[no_mangle]
unsafe extern "C" fn __wasm_import_terminal_stderr_get_terminal_stderr(ret: *mut u8) {
    // SAFETY: as `not_a_terminal`.
    unsafe { not_a_terminal(ret) }
}

/// No terminal is ever handed out, so none is dropped.
#[no_mangle]
extern "C" fn __wasm_import_terminal_input_terminal_input_drop(_handle: i32) {}

#[no_mangle]
extern "C" fn __wasm_import_terminal_output_terminal_output_drop(_handle: i32) {}
