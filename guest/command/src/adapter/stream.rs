//! `-o -`, or `-o` naming a device or FIFO (`/dev/null`, a pipe): the file
//! written into that stream in order, as it arrives from `-x` parallel
//! validated ranges (the engine's in-order delivery), or as one stream from
//! a server without ranges. Nothing else touches the disk; what arrives
//! ahead of the reader waits in memory, bounded by the engine's window of
//! chunks, and no request starts faster than the reader takes bytes. What
//! a stop means once bytes went out is `rangeget_core::stream_out`'s.

use rangeget_core::failure::{Kept, Reason, EXIT_READER_GONE};
use rangeget_core::file_start::probe_bytes;
use rangeget_core::fresh_starts::{AfterStop, FreshStarts};
use rangeget_core::probe::{Probe, ProbeEnd};
use rangeget_core::range::ByteRange;
use rangeget_core::report::Report;
use rangeget_core::size::format_size;
use rangeget_core::stream_out::{stream_chunk_size, stream_start, with_written_note, StreamStart};
use rangeget_core::transfer::{End, Transfer};
use rangeget_core::{Failure, RemoteObject};
use rangeget_options::Options;
use rangeget_wasi_http::{clock, Hooks};
use sha2::{Digest, Sha256};
use wasip2::cli::stdout::get_stdout;
use wasip2::filesystem::types::{filesystem_error_code, Descriptor, ErrorCode};
use wasip2::io::poll::Pollable;
use wasip2::io::streams::{OutputStream, StreamError};
use wasip2::random::random::get_random_u64;

use super::http::{client_for, Exchanges};
use super::report::{warn, ProgressLine};
use super::wait::CommandHooks;

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
                let report = stats.report(options, &out, sha256, started_ms);
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

/// What the transfer that finished told of itself, for the report.
struct StreamStats {
    size: u64,
    final_url: String,
    retries: u32,
    connections: u32,
}

impl StreamStats {
    fn report(
        self,
        options: &Options,
        out: &Sink,
        sha256: Option<String>,
        started_ms: u64,
    ) -> Report {
        Report {
            url: options.url.clone(),
            final_url: self.final_url,
            path: out.name.clone(),
            size: self.size,
            sha256,
            elapsed_ms: clock::now_ms() - started_ms,
            bytes_fetched: self.size,
            bytes_reused: 0,
            retries: self.retries,
            connections: self.connections,
        }
    }
}

enum Streamed {
    Complete(StreamStats),
    ReaderGone,
}

fn stream_to(options: &Options, out: &mut Sink) -> Result<Streamed, Failure> {
    let mut exchanges = Exchanges::new(client_for(options));
    let chunk_size = stream_chunk_size(options.chunk_size);
    // A change before the first byte went out starts the stream over.
    let mut starts = FreshStarts::default();
    loop {
        let probe = Probe::first_bytes(
            &options.url,
            options.request_rules(),
            probe_bytes(Some(chunk_size), false),
        );
        let (object, body, first, round_trip_ms) = match exchanges
            .probe(probe, &mut CommandHooks)?
        {
            ProbeEnd::Object {
                object,
                body,
                first,
                round_trip_ms,
                ..
            } => (object, body, first, round_trip_ms),
            ProbeEnd::Refused { failure, .. } | ProbeEnd::Failed(failure) => return Err(failure),
            ProbeEnd::NotModified => unreachable!("a stream sends no condition"),
        };
        let mut settings = options.settings(get_random_u64());
        settings.durable = false;
        let window = chunk_size * settings.connections as u64;
        let mut transfer = match stream_start(&object, body, first) {
            StreamStart::Ranged { size, first } => {
                let span = ByteRange::from_len(0, size).expect("a ranged object is not empty");
                let mut transfer =
                    Transfer::in_order(object, span, chunk_size, settings, clock::now_ms());
                transfer.origin_round_trip(round_trip_ms);
                if let Some((id, range)) = first {
                    if transfer.adopt(id, range, clock::now_ms()) {
                        exchanges.refeed_head(id, &mut transfer);
                    } else {
                        exchanges.close(id);
                    }
                }
                transfer
            }
            StreamStart::Whole {
                adopted,
                ranges_ignored,
            } => {
                if ranges_ignored {
                    warn(&format!(
                        "{} answered a range request with the whole file although it advertises \
                         ranges; streaming that answer",
                        object.url
                    ));
                }
                single_stream(object, window, adopted, settings, &mut exchanges)
            }
        };
        loop {
            match pump(&mut transfer, &mut exchanges, out)? {
                Pumped::Finished => {
                    return Ok(Streamed::Complete(StreamStats {
                        size: out.written,
                        final_url: transfer.object().url.clone(),
                        retries: transfer.retries(),
                        connections: transfer.connections_used() as u32,
                    }));
                }
                Pumped::ReaderGone => return Ok(Streamed::ReaderGone),
                Pumped::Stopped(stop) => {
                    match starts.after_stop(&options.url, stop, out.written == 0) {
                        AfterStop::StartOver(notice) => {
                            warn(&format!("{notice} (no byte of it had gone out)"));
                            break;
                        }
                        AfterStop::OneStreamFrom(id) => {
                            warn(&format!(
                            "{} answered a range request with the whole file; streaming that answer",
                            transfer.object().url
                        ));
                            let object = RemoteObject {
                                accepts_ranges: false,
                                ..transfer.object().clone()
                            };
                            let settings = options.settings(get_random_u64());
                            transfer =
                                single_stream(object, window, Some(id), settings, &mut exchanges);
                        }
                        AfterStop::Fail(failure) => return Err(failure),
                    }
                }
            }
        }
    }
}

/// One stream from byte 0, holding at most `window` bytes ahead of the
/// reader; `adopted`, an answer in hand whose body is the object.
fn single_stream(
    object: RemoteObject,
    window: u64,
    adopted: Option<rangeget_core::request::RequestId>,
    mut settings: rangeget_core::transfer::Settings,
    exchanges: &mut Exchanges,
) -> Transfer {
    settings.durable = false;
    let mut transfer = Transfer::whole(object, Some(window), adopted, settings, clock::now_ms());
    if let Some(id) = adopted {
        exchanges.refeed_head(id, &mut transfer);
    }
    transfer
}

enum Pumped {
    Finished,
    ReaderGone,
    Stopped(rangeget_core::transfer::Stop),
}

/// Runs `transfer` (the engine's contract) until it ends, writing what it
/// delivers as fast as the reader takes it.
fn pump(
    transfer: &mut Transfer,
    exchanges: &mut Exchanges,
    out: &mut Sink,
) -> Result<Pumped, Failure> {
    let mut progress = ProgressLine::new(clock::now_ms(), out.written);
    loop {
        // In order, nothing is written locally: no command concerns this side.
        exchanges.follow(transfer, |_, _| {});
        while let Some(event) = transfer.poll_event() {
            CommandHooks.event(event);
        }
        if let Err(unwritable) = out.pump(transfer) {
            return reader_gone_or(unwritable, out);
        }
        if let Some(end) = transfer.poll_end() {
            // A stopped engine closed its requests: drop them here too,
            // so none is left reading, or mistaken for the next engine's.
            exchanges.follow(transfer, |_, _| {});
            progress.clear();
            return Ok(match end {
                End::Finished => {
                    if let Err(unwritable) = out.finish(transfer) {
                        return reader_gone_or(unwritable, out);
                    }
                    Pumped::Finished
                }
                End::Stopped { stop, .. } => Pumped::Stopped(stop),
            });
        }
        progress.update(clock::now_ms(), out.written, transfer.object().size, None);
        let timer = transfer.poll_timeout(clock::now_ms()).map(clock::wake_at);
        let reader = (out.has_pending() || transfer.has_delivery()).then(|| out.pollable());
        let extra: Vec<&Pollable> = timer.iter().chain(reader).collect();
        for id in exchanges.wait(Some(transfer), &extra) {
            let _ = exchanges.service(id, transfer, &mut |_, _| Ok::<(), Failure>(()));
        }
        transfer.handle_timeout(clock::now_ms());
    }
}

fn reader_gone_or(unwritable: Unwritable, out: &Sink) -> Result<Pumped, Failure> {
    match unwritable.into_failure(&out.name) {
        None => Ok(Pumped::ReaderGone),
        Some(failure) => Err(failure),
    }
}

/// `--checksum` against what went out; the SHA-256, when computed.
fn verify(options: &Options, out: &mut Sink) -> Result<Option<String>, Failure> {
    let actual = out.sha256();
    let (Some(expected), Some(actual)) = (&options.checksum, &actual) else {
        return Ok(actual);
    };
    if expected == actual {
        return Ok(Some(actual.clone()));
    }
    Err(Reason::Checksum {
        expected: expected.clone(),
        actual: actual.clone(),
        kept: Kept::StreamedTo(out.name.clone()),
    }
    .into())
}

/// The summary line on stderr (stdout may carry the file), or the
/// `--json` report where `to_stdout` says: on stdout when the file went
/// into a device of the component's own; else on stderr, where the native
/// CLI that opened the device takes it to its stdout.
fn summary(options: &Options, report: &Report, to_stdout: bool) {
    if options.json {
        if to_stdout {
            println!("{}", report.to_json());
        } else {
            eprintln!("{}", report.to_json());
        }
        return;
    }
    if options.quiet {
        return;
    }
    let seconds = report.elapsed_ms.max(1) as f64 / 1000.0;
    eprintln!(
        "rangeget: streamed {} to {} in {seconds:.2} s, {}/s",
        format_size(report.size),
        report.path,
        format_size((report.size as f64 / seconds) as u64)
    );
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
    Failed(String),
}

impl Unwritable {
    fn from_stream(error: StreamError) -> Unwritable {
        match error {
            StreamError::Closed => Unwritable::Gone,
            StreamError::LastOperationFailed(error) => match filesystem_error_code(&error) {
                Some(ErrorCode::Pipe) => Unwritable::Gone,
                // A FIFO through a runtime whose files are written at
                // offsets (wasmtime's): only the runtime's stdout can do.
                Some(ErrorCode::InvalidSeek) => Unwritable::Failed(
                    "this runtime writes files only at offsets, which a FIFO or terminal does \
                     not have; stream to stdout instead (-o - > PATH)"
                        .into(),
                ),
                _ => Unwritable::Failed(error.to_debug_string()),
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
                    hint: "",
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

    /// Writes what stdout takes now: the rest of the last delivery, then
    /// new ones, in order.
    fn pump(&mut self, transfer: &mut Transfer) -> Result<(), Unwritable> {
        loop {
            if !self.has_pending() {
                let Some(piece) = transfer.poll_delivery() else {
                    return Ok(());
                };
                if let Some(hasher) = &mut self.hasher {
                    hasher.update(&piece);
                }
                self.pending = piece;
                self.at = 0;
            }
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
    }

    /// Writes what is left, waiting for the reader, then flushes.
    fn finish(&mut self, transfer: &mut Transfer) -> Result<(), Unwritable> {
        loop {
            self.pump(transfer)?;
            if !self.has_pending() && !transfer.has_delivery() {
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
