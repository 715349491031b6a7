//! One request from byte 0, for servers without usable ranges. Nothing can
//! be resumed, so a failure restarts the stream from the beginning.

use rangeget_core::options::Options;
use rangeget_core::probe::ProbeMethod;
use rangeget_core::range::ByteRange;
use rangeget_core::rate_limit::RateLimiter;
use rangeget_core::room::check_max_filesize;
use rangeget_core::{Failure, RemoteObject};
use wasip2::io::poll::poll;
use wasip2::random::random::get_random_u64;

use super::http::{Read, Response, READ_SIZE};
use super::output::{OutputDir, PartFile};
use super::probe::probe;
use super::report::{warn, ProgressLine, Stats};
use super::{clock, lease, wait};

pub fn download(
    out: &OutputDir,
    options: &Options,
    object: &RemoteObject,
    response: Option<Response>,
) -> Result<Stats, Failure> {
    if out.exists(&out.meta_name()) {
        out.remove(&out.meta_name())?;
    }
    // Say why there is only one stream; an empty file needs no ranges, and
    // a server that ignored a range request was already reported.
    let why = if !object.accepts_ranges {
        Some("does not support range requests")
    } else if object.size.is_none() {
        Some("does not state the file's length")
    } else {
        None
    };
    if let Some(why) = why {
        warn(&format!(
            "{} {why}; downloading in one stream, which cannot be resumed",
            object.url
        ));
    }
    let policy = options.retry_policy();
    let part = out.create_part(None)?;
    let mut current = (object.clone(), response);
    let mut failures = 0;
    loop {
        let (object, response) = match current {
            (object, Some(response)) => (object, response),
            (previous, None) => {
                let probed = probe(&options.url, options, ProbeMethod::Get)?;
                let mut object = probed.object;
                match previous.change_from(&object) {
                    Some(change) => warn(&format!(
                        "the remote file changed ({change}); downloading the new version"
                    )),
                    // The same object: a length the HEAD announced still holds
                    // for a GET that states none (chunked).
                    None => object.size = object.size.or(previous.size),
                }
                let response = probed
                    .get_response
                    .expect("a GET probe returns its response");
                (object, response)
            }
        };
        // The body's own length, else the one the probe announced: a body
        // that does not match it is as wrong as a short range.
        let announced = RemoteObject::from_headers(&object.url, &response.headers)
            .size
            .or(object.size);
        if let Some(size) = announced {
            check_max_filesize(&object.url, size, options.max_filesize)?;
        }
        let stream = Stream {
            url: &object.url,
            part: &part,
            out,
            announced,
            max_filesize: options.max_filesize,
            timeout_ms: options.timeout_ms(),
            limiter: options
                .max_speed
                .map(|rate| RateLimiter::new(rate, clock::now_ms())),
            durable: !options.no_fsync,
        };
        match stream.copy(response) {
            Ok(size) => {
                if !options.no_fsync {
                    part.sync_data()
                        .map_err(|e| out.fs_error("sync", &out.part_name(), e))?;
                }
                return Ok(Stats {
                    size,
                    reused: 0,
                    retries: failures,
                    connections: 1,
                });
            }
            Err(StreamError::Local(failure)) => return Err(failure),
            Err(StreamError::Remote(reason)) => {
                failures += 1;
                if failures > policy.max_retries {
                    return Err(Failure::new(
                        reason.kind,
                        format!(
                            "downloading {} failed {failures} times (last: {reason}); the server does not \
                             support resuming, so each attempt starts from byte 0. Try again later or raise --retries",
                            object.url
                        ),
                    ));
                }
                let delay = policy.delay_ms(failures, None, get_random_u64());
                warn(&format!(
                    "{}: {reason}; restarting from byte 0, retry {failures} in {:.1} s",
                    object.url,
                    delay as f64 / 1000.0
                ));
                part.truncate()
                    .map_err(|e| out.fs_error("truncate", &out.part_name(), e))?;
                wait::sleep_until(clock::now_ms() + delay);
                current = (object, None);
            }
        }
    }
}

enum StreamError {
    /// The disk or file system failed, or a limit of the user's was hit:
    /// retrying the network will not help.
    Local(Failure),
    /// The connection failed or the body was wrong: try again.
    Remote(Failure),
}

impl From<Failure> for StreamError {
    fn from(failure: Failure) -> StreamError {
        StreamError::Local(failure)
    }
}

/// Bytes written between two write-back hints when the file will be synced.
const WRITEBACK_STEP: u64 = 8 << 20;

/// One attempt at the whole body, written from offset 0.
struct Stream<'a> {
    url: &'a str,
    part: &'a PartFile,
    out: &'a OutputDir,
    /// The length the body must have, when the server stated one.
    announced: Option<u64>,
    max_filesize: Option<u64>,
    timeout_ms: u64,
    limiter: Option<RateLimiter>,
    /// Ask the disk to start on every few MiB at once, so the final sync
    /// finds little left to do.
    durable: bool,
}

impl Stream<'_> {
    /// Copies the body; never writes past the announced length (a body
    /// that runs on is an error, not a longer file) nor past
    /// `--max-filesize`.
    fn copy(mut self, response: Response) -> Result<u64, StreamError> {
        if response.status != 200 {
            return Err(StreamError::Remote(Failure::http(format!(
                "HTTP {}",
                response.status
            ))));
        }
        let body = response
            .into_body()
            .map_err(|e| StreamError::Remote(Failure::network(e)))?;
        let mut written = 0u64;
        let mut handed_to_disk = 0u64;
        let mut last_progress = clock::now_ms();
        let mut progress = ProgressLine::new(last_progress, 0);
        loop {
            let room = match &mut self.limiter {
                Some(limiter) => {
                    wait::sleep_until(limiter.next_grant_ms(clock::now_ms()));
                    limiter.grant(clock::now_ms(), READ_SIZE).max(1)
                }
                None => READ_SIZE,
            };
            match body.read(room) {
                Read::Data(data) => {
                    let len = data.len() as u64;
                    self.check_length(written + len)?;
                    self.part
                        .write_at(&data, written)
                        .map_err(|e| self.out.fs_error("write", &self.out.part_name(), e))?;
                    written += len;
                    if self.durable && written - handed_to_disk >= WRITEBACK_STEP {
                        if let Some(range) = ByteRange::new(handed_to_disk, written - 1) {
                            self.part.start_writeback(range);
                        }
                        handed_to_disk = written;
                    }
                    last_progress = clock::now_ms();
                    progress.update(last_progress, written, self.announced);
                }
                Read::Wait => {
                    let stalled_at = last_progress + self.timeout_ms;
                    let deadline =
                        clock::wake_at(wait::with_lease(Some(stalled_at)).unwrap_or(stalled_at));
                    poll(&[body.pollable(), &deadline]);
                    if clock::now_ms() >= stalled_at {
                        return Err(StreamError::Remote(Failure::network(format!(
                            "no data for {} s",
                            self.timeout_ms / 1000
                        ))));
                    }
                }
                Read::End => break,
                Read::Failed(reason) => return Err(StreamError::Remote(Failure::network(reason))),
            }
            lease::renew_if_due()?;
        }
        progress.clear();
        match self.announced {
            Some(size) if written != size => Err(StreamError::Remote(Failure::network(format!(
                "the body ended after {written} of the {size} bytes announced"
            )))),
            _ => Ok(written),
        }
    }

    /// Whether `total` bytes of body are still within what was announced
    /// and what the user allows.
    fn check_length(&self, total: u64) -> Result<(), StreamError> {
        if let Some(size) = self.announced.filter(|&size| total > size) {
            return Err(StreamError::Remote(Failure::validation(format!(
                "the body runs past the {size} bytes the server announced"
            ))));
        }
        match self.max_filesize {
            Some(max) if total > max => Err(StreamError::Local(Failure::file(format!(
                "{} runs past --max-filesize ({max} bytes); stopped after {total} bytes, and \
                 {} is not kept",
                self.url,
                self.out.part_display()
            )))),
            _ => Ok(()),
        }
    }
}
