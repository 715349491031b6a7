//! Everything that touches WASI. Decisions are delegated to `rangeget_core`.

mod batch;
mod checksum;
mod files;
mod http;
mod job;
mod lease;
mod list;
mod output;
mod report;
mod stream;

use rangeget_core::batch::PathClaims;
use rangeget_core::failure::Reason;
use rangeget_core::Failure;
use rangeget_options::{Options, NETRC_TEXT_VAR};

/// Runs the command and returns its exit status.
pub fn run() -> i32 {
    let options = match Options::parse_from(std::env::args()) {
        Ok(options) => options,
        Err(err) => {
            // --help and --version go to stdout, usage errors to stderr.
            let _ = err.print();
            return err.exit_code();
        }
    };
    report::set_quiet(options.quiet);
    report::set_verbose(options.verbose);
    lease::set_gone_holders(&options.gone_tokens);
    match start(&options) {
        Ok(status) => status,
        Err(failure) => {
            eprintln!("{}", failure.error_line());
            i32::from(failure.kind().exit_code())
        }
    }
}

/// Where the run's bytes go: stdout, a device, or files (one or a batch).
fn start(options: &Options) -> Result<i32, Failure> {
    let usage = |message: String| Failure::from(Reason::Usage(message));
    // The native CLI hands over the text it read; a runtime, the file.
    let netrc = match std::env::var(NETRC_TEXT_VAR) {
        Ok(text) => Ok(Some(text)),
        Err(_) => options.netrc_text(
            |name| std::env::var(name).ok(),
            |path| std::fs::read_to_string(path),
        ),
    };
    http::set_netrc(
        netrc
            .and_then(|text| options.netrc_use(text))
            .map_err(usage)?,
    );
    if options.input_file.is_some() {
        options.check_before_run().map_err(usage)?;
        let mut claims = PathClaims::default();
        let list = list::ListSource::open(options, &mut claims)?;
        return Ok(batch::run(
            options,
            list::Downloads::Listed(Box::new(list)),
            claims,
        ));
    }
    let (downloads, claims) = options.given_downloads().map_err(usage)?;
    if options.to_stdout() {
        return Ok(stream::run(&downloads[0], stream::Destination::Stdout));
    }
    if !options.is_batch() {
        if let Some(device) = device_at(&downloads[0])? {
            return Ok(stream::run(&downloads[0], device));
        }
    }
    Ok(batch::run(options, downloads.into(), claims))
}

/// A character device or FIFO that `-o` names (`/dev/null`): the file is
/// streamed into it in order, as with `-o -`, never replacing it.
fn device_at(options: &Options) -> Result<Option<stream::Destination>, Failure> {
    if options.output.is_none() {
        return Ok(None);
    }
    let path = options.path_from_url();
    let Ok(out) = output::OutputDir::for_path(&path) else {
        return Ok(None);
    };
    Ok(out
        .open_device()?
        .map(|(file, stream)| stream::Destination::Device { file, stream, path }))
}
