//! Parallel validated range requests, multiplexed on one thread with
//! `wasi:io/poll`, each body written at its chunk's offset.

use rangeget_core::download::{Checkpoint, ChunkRequest, Download, FailureVerdict};
use rangeget_core::options::Options;
use rangeget_core::rate_limit::RateLimiter;
use rangeget_core::redirect::MAX_REDIRECTS;
use rangeget_core::size::format_size;
use rangeget_core::validate::{check_range_response, RangeVerdict};
use rangeget_core::{Failure, RemoteObject};
use wasip2::io::poll::Pollable;
use wasip2::random::random::get_random_u64;

use super::http::{self, ready_transfers, Body, PendingResponse, Read, Response, READ_SIZE};
use super::output::{OutputDir, PartFile};
use super::report::{trace, warn, ProgressLine, Stats};
use super::resume;
use super::{clock, lease, wait};

pub enum Outcome {
    Finished(Stats),
    RemoteChanged(String),
    /// A range request came back as the whole (unchanged) object.
    RangesIgnored {
        object: RemoteObject,
        response: Response,
    },
}

/// At most this much is copied from one connection before the others get
/// their turn, so a fast local link cannot starve the rest of the poll set.
const BYTES_PER_TURN: u64 = 8 << 20;

struct Transfer {
    request: ChunkRequest,
    url: String,
    redirects: u32,
    stage: Stage,
    /// When the request went out: its round trip decides whether the next
    /// request of the chunk asks for more.
    sent_ms: u64,
}

enum Stage {
    Headers(PendingResponse),
    Body { body: Body, head_ms: u64 },
}

impl Transfer {
    fn pollable(&self) -> &Pollable {
        match &self.stage {
            Stage::Headers(pending) => pending.pollable(),
            Stage::Body { body, .. } => body.pollable(),
        }
    }
}

/// What happened when a ready transfer was serviced.
enum Step {
    Continue,
    /// The request got all it asked for; the chunk wants more.
    RequestDone,
    ChunkDone,
    Failed {
        reason: Failure,
        retry_after_ms: Option<u64>,
    },
    Stop(Stop),
}

/// Reasons the whole download stops.
enum Stop {
    RemoteChanged(String),
    RangesIgnored(Response),
    /// Retrying cannot help; the message says why.
    Fatal(Failure),
}

pub fn download(
    out: &OutputDir,
    options: &Options,
    object: RemoteObject,
    size: u64,
) -> Result<Outcome, Failure> {
    let (download, part) = resume::prepare(out, options, object, size)?;
    let already_on_disk = download.bytes_received();
    let mut run = RangedRun {
        out,
        options,
        part,
        download,
        transfers: Vec::new(),
        retries: 0,
        progress: ProgressLine::new(clock::now_ms(), already_on_disk),
        client: http::Client::for_options(options),
        limiter: options
            .max_speed
            .map(|rate| RateLimiter::new(rate, clock::now_ms())),
    };
    if let Some(stop) = run.drive()? {
        return run.stop(stop);
    }
    run.finish(size)
}

/// One pass of the ranged download: the state machine plus the requests
/// it has in flight.
struct RangedRun<'a> {
    out: &'a OutputDir,
    options: &'a Options,
    part: PartFile,
    download: Download,
    transfers: Vec<Transfer>,
    retries: u32,
    progress: ProgressLine,
    client: http::Client,
    limiter: Option<RateLimiter>,
}

impl RangedRun<'_> {
    /// Runs until every chunk is done or something stops the download.
    fn drive(&mut self) -> Result<Option<Stop>, Failure> {
        let connections = self.options.connections as usize;
        let timeout_ms = self.options.timeout_ms();
        while !self.download.is_complete() {
            let now = clock::now_ms();
            while self.transfers.len() < connections {
                let Some(request) = self.download.next_request(now) else {
                    break;
                };
                let url = self.download.object().url.clone();
                match start(&self.download, request, url, 0, &self.client) {
                    Ok(transfer) => self.transfers.push(transfer),
                    Err(reason) => self.chunk_failed(request, reason, None)?,
                }
            }

            let connection_free = self.transfers.len() < connections;
            let deadline = self.download.next_deadline_ms(timeout_ms, connection_free);
            if self.transfers.is_empty() {
                let at =
                    deadline.expect("an incomplete download has a pending chunk or a deadline");
                self.checkpoint_if_due()?;
                wait::sleep_until(at);
                lease::renew_if_due()?;
                continue;
            }
            if let Some(limiter) = &mut self.limiter {
                let at = limiter.next_grant_ms(clock::now_ms());
                if at > clock::now_ms() {
                    wait::sleep_until(at);
                }
            }
            let deadline = wait::with_lease(deadline);
            let timer = deadline.map(clock::wake_at);
            let pollables: Vec<&Pollable> = self.transfers.iter().map(Transfer::pollable).collect();
            let ready = ready_transfers(&pollables, timer.as_ref());
            drop(timer);

            for index in ready {
                let step = service(
                    &mut self.transfers[index],
                    &mut self.download,
                    &self.part,
                    self.out,
                    &self.client,
                    &mut self.limiter,
                );
                match step {
                    Step::Continue => {}
                    Step::ChunkDone => {
                        let done = self.transfers.swap_remove(index);
                        self.start_writeback(done.request);
                    }
                    Step::RequestDone => self.next_request_in_chunk(index)?,
                    Step::Failed {
                        reason,
                        retry_after_ms,
                    } => {
                        let request = self.transfers.swap_remove(index).request;
                        self.chunk_failed(request, reason, retry_after_ms)?;
                    }
                    Step::Stop(stop) => return Ok(Some(stop)),
                }
            }

            for chunk in self.download.check_stalls(
                clock::now_ms(),
                timeout_ms,
                self.options.min_bytes_per_window(),
            ) {
                if let Some(index) = self.transfers.iter().position(|t| t.request.chunk == chunk) {
                    let request = self.transfers.swap_remove(index).request;
                    let reason = Failure::network(format!(
                        "less than {} received in {} s",
                        format_size(self.options.min_bytes_per_window()),
                        self.options.timeout_secs
                    ));
                    self.chunk_failed(request, reason, None)?;
                }
            }
            self.checkpoint_if_due()?;
            lease::renew_if_due()?;
            let size = self.download.size();
            self.progress
                .update(clock::now_ms(), self.download.bytes_received(), Some(size));
        }
        self.progress.clear();
        Ok(None)
    }

    /// Replaces the transfer at `index`, whose request is complete, with
    /// one for the next part of its chunk, on the same (redirected) URL.
    fn next_request_in_chunk(&mut self, index: usize) -> Result<(), Failure> {
        // Dropped first, so its connection is back in the pool for the next.
        let done = self.transfers.swap_remove(index);
        self.start_writeback(done.request);
        let now = clock::now_ms();
        let Stage::Body { head_ms, .. } = done.stage else {
            unreachable!("only a body completes a request")
        };
        let (wait_ms, body_ms) = (
            head_ms.saturating_sub(done.sent_ms),
            now.saturating_sub(head_ms),
        );
        trace(|| {
            format!(
                "{}: head after {wait_ms} ms, body in {body_ms} ms",
                done.request.range
            )
        });
        let request = self
            .download
            .next_request_in_chunk(done.request.chunk, wait_ms, body_ms);
        match start(
            &self.download,
            request,
            done.url,
            done.redirects,
            &self.client,
        ) {
            Ok(transfer) => self.transfers.push(transfer),
            Err(reason) => self.chunk_failed(request, reason, None)?,
        }
        Ok(())
    }

    /// A request's bytes are all written: unless the user waives the syncs,
    /// let the disk start on them while the next ones arrive.
    fn start_writeback(&self, request: ChunkRequest) {
        if !self.options.no_fsync {
            self.part.start_writeback(request.range);
        }
    }

    fn finish(self, size: u64) -> Result<Outcome, Failure> {
        let part_name = self.out.part_name();
        if !self.options.no_fsync {
            self.part
                .sync_data()
                .map_err(|e| self.out.fs_error("sync", &part_name, e))?;
        }
        let len = self
            .part
            .len()
            .map_err(|e| self.out.fs_error("stat", &part_name, e))?;
        if len != size {
            return Err(Failure::validation(format!(
                "{} has {len} bytes after the download, expected {size}; run the same command again",
                self.out.part_display()
            )));
        }
        Ok(Outcome::Finished(Stats {
            size,
            reused: self.download.reused_bytes(),
            retries: self.retries,
            connections: self
                .options
                .connections
                .min(self.download.chunk_count() as u32),
        }))
    }

    /// Schedules a retry of the chunk, or stops the run (progress saved)
    /// once it has used up its retries.
    fn chunk_failed(
        &mut self,
        request: ChunkRequest,
        reason: Failure,
        retry_after_ms: Option<u64>,
    ) -> Result<(), Failure> {
        let now = clock::now_ms();
        let url = self.download.object().url.clone();
        match self
            .download
            .on_failure(request.chunk, retry_after_ms, now, get_random_u64())
        {
            FailureVerdict::RetryAt { at_ms, retry } => {
                self.retries += 1;
                warn(&format!(
                    "{} of {url}: {reason}; retry {retry} in {:.1} s",
                    request.range,
                    at_ms.saturating_sub(now) as f64 / 1000.0
                ));
                Ok(())
            }
            FailureVerdict::GiveUp { failures } => {
                self.cancel_and_save()?;
                Err(Failure::new(
                    reason.kind,
                    format!(
                        "{} of {url} failed {failures} times in a row (last: {reason}). \
                         Progress is saved in {}.part.meta: run the same command again to resume, \
                         perhaps with a larger --retries or --timeout",
                        request.range, self.out.display
                    ),
                ))
            }
        }
    }

    fn stop(mut self, stop: Stop) -> Result<Outcome, Failure> {
        self.transfers.clear();
        self.download.cancel_in_flight();
        match stop {
            Stop::RemoteChanged(reason) => Ok(Outcome::RemoteChanged(reason)),
            Stop::RangesIgnored(response) => Ok(Outcome::RangesIgnored {
                object: self.download.object().clone(),
                response,
            }),
            Stop::Fatal(reason) => {
                // The reason comes first even if this save fails too (a full
                // disk fails both); the previous meta is intact either way.
                let saved = match self.save(Checkpoint::Durable) {
                    Ok(()) => "Finished chunks are saved",
                    Err(_) => "Progress up to the last save is kept",
                };
                Err(Failure::new(
                    reason.kind,
                    format!(
                        "{reason}. {saved} in {}.part.meta; the same command resumes",
                        self.out.display
                    ),
                ))
            }
        }
    }

    fn cancel_and_save(&mut self) -> Result<(), Failure> {
        self.transfers.clear();
        self.download.cancel_in_flight();
        self.save(Checkpoint::Durable)
    }

    fn checkpoint_if_due(&mut self) -> Result<(), Failure> {
        match self.download.checkpoint_due(clock::now_ms()) {
            Checkpoint::None => Ok(()),
            kind => self.save(kind),
        }
    }

    /// Records progress in the meta. Every claim there carries a digest
    /// that a resume verifies, so a quick save (no fsync) is safe against a
    /// power loss too. A finished chunk syncs the meta so its record
    /// survives one; a durable save also syncs the data (unless --no-fsync),
    /// bounding what such a loss can cost.
    fn save(&mut self, kind: Checkpoint) -> Result<(), Failure> {
        if kind == Checkpoint::Durable && !self.options.no_fsync {
            self.part
                .sync_data()
                .map_err(|e| self.out.fs_error("sync", &self.out.part_name(), e))?;
        }
        let sync_meta = matches!(kind, Checkpoint::Durable | Checkpoint::FinishedChunk);
        let meta = self.download.to_meta(&self.options.url).to_json();
        self.out
            .write_atomically(&self.out.meta_name(), &meta, sync_meta)?;
        self.download.mark_checkpointed(clock::now_ms(), kind);
        Ok(())
    }
}

fn start(
    download: &Download,
    request: ChunkRequest,
    url: String,
    redirects: u32,
    client: &http::Client,
) -> Result<Transfer, Failure> {
    let mut headers = vec![("range", request.range.header_value())];
    // If-Range makes a changed object come back as a 200 instead of a 206
    // of the new version spliced into the old one.
    if let Some(validator) = download.object().if_range() {
        headers.push(("if-range", validator.to_string()));
    }
    let pending = client.get(&url, &headers).map_err(Failure::network)?;
    Ok(Transfer {
        request,
        url,
        redirects,
        stage: Stage::Headers(pending),
        sent_ms: clock::now_ms(),
    })
}

fn service(
    transfer: &mut Transfer,
    download: &mut Download,
    part: &PartFile,
    out: &OutputDir,
    client: &http::Client,
    limiter: &mut Option<RateLimiter>,
) -> Step {
    if let Stage::Headers(pending) = &transfer.stage {
        let Some(result) = pending.try_take() else {
            return Step::Continue;
        };
        let response = match result {
            Ok(response) => response,
            Err(reason) => {
                return Step::Failed {
                    reason: Failure::network(reason),
                    retry_after_ms: None,
                }
            }
        };
        let verdict = check_range_response(
            download.object(),
            transfer.request.range,
            &transfer.url,
            response.status,
            &response.headers,
            clock::unix_ms(),
        );
        match verdict {
            RangeVerdict::Write => match response.into_body() {
                Ok(body) => {
                    transfer.stage = Stage::Body {
                        body,
                        head_ms: clock::now_ms(),
                    }
                }
                Err(reason) => {
                    return Step::Failed {
                        reason: Failure::network(reason),
                        retry_after_ms: None,
                    }
                }
            },
            RangeVerdict::Redirect(next) => {
                if transfer.redirects >= MAX_REDIRECTS {
                    return Step::Stop(Stop::Fatal(Failure::http(format!(
                        "too many redirects (more than {MAX_REDIRECTS}) for {}; the last one pointed to {next}",
                        transfer.request.range
                    ))));
                }
                return match start(
                    download,
                    transfer.request,
                    next,
                    transfer.redirects + 1,
                    client,
                ) {
                    Ok(next) => {
                        *transfer = next;
                        Step::Continue
                    }
                    Err(reason) => Step::Failed {
                        reason,
                        retry_after_ms: None,
                    },
                };
            }
            RangeVerdict::Retry {
                reason,
                retry_after_ms,
            } => {
                return Step::Failed {
                    reason,
                    retry_after_ms,
                }
            }
            RangeVerdict::RemoteChanged(reason) => return Step::Stop(Stop::RemoteChanged(reason)),
            RangeVerdict::RangesIgnored => return Step::Stop(Stop::RangesIgnored(response)),
            RangeVerdict::Fatal(reason) => return Step::Stop(Stop::Fatal(reason)),
        }
    }
    let Stage::Body { body, .. } = &transfer.stage else {
        unreachable!("headers handled above")
    };
    copy_body(body, transfer.request.chunk, download, part, out, limiter)
}

/// Copies what the body has ready into the chunk's window. Never reads past
/// the window: an overlong body's tail is simply left unread and dropped.
fn copy_body(
    body: &Body,
    chunk: usize,
    download: &mut Download,
    part: &PartFile,
    out: &OutputDir,
    limiter: &mut Option<RateLimiter>,
) -> Step {
    let mut copied = 0;
    while copied < BYTES_PER_TURN {
        let (offset, remaining) = download.write_window(chunk);
        let wanted = remaining.min(READ_SIZE);
        let allowed = match limiter {
            Some(limiter) => limiter.grant(clock::now_ms(), wanted),
            None => wanted,
        };
        if allowed == 0 {
            return Step::Continue; // --max-speed: the run loop waits for tokens.
        }
        let read = body.read(allowed);
        if let Some(limiter) = limiter {
            let used = if let Read::Data(data) = &read {
                data.len() as u64
            } else {
                0
            };
            limiter.refund(allowed - used);
        }
        match read {
            Read::Data(data) => {
                let len = (data.len() as u64).min(remaining);
                if let Err(e) = part.write_at(&data[..len as usize], offset) {
                    return Step::Stop(Stop::Fatal(out.fs_error("write", &out.part_name(), e)));
                }
                copied += len;
                if download.on_written(chunk, &data[..len as usize], clock::now_ms()) {
                    return Step::ChunkDone;
                }
                if len == remaining {
                    return Step::RequestDone;
                }
            }
            Read::Wait => return Step::Continue,
            Read::End => {
                return Step::Failed {
                    reason: Failure::network(format!("the body ended {remaining} bytes short")),
                    retry_after_ms: None,
                }
            }
            Read::Failed(reason) => {
                return Step::Failed {
                    reason: Failure::network(reason),
                    retry_after_ms: None,
                }
            }
        }
    }
    Step::Continue
}
