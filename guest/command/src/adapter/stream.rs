//! `-o -`, or `-o` naming a device or FIFO (`/dev/null`, a pipe): the file
//! written into that stream in order, as it arrives from `-x` parallel
//! validated ranges (the engine's in-order delivery), or as one stream from
//! a server without ranges. Nothing else touches the disk; what arrives
//! ahead of the reader waits in memory, bounded by the engine's window of
//! chunks, and no request starts faster than the reader takes bytes. What
//! a stop means once bytes went out is `rangeget_core::stream_out`'s.

use rangeget_core::checksum::{hex, verdict};
use rangeget_core::failure::{IoError, Kept, Reason, EXIT_READER_GONE};
use rangeget_core::fetch::{self, Ending, Fetch, Output, Stats};
use rangeget_core::report::{Report, Telling};
use rangeget_core::stream_out::with_written_note;
use rangeget_core::Failure;
use rangeget_options::Options;
use rangeget_wasi_http::{clock, Paced, Seen};
use sha2::{Digest, Sha256};
use wasip2::cli::stdout::get_stdout;
use wasip2::filesystem::types::{filesystem_error_code, Descriptor, ErrorCode};
use wasip2::io::streams::{OutputStream, StreamError};
use wasip2::random::random::get_random_u64;

use super::files::io_error;
use super::http::{client_for, Exchanges};
use super::report::{say, tell, warn, ProgressLine};

/// Where the stream goes, and where its reports go.
pub enum Destination {
    /// `-o -`: stdout (a device or FIFO named `--stdout-is`, under the
    /// native CLI); reports go to stderr.
    Stdout,
    /// A device or FIFO at the destination, opened here; reports go to
    /// stdout as for a file.
    Device {
        file: Descriptor,
        stream: OutputStream,
        path: String,
    },
}

/// Streams `options.url` into `to`; returns the exit status.
pub fn run(options: &Options, to: Destination) -> i32 {
    let started_ms = clock::now_ms();
    let hashed = options.checksum.is_some() || options.json;
    let (mut out, report_to_stdout) = match to {
        Destination::Stdout => {
            let name = options.stdout_is.clone().unwrap_or_else(|| "stdout".into());
            (Sink::new(get_stdout(), None, name, hashed), false)
        }
        Destination::Device { file, stream, path } => {
            (Sink::new(stream, Some(file), path, hashed), true)
        }
    };
    match stream_to(options, &mut out) {
        Ok(Streamed::Complete(stats)) => match verify(options, &mut out) {
            Ok(sha256) => {
                let report = Report {
                    url: options.url.clone(),
                    final_url: stats.final_url,
                    path: out.name.clone(),
                    size: out.paced.written(),
                    sha256,
                    elapsed_ms: clock::now_ms() - started_ms,
                    bytes_fetched: out.paced.written(),
                    bytes_reused: 0,
                    retries: stats.retries,
                    connections: stats.connections,
                    sources: stats.sources,
                };
                summary(options, &report, report_to_stdout);
                0
            }
            Err(failure) => fail(failure),
        },
        // The reader went away (`| head`): quietly, but not as a success,
        // since the file was not delivered (a pipeline's `pipefail` sees
        // it): 128 + SIGPIPE, as `cat` or `yes` killed by the signal.
        Ok(Streamed::ReaderGone) => i32::from(EXIT_READER_GONE),
        Err(failure) => {
            // What was handed over reaches the reader before the count is
            // told: the note says exactly what it has.
            let _ = out.paced.flush();
            fail(with_written_note(failure, out.paced.written()))
        }
    }
}

enum Streamed {
    Complete(Stats),
    ReaderGone,
}

/// The fetch's pump for a stream: what it delivers is written as fast as
/// the reader takes it (see `rangeget_wasi_http::Paced`).
fn stream_to(options: &Options, out: &mut Sink) -> Result<Streamed, Failure> {
    let mut exchanges = Exchanges::new(client_for(options));
    let to = fetch::Destination::InOrder {
        name: out.name.clone(),
    };
    let mut fetch = Fetch::new(options.fetch_spec(get_random_u64()), to);
    let mut progress = ProgressLine::new(clock::now_ms());
    let hasher = &mut out.hasher;
    let mut seen = |seen: Seen| match seen {
        Seen::Delivered(piece) => {
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(piece);
            }
        }
        Seen::Waiting { written, size } => progress.update(clock::now_ms(), written, size, None),
    };
    loop {
        let output = exchanges.poll_in_order(&mut fetch, Some(&mut out.paced), &mut seen);
        match output.map_err(Unwritable::from_stream) {
            Err(unwritable) => return reader_gone_or(unwritable, &out.name),
            Ok(Output::Event(event)) => tell(event),
            Ok(Output::Notice(notice)) => warn(&notice.to_string()),
            Ok(Output::End(ending)) => {
                progress.clear();
                return match ending {
                    Ending::Finished(stats) => match out.paced.finish() {
                        Ok(()) => Ok(Streamed::Complete(stats)),
                        Err(error) => reader_gone_or(Unwritable::from_stream(error), &out.name),
                    },
                    Ending::Failed(failure) => Err(failure),
                    other => unreachable!("a stream ends {other:?}"),
                };
            }
            Ok(other) => unreachable!("a stream is asked {other:?}"),
        }
    }
}

fn reader_gone_or(unwritable: Unwritable, name: &str) -> Result<Streamed, Failure> {
    match unwritable.into_failure(name) {
        None => Ok(Streamed::ReaderGone),
        Some(failure) => Err(failure),
    }
}

/// `--checksum` against what went out; the SHA-256, when computed.
fn verify(options: &Options, out: &mut Sink) -> Result<Option<String>, Failure> {
    let actual = out.sha256();
    let kept = || Kept::StreamedTo(out.name.clone());
    Ok(verdict(options.checksum.as_deref(), actual, kept)?)
}

/// The report, as the core tells it (see `Report::tell_streamed`).
fn summary(options: &Options, report: &Report, json_on_stdout: bool) {
    let how = Telling {
        json: options.json,
        quiet: options.quiet,
        batch: false,
    };
    let told = report.tell_streamed(how, json_on_stdout);
    say(told);
}

fn fail(failure: Failure) -> i32 {
    eprintln!("{}", failure.error_line());
    i32::from(failure.kind().exit_code())
}

/// Why stdout took no more.
enum Unwritable {
    /// The reader closed it (`| head`): what it wanted, it has.
    Gone,
    /// Anything else (a full disk behind a redirect, a runtime's error):
    /// the output is incomplete, and that must not pass in silence.
    Failed(IoError),
}

impl Unwritable {
    fn from_stream(error: StreamError) -> Unwritable {
        match error {
            StreamError::Closed => Unwritable::Gone,
            StreamError::LastOperationFailed(error) => match filesystem_error_code(&error) {
                Some(ErrorCode::Pipe) => Unwritable::Gone,
                Some(code) => Unwritable::Failed(io_error(code)),
                None => Unwritable::Failed(IoError::Other(error.to_debug_string())),
            },
        }
    }

    fn into_failure(self, name: &str) -> Option<Failure> {
        match self {
            Unwritable::Gone => None,
            Unwritable::Failed(error) => Some(
                Reason::Io {
                    operation: "write".into(),
                    path: name.to_string(),
                    error,
                }
                .into(),
            ),
        }
    }
}

/// The stream the file goes into, and what is known of what went out.
struct Sink {
    paced: Paced,
    hasher: Option<Sha256>,
    /// What messages call it: `stdout`, or the device's path.
    name: String,
    /// The device the stream writes into: dropped after its stream.
    _file: Option<Descriptor>,
}

impl Sink {
    fn new(stream: OutputStream, file: Option<Descriptor>, name: String, hashed: bool) -> Sink {
        Sink {
            paced: Paced::new(stream),
            hasher: hashed.then(Sha256::new),
            name,
            _file: file,
        }
    }

    fn sha256(&mut self) -> Option<String> {
        self.hasher.take().map(|hasher| hex(&hasher.finalize()))
    }
}
