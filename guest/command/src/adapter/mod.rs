//! Everything that touches WASI. Decisions are delegated to `rangeget_core`.

mod clock;
mod fetch;
mod http;
mod output;
mod probe;
mod ranged;
mod report;
mod single;

use rangeget_core::options::Options;

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
    match fetch::fetch(&options) {
        Ok(summary) => {
            println!("{summary}");
            0
        }
        Err(err) => {
            eprintln!("rangeget: error: {err}");
            1
        }
    }
}
