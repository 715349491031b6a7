//! Everything that touches WASI. Decisions are delegated to `rangeget_core`.

mod batch;
mod checksum;
mod files;
mod http;
mod job;
mod lease;
mod output;
mod report;
mod stream;
mod transfer;
mod wait;

use std::io::Read;

use rangeget_core::failure::Reason;
use rangeget_core::Failure;
use rangeget_options::{list_name, Options, STDIN_LIST};

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
    let input_text = match options.input_file.as_deref().map(read_list).transpose() {
        Ok(text) => text,
        Err(failure) => {
            eprintln!("{}", failure.error_line());
            return i32::from(failure.kind().exit_code());
        }
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

/// The text of the `-i` list: the file, or standard input for `-`.
fn read_list(path: &str) -> Result<String, Failure> {
    let mut text = String::new();
    let read = if path == STDIN_LIST {
        std::io::stdin().read_to_string(&mut text).map(|_| text)
    } else {
        std::fs::read_to_string(path)
    };
    read.map_err(|e| {
        Reason::Io {
            operation: "read".into(),
            path: match path {
                STDIN_LIST => list_name(path).to_string(),
                _ => format!("the input file {path}"),
            },
            error: e.to_string(),
            hint: "",
        }
        .into()
    })
}
