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
mod locks;
mod plugin;
mod progress;
mod proxy_settings;
mod runner;
mod sandbox;
mod serve;
mod signals;
mod socks5;
mod stdout_pipe;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use rangeget_core::failure::{Reason, EXIT_INTERRUPTED};
use rangeget_core::meta::MAX_META_BYTES;
use rangeget_core::naming::file_name_from_url;
use rangeget_core::report::FailureReport;
use rangeget_core::{Failure, MetaFile};
use rangeget_options::Options;

use crate::http_client::{HttpClient, RequestLimits};
use crate::progress::Progress;
use crate::proxy_settings::ProxySettings;
use crate::sandbox::Output;

fn main() -> ExitCode {
    let stop_signals = signals::block_stop_signals();
    if std::env::args_os().nth(1).is_some_and(|arg| arg == "serve") {
        return serve::main(std::env::args_os().skip(2).collect(), stop_signals);
    }
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "plugin")
    {
        return plugin::main(std::env::args_os().skip(2).collect());
    }
    // A write past RLIMIT_FSIZE must fail with EFBIG, which the component
    // reports as a file error, instead of killing the process with SIGXFSZ.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let mut options = match Options::parse_from(std::env::args_os()) {
        Ok(options) => options,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(err.exit_code() as u8);
        }
    };
    let progress = Progress::new(options.quiet, options.is_batch());
    let output = match sandbox::grant_output(&mut options) {
        Ok(output) => output,
        Err(e) => {
            let failure = Failure::from(Reason::Destination(format!("{e:#}")));
            report_failure(&progress, &options, &failure);
            return ExitCode::from(failure.kind().exit_code());
        }
    };
    let token = locks::new_token();
    options.lock_token = Some(token);
    // This run's token in the registry of live runs, and the gone runs'
    // locks in its directory named to the component, which takes them
    // over at once instead of watching each for a whole lease.
    let liveness = output
        .directory()
        .and_then(|_| locks::Liveness::join(token));
    if let (Some(liveness), Some(dir)) = (&liveness, output.directory()) {
        let levels = if options.is_batch() {
            locks::LIST_DEPTH
        } else {
            0
        };
        options.gone_tokens = locks::gone_holders(&dir.host_dir, levels, liveness);
    }
    let own_liveness = liveness.as_ref().and_then(locks::Liveness::own_path);
    // A batch's bar is drawn from what the component says of its files,
    // and an interrupted batch says how far it got.
    options.progress_events = options.is_batch();
    let bar = progress.clone();
    let locked_dir = output.directory().map(|o| o.host_dir.clone());
    let json = options.json;
    stop_signals.on_stop(move |signal| {
        bar.finish();
        // Finished chunks and in-chunk progress are already in the meta
        // file (saved atomically every few milliseconds), so stopping here
        // loses at most the last moment of transfer.
        if let Some(dir) = &locked_dir {
            locks::release(dir, token);
        }
        if let Some(path) = &own_liveness {
            let _ = std::fs::remove_file(path);
        }
        let which = match signal {
            libc::SIGINT => String::new(),
            other => format!(" ({})", signals::name(other)),
        };
        // Skip runtime shutdown: in-flight requests need not finish. Ctrl-C
        // exits 130 as always; the others 128 + their number, as shells do.
        let code = match signal {
            libc::SIGINT => i32::from(EXIT_INTERRUPTED),
            other => 128 + other,
        };
        match bar.last_batch() {
            // Files that ended since the last progress line are not
            // counted: a moment's lag, and the rerun skips them anyway.
            Some(batch) => {
                if json {
                    // Not println!: a closed stdout must not stop the exit.
                    let line = batch.interrupted_json(code);
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
                eprintln!(
                    "rangeget: interrupted{which} with {}; run the same command again \
                     to finish the rest",
                    batch.ended_so_far()
                );
            }
            None => {
                eprintln!("rangeget: interrupted{which}; run the same command again to resume")
            }
        }
        std::process::exit(code);
    });
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rangeget: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exit = runtime.block_on(async {
        match download(options, output, &progress).await {
            Ok(status) => ExitCode::from(status),
            Err(e) => {
                progress.finish();
                eprintln!("rangeget: error: {e:#}");
                ExitCode::FAILURE
            }
        }
    });
    progress.finish();
    exit
}

/// A failure found before the component runs, told as it would tell it:
/// the error line, and with `--json` the report on stdout.
fn report_failure(progress: &Progress, options: &Options, failure: &Failure) {
    if options.json {
        let path = options.output_path(&file_name_from_url(&options.url));
        let report = FailureReport::new(&options.url, &path, failure);
        progress.print_line(progress::Target::Stdout, &report.to_json());
    }
    progress.print_line(progress::Target::Stderr, &failure.error_line());
}

/// The tokio runtime that both `rangeget URL` and `rangeget serve` run on.
pub(crate) fn async_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// What the host reads or grants on the component's behalf, which its
/// sandbox cannot: the proxies (from the environment or `--proxy`), the
/// `.netrc`'s text (handed over even when an optional one is missing, as
/// empty, so that the component does not look for it where it cannot
/// see), and the directories of the cookie files.
fn read_for_component(
    options: &mut Options,
    output: &Output,
    progress: &Progress,
) -> Result<(ProxySettings, Option<String>, Vec<sandbox::Grant>), String> {
    let mut proxies = ProxySettings::from_env(options.proxy.take().as_deref())?;
    // The header is the proxy's: WASI HTTP cannot send it, and the host
    // makes the proxy connections anyway.
    if let Some(value) = options.take_proxy_authorization() {
        if !proxies.authorize(&value) && !options.quiet {
            progress.print_line(
                progress::Target::Stderr,
                "rangeget: -H Proxy-Authorization is not sent: no HTTP proxy is set \
                 (--proxy, http_proxy, https_proxy, all_proxy)",
            );
        }
    }
    let env = |name: &str| std::env::var(name).ok();
    let netrc = options.netrc_text(env, |path| std::fs::read_to_string(path))?;
    let netrc = options.wants_netrc().then(|| netrc.unwrap_or_default());
    let grants = sandbox::cookie_dirs(options, output.directory()).map_err(|e| format!("{e:#}"))?;
    Ok((proxies, netrc, grants))
}

/// Runs the download; its exit status.
async fn download(mut options: Options, output: Output, progress: &Progress) -> anyhow::Result<u8> {
    // WASI cannot tell how much room is left; the component checks a
    // download against this figure before it starts.
    options.free_space = output.directory().and_then(|o| free_space(&o.host_dir));
    let (proxies, netrc, grants) = match read_for_component(&mut options, &output, progress) {
        Ok(read) => read,
        Err(e) => {
            let failure = Failure::from(Reason::Usage(e));
            report_failure(progress, &options, &failure);
            return Ok(failure.kind().exit_code());
        }
    };
    let timeout = Duration::from_secs(options.timeout_secs);
    let client = HttpClient::new(
        RequestLimits {
            // The run's budget (the component keeps within it), and one
            // more: a probe may hold an answer while it checks it with a HEAD.
            max_in_flight: options.connection_budget().0 + 1,
            connect_timeout: Duration::from_secs(options.connect_timeout_secs),
            first_byte_timeout: timeout,
        },
        proxies,
    );
    let reused = output.directory().map_or(0, |o| {
        bytes_already_downloaded(&o.host_meta_path(), &options.url)
    });
    let ticker = progress.track(&client, reused);
    let args = options.to_args();
    let outcome = runner::run(&args, netrc, &grants, output, client, progress).await;
    if let Some(ticker) = ticker {
        ticker.stop().await;
    }
    outcome
}

/// What a previous run recorded, so the bar starts where the download does.
/// Only a regular file of a meta's size is read: whatever sits at that
/// path (a FIFO, gigabytes) is the component's to report.
fn bytes_already_downloaded(meta: &Path, url: &str) -> u64 {
    let readable =
        std::fs::symlink_metadata(meta).is_ok_and(|m| m.is_file() && m.len() <= MAX_META_BYTES);
    readable
        .then(|| std::fs::read(meta).ok())
        .flatten()
        .and_then(|bytes| MetaFile::parse(&bytes).ok())
        .filter(|meta| meta.url == url)
        .map_or(0, |meta| meta.bytes_on_disk())
}

/// Free bytes for an unprivileged user on the file system of `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stats` a writable statvfs.
    let result = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if result != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded, so it filled `stats` in.
    let stats = unsafe { stats.assume_init() };
    // The field types differ between platforms (u32 on some).
    #[allow(clippy::useless_conversion)]
    Some(u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize)))
}
