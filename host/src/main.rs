//! `rangeget`, the native CLI.
//!
//! The download logic is the embedded WebAssembly component; this binary
//! only grants it capabilities (the output directory, outgoing HTTP through
//! a pooled client with enforced limits), runs it in wasmtime, and turns its
//! outcome and Ctrl-C into exit codes.

mod connector;
mod engine_config;
mod http_client;
mod runner;
mod sandbox;

use std::process::ExitCode;
use std::time::Duration;

use rangeget_core::naming::file_name_from_url;
use rangeget_core::options::Options;

use crate::http_client::{HttpClient, RequestLimits};

/// The conventional status for "terminated by SIGINT".
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let options = match Options::parse_from(std::env::args_os()) {
        Ok(options) => options,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(err.exit_code() as u8);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rangeget: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        tokio::select! {
            result = download(options) => match result {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("rangeget: error: {e:#}");
                    ExitCode::FAILURE
                }
            },
            _ = tokio::signal::ctrl_c() => {
                // Finished chunks and in-chunk progress are already in the
                // meta file (saved atomically at least once a second), so
                // stopping here loses at most the last second of transfer.
                eprintln!("\nrangeget: interrupted; run the same command again to resume");
                // Skip runtime shutdown: in-flight requests need not finish.
                std::process::exit(EXIT_INTERRUPTED.into());
            }
        }
    })
}

async fn download(mut options: Options) -> anyhow::Result<bool> {
    let default_name = file_name_from_url(&options.url);
    let output = sandbox::map_output(
        options.output.as_deref().unwrap_or(&default_name),
        &default_name,
    )?;
    options.output = Some(output.guest_path.clone());
    let timeout = Duration::from_secs(options.timeout_secs);
    let client = HttpClient::new(RequestLimits {
        max_in_flight: options.connections as usize,
        connect_timeout: timeout.min(Duration::from_secs(30)),
        first_byte_timeout: timeout,
    });
    runner::run(&options.to_args(), &output, client).await
}
