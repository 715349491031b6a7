//! Everything that touches WASI. Decisions are delegated to `rangeget_core`.

mod checksum;
mod fetch;
mod http;
mod lease;
mod output;
mod probe;
mod report;
mod transfer;
mod wait;

use rangeget_core::failure::Reason;
use rangeget_core::report::FailureReport;
use rangeget_core::{Failure, FailureKind};
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
    // One after another, each with the whole connection budget: the budget
    // stays global and every file finishes as early as it can.
    let mut first_failure = None;
    for download in &downloads {
        if let Err(kind) = run_one(download) {
            first_failure.get_or_insert(kind);
        }
    }
    first_failure.map_or(0, |kind| i32::from(kind.exit_code()))
}

/// Downloads one file and reports it; returns the failure kind if it failed.
fn run_one(options: &Options) -> Result<(), FailureKind> {
    match fetch::fetch(options) {
        Ok(report) => {
            if options.json {
                println!("{}", report.to_json());
            } else if !options.quiet {
                println!("{}", report.human_summary());
            }
            Ok(())
        }
        Err(failure) => {
            if options.json {
                let path = fetch::fallback_output_path(options);
                println!(
                    "{}",
                    FailureReport::new(&options.url, &path, &failure).to_json()
                );
            }
            eprintln!("{}", failure.error_line());
            Err(failure.kind())
        }
    }
}
