//! `-o -`, or `-o` naming a device or FIFO (`/dev/null`, a pipe): the file
//! written into that stream in order, as it arrives from `-x` parallel
//! validated ranges (the engine's in-order delivery), or as one stream from
//! a server without ranges. Nothing else touches the disk; what arrives
//! ahead of the reader waits in memory, bounded by the engine's window of
//! chunks, and no request starts faster than the reader takes bytes. What
//! a stop means once bytes went out is `rangeget_core::stream_out`'s.

use rangeget_core::checksum::verdict;
use rangeget_core::failure::{IoError, Kept, Reason, EXIT_READER_GONE};
use rangeget_core::fetch::{self, Ending, Fetch, Input, Output, Stats};
use rangeget_core::report::{Report, Telling};
use rangeget_core::stream_out::with_written_note;
use rangeget_core::Failure;
use rangeget_options::Options;
use rangeget_wasi_http::clock;
use sha2::{Digest, Sha256};
use wasip2::cli::stdout::get_stdout;
use wasip2::filesystem::types::{filesystem_error_code, Descriptor, ErrorCode};
use wasip2::io::poll::Pollable;
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
                    size: out.written,
                    sha256,
                    elapsed_ms: clock::now_ms() - started_ms,
                    bytes_fetched: out.written,
                    bytes_reused: 0,
                    retries: stats.retries,
                    connections: stats.connections,
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
            let _ = out.stream.blocking_flush();
            fail(with_written_note(failure, out.written))
        }
    }
}

enum Streamed {
    Complete(Stats),
    ReaderGone,
}

/// The fetch's pump for a stream: what it delivers is written as fast as
/// the reader takes it.
fn stream_to(options: &Options, out: &mut Sink) -> Result<Streamed, Failure> {
    let mut exchanges = Exchanges::new(client_for(options));
    let to = fetch::Destination::InOrder {
        name: out.name.clone(),
    };
    let mut fetch = Fetch::new(options.fetch_spec(get_random_u64()), to);
    let mut progress = ProgressLine::new(clock::now_ms(), 0);
    loop {
        match exchanges.poll(&mut fetch) {
            Output::Event(event) => tell(event),
            Output::Notice(notice) => warn(&notice.to_string()),
            Output::Deliver(piece) => {
                out.give(piece);
                if let Err(unwritable) = out.pump(&mut fetch) {
                    return reader_gone_or(unwritable, out);
                }
            }
            Output::End(ending) => {
                progress.clear();
                return match ending {
                    Ending::Finished(stats) => match out.finish() {
                        Ok(()) => Ok(Streamed::Complete(stats)),
                        Err(unwritable) => reader_gone_or(unwritable, out),
                    },
                    Ending::Failed(failure) => Err(failure),
                    other => unreachable!("a stream ends {other:?}"),
                };
            }
            Output::Wait(deadline) => {
                progress.update(clock::now_ms(), out.written, fetch.progress().1, None);
                let timer = deadline.map(clock::wake_at);
                let reader = out.has_pending().then(|| out.pollable());
                let extra: Vec<&Pollable> = timer.iter().chain(reader).collect();
                for id in exchanges.wait(&fetch, &extra) {
                    let _ = exchanges.service(id, &mut fetch, &mut |_, _| Ok::<(), Failure>(()));
                }
                if let Err(unwritable) = out.pump(&mut fetch) {
                    return reader_gone_or(unwritable, out);
                }
            }
            other => unreachable!("a stream is asked {other:?}"),
        }
    }
}

fn reader_gone_or(unwritable: Unwritable, out: &Sink) -> Result<Streamed, Failure> {
    match unwritable.into_failure(&out.name) {
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

/// The stream the file goes into, written only as fast as the reader
/// takes it.
struct Sink {
    // Declared first: a pollable is dropped before the stream it watches.
    ready: Pollable,
    stream: OutputStream,
    /// A delivery taken from the engine and not all written yet.
    pending: Vec<u8>,
    at: usize,
    written: u64,
    hasher: Option<Sha256>,
    /// What messages call it: `stdout`, or the device's path.
    name: String,
    /// The device the stream writes into: dropped after its stream.
    _file: Option<Descriptor>,
}

impl Sink {
    fn new(stream: OutputStream, file: Option<Descriptor>, name: String, hashed: bool) -> Sink {
        Sink {
            ready: stream.subscribe(),
            stream,
            pending: Vec::new(),
            at: 0,
            written: 0,
            hasher: hashed.then(Sha256::new),
            name,
            _file: file,
        }
    }

    fn pollable(&self) -> &Pollable {
        &self.ready
    }

    fn has_pending(&self) -> bool {
        self.at < self.pending.len()
    }

    /// Takes a delivery to write (the last one is all written).
    fn give(&mut self, piece: Vec<u8>) {
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&piece);
        }
        self.pending = piece;
        self.at = 0;
    }

    /// Writes what the reader takes now of the last delivery; once it is
    /// all written, the fetch may deliver the next.
    fn pump(&mut self, fetch: &mut Fetch) -> Result<(), Unwritable> {
        if !self.has_pending() {
            return Ok(());
        }
        self.write_ready()?;
        if !self.has_pending() {
            fetch.handle(Input::Taken, clock::now_ms());
        }
        Ok(())
    }

    fn write_ready(&mut self) -> Result<(), Unwritable> {
        while self.has_pending() {
            let room = self.stream.check_write().map_err(Unwritable::from_stream)?;
            if room == 0 {
                return Ok(());
            }
            let end = self.pending.len().min(self.at + room as usize);
            self.stream
                .write(&self.pending[self.at..end])
                .map_err(Unwritable::from_stream)?;
            self.written += (end - self.at) as u64;
            self.at = end;
        }
        Ok(())
    }

    /// Writes what is left, waiting for the reader, then flushes.
    fn finish(&mut self) -> Result<(), Unwritable> {
        loop {
            self.write_ready()?;
            if !self.has_pending() {
                return self
                    .stream
                    .blocking_flush()
                    .map_err(Unwritable::from_stream);
            }
            self.ready.block();
        }
    }

    fn sha256(&mut self) -> Option<String> {
        let digest = self.hasher.take()?.finalize();
        Some(digest.iter().map(|b| format!("{b:02x}")).collect())
    }
}
