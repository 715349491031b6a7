//! Instantiates the embedded component with exactly the capabilities one
//! download needs, and runs it.

use anyhow::{anyhow, Result};
use wasmtime::Store;
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{FsPerms, WasiCtx};

use crate::embedded::{wasm_error, ComponentState, COMMAND};
use crate::guest_output::GuestOutput;
use crate::http_client::HttpClient;
use crate::progress::{Progress, Target};
use crate::sandbox::{Grant, Output};
use crate::stdout_pipe::{StdoutPipe, BUDGET};

/// Runs the component with `args`; its exit status (the component says
/// which with `wasi:cli/exit`'s `exit-with-code`). `netrc_text`: the
/// `.netrc` the host read for it (the component does not see the home
/// directory), handed over in its environment, never its arguments.
pub async fn run(
    args: &[String],
    netrc_text: Option<String>,
    grants: &[Grant],
    output: Output,
    client: HttpClient,
    progress: &Progress,
) -> Result<u8> {
    let pre = CommandPre::new(COMMAND.prepare()?)
        .map_err(wasm_error("the embedded component is not a WASI command"))?;

    let stderr = GuestOutput::new(Target::Stderr, progress.clone());
    let mut wasi = WasiCtx::builder();
    wasi.args(args).stderr(stderr.clone());
    if let Some(text) = netrc_text {
        wasi.env(rangeget_options::NETRC_TEXT_VAR, text);
    }
    for (host, guest, write) in grants {
        let perms = if *write {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        wasi.preopened_dir(host, guest, perms)
            .map_err(wasm_error("opening a cookie file's directory"))?;
    }
    // Run filesystem calls on the calling thread: each chunk write would
    // otherwise be handed to a blocking-pool thread and back.
    wasi.allow_blocking_current_thread(true);
    let output = match output {
        // `-o -`: the file itself goes to stdout, byte for byte, written
        // by a thread of its own (see `stdout_pipe`; a closed pipe reaches
        // the component as a failed write), and no directory is granted.
        Output::Stdout => {
            widen_stdout_pipe();
            wasi.stdout(StdoutPipe::new(StdoutPipe::process_stdout()));
            return run_with(pre, wasi, stderr, client).await;
        }
        // A device or FIFO: the same, into it; the component's reports
        // come on its stderr.
        Output::Device(device) => {
            let stderr = stderr.with_reports();
            wasi.stderr(stderr.clone());
            wasi.stdout(StdoutPipe::new(device));
            return run_with(pre, wasi, stderr, client).await;
        }
        Output::Directory(mapping) => mapping,
    };
    wasi.stdout(GuestOutput::new(Target::Stdout, progress.clone()));
    wasi.preopened_dir(&output.host_dir, &output.guest_dir, FsPerms::ReadWrite)
        .map_err(wasm_error("opening the output directory"))
        .map_err(|e| {
            e.context(format!(
                "cannot use {} as the output directory",
                output.host_dir.display()
            ))
        })?;
    if output.list_on_stdin {
        wasi.inherit_stdin();
    }
    if let Some((host, guest)) = &output.input_dir {
        wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
            .map_err(wasm_error("opening the input file's directory"))?;
    }
    run_with(pre, wasi, stderr, client).await
}

async fn run_with(
    pre: CommandPre<ComponentState>,
    mut wasi: wasmtime_wasi::WasiCtxBuilder,
    stderr: GuestOutput,
    client: HttpClient,
) -> Result<u8> {
    let mut store = Store::new(pre.engine(), ComponentState::new(wasi.build(), client));
    let command = pre
        .instantiate_async(&mut store)
        .await
        .map_err(wasm_error("starting the component"))?;
    let status = match command.wasi_cli_run().call_run(&mut store).await {
        Ok(Ok(())) => 0,
        Ok(Err(())) => 1,
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => u8::try_from(exit.0).unwrap_or(1),
            None => return Err(anyhow!("the rangeget component crashed: {e:?}")),
        },
    };
    stderr.finish();
    Ok(status)
}

/// A pipe holds 64 KiB by default: the reader and rangeget then take turns
/// every 64 KiB, and the reader waits at each turn. With a pipe of 1 MiB
/// (Linux's limit for unprivileged processes) each turn is 16 times
/// longer. Nothing to do when stdout is a file or a terminal.
fn widen_stdout_pipe() {
    #[cfg(target_os = "linux")]
    // SAFETY: fcntl on our own stdout; on anything but a pipe it fails
    // harmlessly, and the pipe's data is unaffected.
    unsafe {
        libc::fcntl(
            libc::STDOUT_FILENO,
            libc::F_SETPIPE_SZ,
            BUDGET as libc::c_int,
        );
    }
}
