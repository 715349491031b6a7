//! Everything that touches WASI. Decisions are delegated to `rangeget_core`.

mod batch;
mod checksum;
mod http;
mod job;
mod lease;
mod output;
mod report;
mod stream;
mod transfer;
mod wait;

use rangeget_core::failure::Reason;
use rangeget_core::Failure;
use rangeget_options::Options;

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
    let input_text = match &options.input_file {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => {
                let failure = Failure::from(Reason::Io {
                    operation: "read".into(),
                    path: format!("the input file {path}"),
                    error: e.to_string(),
                    hint: "",
                });
                eprintln!("{}", failure.error_line());
                return i32::from(failure.kind().exit_code());
            }
        },
        None => None,
    };
    let downloads = match options.expand(input_text.as_deref()) {
        Ok(downloads) => downloads,
        Err(message) => {
            let failure = Failure::from(Reason::Usage(message));
            eprintln!("{}", failure.error_line());
            return i32::from(failure.kind().exit_code());
        }
    };
    if options.to_stdout() {
        return stream::run(&downloads[0]);
    }
    batch::run(&options, downloads)
}
