//! One request from byte 0, for servers without usable ranges. Nothing can
//! be resumed, so a failure restarts the stream from the beginning.

use rangeget_core::options::Options;
use rangeget_core::probe::ProbeMethod;
use rangeget_core::range::ByteRange;
use rangeget_core::rate_limit::RateLimiter;
use rangeget_core::{Failure, RemoteObject};
use wasip2::io::poll::poll;
use wasip2::random::random::get_random_u64;

use super::clock;
use super::http::{Read, Response, READ_SIZE};
use super::output::{OutputDir, PartFile};
use super::probe::probe;
use super::report::{warn, ProgressLine, Stats};

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
    let mut response = response;
    let mut failures = 0;
    loop {
        let current = match response.take() {
            Some(r) => r,
            None => {
                let probed = probe(&options.url, options, ProbeMethod::Get)?;
                if let Some(change) = object.change_from(&probed.object) {
                    warn(&format!(
                        "the remote file changed ({change}); downloading the new version"
                    ));
                }
                probed
                    .get_response
                    .expect("a GET probe returns its response")
            }
        };
        let expected = RemoteObject::from_headers(&object.url, &current.headers).size;
        let limiter = options
            .max_speed
            .map(|rate| RateLimiter::new(rate, clock::now_ms()));
        let durable = !options.no_fsync;
        match stream(
            current,
            &part,
            out,
            expected,
            options.timeout_ms(),
            limiter,
            durable,
        ) {
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
                clock::sleep_until(clock::now_ms() + delay);
            }
        }
    }
}

enum StreamError {
    /// The disk or file system failed: retrying the network will not help.
    Local(Failure),
    /// The connection failed or the body was wrong: try again.
    Remote(Failure),
}

/// Bytes written between two write-back hints when the file will be synced.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Writes the whole body from offset 0, never more than `expected` bytes.
/// With `durable`, the disk is asked to start on every few MiB at once, so
/// the final sync finds little left to do.
fn stream(
    response: Response,
    part: &PartFile,
    out: &OutputDir,
    expected: Option<u64>,
    timeout_ms: u64,
    mut limiter: Option<RateLimiter>,
    durable: bool,
) -> Result<u64, StreamError> {
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
        let room = expected.map_or(READ_SIZE, |size| (size - written).min(READ_SIZE));
        if room == 0 {
            break;
        }
        let room = match &mut limiter {
            Some(limiter) => {
                let now = clock::now_ms();
                clock::sleep_until(limiter.next_grant_ms(now));
                limiter.grant(clock::now_ms(), room).max(1)
            }
            None => room,
        };
        match body.read(room) {
            Read::Data(data) => {
                let len = (data.len() as u64).min(room);
                part.write_at(&data[..len as usize], written)
                    .map_err(|e| StreamError::Local(out.fs_error("write", &out.part_name(), e)))?;
                written += len;
                if durable && written - handed_to_disk >= WRITEBACK_STEP {
                    if let Some(range) = ByteRange::new(handed_to_disk, written - 1) {
                        part.start_writeback(range);
                    }
                    handed_to_disk = written;
                }
                last_progress = clock::now_ms();
                progress.update(last_progress, written, expected);
            }
            Read::Wait => {
                let deadline = clock::wake_at(last_progress + timeout_ms);
                poll(&[body.pollable(), &deadline]);
                if clock::now_ms() >= last_progress + timeout_ms {
                    return Err(StreamError::Remote(Failure::network(format!(
                        "no data for {} s",
                        timeout_ms / 1000
                    ))));
                }
            }
            Read::End => break,
            Read::Failed(reason) => return Err(StreamError::Remote(Failure::network(reason))),
        }
    }
    progress.clear();
    if let Some(size) = expected {
        if written != size {
            return Err(StreamError::Remote(Failure::network(format!(
                "the body ended after {written} of {size} bytes"
            ))));
        }
    }
    Ok(written)
}
