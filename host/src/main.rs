//! `rangeget`, the native CLI.
//!
//! The download logic is the embedded WebAssembly component; this binary
//! only grants it capabilities (the output directory, outgoing HTTP through
//! a pooled client with enforced limits), runs it in wasmtime, draws the
//! progress bar, and turns its outcome and Ctrl-C into exit codes.

mod connector;
mod embedded;
mod engine_config;
mod guest_output;
mod http_client;
mod progress;
mod proxy_settings;
mod runner;
mod sandbox;
mod serve;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use rangeget_core::failure::{FailureKind, EXIT_INTERRUPTED};
use rangeget_core::options::Options;
use rangeget_core::{Failure, MetaFile};

use crate::http_client::{HttpClient, RequestLimits};
use crate::progress::Progress;
use crate::proxy_settings::ProxySettings;
use crate::runner::RunOutcome;

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|arg| arg == "serve") {
        return serve::main(std::env::args_os().skip(2).collect());
    }
    // A write past RLIMIT_FSIZE must fail with EFBIG, which the component
    // reports as a file error, instead of killing the process with SIGXFSZ.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let options = match Options::parse_from(std::env::args_os()) {
        Ok(options) => options,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(err.exit_code() as u8);
        }
    };
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rangeget: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let progress = Progress::new(options.quiet);
    let exit = runtime.block_on(async {
        tokio::select! {
            result = download(options, &progress) => match result {
                Ok(RunOutcome::Success) => ExitCode::SUCCESS,
                Ok(RunOutcome::Failed(kind)) => kind.map_or(ExitCode::FAILURE, |k| ExitCode::from(k.exit_code())),
                Err(e) => {
                    progress.finish();
                    eprintln!("rangeget: error: {e:#}");
                    ExitCode::FAILURE
                }
            },
            _ = tokio::signal::ctrl_c() => {
                progress.finish();
                // Finished chunks and in-chunk progress are already in the
                // meta file (saved atomically at least once a second), so
                // stopping here loses at most the last second of transfer.
                eprintln!("rangeget: interrupted; run the same command again to resume");
                // Skip runtime shutdown: in-flight requests need not finish.
                std::process::exit(EXIT_INTERRUPTED.into());
            }
        }
    });
    progress.finish();
    exit
}

/// The tokio runtime that both `rangeget URL` and `rangeget serve` run on.
pub(crate) fn async_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

async fn download(mut options: Options, progress: &Progress) -> anyhow::Result<RunOutcome> {
    let output = match sandbox::grant_output(&mut options) {
        Ok(output) => output,
        Err(e) => {
            let failure = Failure::file(format!("{e:#}"));
            progress.print_line(guest_output::Target::Stderr, &failure.error_line());
            return Ok(RunOutcome::Failed(Some(failure.kind)));
        }
    };
    let proxies = match ProxySettings::from_env() {
        Ok(proxies) => proxies,
        Err(e) => {
            let failure = Failure::new(FailureKind::Usage, e);
            progress.print_line(guest_output::Target::Stderr, &failure.error_line());
            return Ok(RunOutcome::Failed(Some(failure.kind)));
        }
    };
    let timeout = Duration::from_secs(options.timeout_secs);
    let client = HttpClient::new(
        RequestLimits {
            max_in_flight: options.connections as usize,
            connect_timeout: Duration::from_secs(options.connect_timeout_secs),
            first_byte_timeout: timeout,
        },
        proxies,
    );
    let reused = bytes_already_downloaded(&output.host_meta_path(), &options.url);
    let ticker = progress.track(&client, reused);
    let outcome = runner::run(&options.to_args(), &output, client, progress).await;
    if let Some(ticker) = ticker {
        ticker.stop().await;
    }
    outcome
}

/// What a previous run recorded, so the bar starts where the download does.
fn bytes_already_downloaded(meta: &Path, url: &str) -> u64 {
    std::fs::read(meta)
        .ok()
        .and_then(|bytes| MetaFile::parse(&bytes).ok())
        .filter(|meta| meta.url == url)
        .map_or(0, |meta| meta.bytes_on_disk())
}
