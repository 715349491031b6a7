//! Everything that touches WASI. Decisions are delegated to `rangeget_core`.

mod checksum;
mod clock;
mod fetch;
mod http;
mod output;
mod probe;
mod ranged;
mod report;
mod resume;
mod single;

use rangeget_core::options::Options;
use rangeget_core::report::FailureReport;

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
    match fetch::fetch(&options) {
        Ok(report) => {
            if options.json {
                println!("{}", report.to_json());
            } else if !options.quiet {
                println!("{}", report.human_summary());
            }
            0
        }
        Err(failure) => {
            if options.json {
                let path = fetch::fallback_output_path(&options);
                println!(
                    "{}",
                    FailureReport::new(&options.url, &path, &failure).to_json()
                );
            }
            eprintln!("{}", failure.error_line());
            i32::from(failure.kind.exit_code())
        }
    }
}
