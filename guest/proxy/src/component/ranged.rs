//! Parallel validated range requests, delivered to the client in order.
//!
//! `rangeget-core`'s [`StreamPlan`] decides which chunk to request next
//! and holds chunks that arrive early; this loop only moves bytes between
//! origin bodies, the plan and the client, multiplexed with
//! `wasi:io/poll`. Every range carries `If-Range` and every answer passes
//! `check_range_response` before a byte of it is used, exactly as in the
//! command. The response head goes out once the first chunk has been
//! validated, so an object that changes before then is simply fetched
//! again; after that, a change aborts the response rather than splice two
//! versions together.

use std::collections::BTreeMap;

use rangeget_core::range::ByteRange;
use rangeget_core::retry::RetryPolicy;
use rangeget_core::stream_plan::{ChunkFetch, StreamPlan};
use rangeget_core::validate::{check_range_response, RangeVerdict};
use rangeget_core::RemoteObject;
use rangeget_wasi_http::{ready_transfers, Body, Read, Response, READ_SIZE};
use wasip2::http::types::ResponseOutparam;
use wasip2::io::poll::Pollable;
use wasip2::random::random::get_random_u64;

use super::reply::ResponseHead;
use super::sink::Sink;
use super::{log, time, Client};
use crate::config::ProxyConfig;

type PendingResponse = rangeget_wasi_http::PendingResponse<super::OriginLog>;

/// One incoming request to answer from ranges of `object`.
pub struct RangedRequest<'a> {
    pub client: &'a Client,
    pub config: &'a ProxyConfig,
    pub object: &'a RemoteObject,
    /// The bytes of the object the client gets.
    pub span: ByteRange,
    pub head: ResponseHead,
}

pub enum RangedOutcome {
    /// Answered: completely, or aborted mid-body (already logged).
    Done,
    /// The object changed before the answer began: start over.
    ObjectChanged(ResponseOutparam, String),
    /// The origin answered a range with the whole, unchanged object.
    RangesIgnored(ResponseOutparam, Response),
    /// Nothing was sent yet and the origin cannot deliver: answer 502.
    Failed(ResponseOutparam, String),
}

/// Reads per connection before the others get their turn.
const READS_PER_TURN: usize = 4;

struct Transfer {
    fetch: ChunkFetch,
    stage: Stage,
    /// Bytes this attempt delivered (an attempt that made progress does
    /// not count against the retries).
    progressed: bool,
}

enum Stage {
    Headers(PendingResponse),
    Body(Body),
    /// Waiting out the backoff before the chunk's remainder is asked again.
    Backoff(Pollable),
}

impl Transfer {
    fn pollable(&self) -> &Pollable {
        match &self.stage {
            Stage::Headers(pending) => pending.pollable(),
            Stage::Body(body) => body.pollable(),
            Stage::Backoff(timer) => timer,
        }
    }
}

/// What servicing a transfer led to.
enum Step {
    Continue,
    /// The chunk has all its bytes; the transfer is over.
    Complete,
    /// This attempt failed; retry after the backoff.
    Failed {
        reason: String,
        retry_after_ms: Option<u64>,
    },
    /// The backoff is over: hand the chunk back to the plan.
    Retry,
    /// The whole answer stops.
    Stop(Stop),
}

enum Stop {
    Changed(String),
    RangesIgnored(Response),
    Fatal(String),
}

struct Run<'a> {
    request: RangedRequest<'a>,
    plan: StreamPlan,
    transfers: Vec<Transfer>,
    /// Failed attempts in a row, per chunk.
    failures: BTreeMap<usize, u32>,
    policy: RetryPolicy,
    /// A range answer passed validation: the object is as probed, so the
    /// response head may go out.
    validated: bool,
}

pub fn serve(request: RangedRequest<'_>, out: ResponseOutparam) -> RangedOutcome {
    let plan = StreamPlan::new(
        request.span,
        request.config.chunk_size,
        request.config.connections,
    );
    let mut run = Run {
        request,
        plan,
        transfers: Vec::new(),
        failures: BTreeMap::new(),
        policy: RetryPolicy::default(),
        validated: false,
    };
    let mut out = Some(out);
    let mut sink: Option<Sink> = None;
    loop {
        if let Some(open) = &mut sink {
            let plan = &mut run.plan;
            if open.pump(|_| plan.take_deliverable()).is_err() {
                log("the client went away; the answer stops");
                return RangedOutcome::Done;
            }
            if run.plan.is_finished() && !open.has_pending() {
                sink.take().expect("open").finish();
                return RangedOutcome::Done;
            }
        }
        // After the pump: delivering the head chunk is what opens the window.
        run.start_requests();
        // The head goes out once a range answer is known to be right.
        if sink.is_none() && run.validated {
            let outparam = out.take().expect("the head is sent once");
            match Sink::open(outparam, &run.request.head) {
                Some(opened) => sink = Some(opened),
                None => return RangedOutcome::Done,
            }
            continue;
        }

        let wake_sink = sink
            .as_ref()
            .filter(|s| s.has_pending() || run.plan.has_deliverable());
        if run.transfers.is_empty() && wake_sink.is_none() {
            // Nothing in flight and nothing to write: cannot happen while
            // the plan is unfinished, but never spin.
            let reason = "internal error: no request in flight".to_string();
            return stop(out, sink, Stop::Fatal(reason));
        }
        let pollables: Vec<&Pollable> = run.transfers.iter().map(Transfer::pollable).collect();
        let ready = ready_transfers(&pollables, wake_sink.map(Sink::pollable));
        for index in ready {
            if let Some(stopped) = run.service(index) {
                return stop(out, sink, stopped);
            }
        }
    }
}

/// Ends the answer for `reason`: before the head went out, the caller can
/// still answer properly; after, the body is aborted (the sink dropped
/// without finishing) so the client sees a broken transfer.
fn stop(out: Option<ResponseOutparam>, sink: Option<Sink>, reason: Stop) -> RangedOutcome {
    match (out, reason) {
        (Some(out), Stop::Changed(why)) => RangedOutcome::ObjectChanged(out, why),
        (Some(out), Stop::RangesIgnored(response)) => RangedOutcome::RangesIgnored(out, response),
        (Some(out), Stop::Fatal(why)) => RangedOutcome::Failed(out, why),
        (None, reason) => {
            let why = match reason {
                Stop::Changed(why) => format!("the object changed at the origin ({why})"),
                Stop::RangesIgnored(_) => "the origin stopped serving ranges".to_string(),
                Stop::Fatal(why) => why,
            };
            log(&format!("aborting the answer mid-body: {why}"));
            drop(sink);
            RangedOutcome::Done
        }
    }
}

impl Run<'_> {
    fn start_requests(&mut self) {
        while let Some(fetch) = self.plan.next_request() {
            let stage = match self.send(fetch.range) {
                Ok(pending) => Stage::Headers(pending),
                // Counted like any failed attempt: backoff, then again.
                Err(reason) => self.backoff(fetch.chunk, reason, None),
            };
            self.transfers.push(Transfer {
                fetch,
                stage,
                progressed: false,
            });
        }
    }

    fn send(&self, range: ByteRange) -> Result<PendingResponse, String> {
        let object = self.request.object;
        let mut headers = vec![("range", range.header_value())];
        // A changed object then answers 200 instead of a 206 of the new
        // version, which would otherwise be spliced into the old one.
        if let Some(validator) = object.if_range() {
            headers.push(("if-range", validator.to_string()));
        }
        self.request
            .client
            .get(&object.url, &headers)
            .map_err(String::from)
    }

    /// Services the ready transfer at `index`; `Some` stops the answer.
    fn service(&mut self, index: usize) -> Option<Stop> {
        let step = self.step(index);
        let chunk = self.transfers[index].fetch.chunk;
        match step {
            Step::Continue => {}
            Step::Complete => {
                self.transfers.swap_remove(index);
                self.failures.remove(&chunk);
            }
            Step::Retry => {
                self.transfers.swap_remove(index);
                self.plan.on_interrupted(chunk);
            }
            Step::Failed {
                reason,
                retry_after_ms,
            } => {
                let progressed = self.transfers[index].progressed;
                let failures = self.failures.entry(chunk).or_insert(0);
                *failures = if progressed { 1 } else { *failures + 1 };
                if *failures > self.policy.max_retries {
                    return Some(Stop::Fatal(format!(
                        "{} failed {failures} times in a row (last: {reason})",
                        self.plan.chunk_range(chunk)
                    )));
                }
                let stage = self.backoff(chunk, reason, retry_after_ms);
                let transfer = &mut self.transfers[index];
                transfer.stage = stage;
                transfer.progressed = false;
            }
            Step::Stop(stop) => return Some(stop),
        }
        None
    }

    fn backoff(&self, chunk: usize, reason: String, retry_after_ms: Option<u64>) -> Stage {
        let retry = self.failures.get(&chunk).copied().unwrap_or(1).max(1);
        let delay = self
            .policy
            .delay_ms(retry, retry_after_ms, get_random_u64());
        log(&format!(
            "{} of {}: {reason}; retrying in {:.1} s",
            self.plan.chunk_range(chunk),
            self.request.object.url,
            delay as f64 / 1000.0
        ));
        Stage::Backoff(time::after_ms(delay))
    }

    fn step(&mut self, index: usize) -> Step {
        let transfer = &mut self.transfers[index];
        match &transfer.stage {
            Stage::Backoff(timer) => {
                if timer.ready() {
                    Step::Retry
                } else {
                    Step::Continue
                }
            }
            Stage::Headers(pending) => {
                let Some(result) = pending.try_take() else {
                    return Step::Continue;
                };
                let response = match result {
                    Ok(response) => response,
                    Err(reason) => {
                        return Step::Failed {
                            reason: reason.into(),
                            retry_after_ms: None,
                        }
                    }
                };
                let object = self.request.object;
                let verdict = check_range_response(
                    object,
                    transfer.fetch.range,
                    &object.url,
                    response.status,
                    &response.headers,
                    time::unix_ms(),
                );
                match verdict {
                    RangeVerdict::Write => match response.into_body() {
                        Ok(body) => {
                            self.validated = true;
                            transfer.stage = Stage::Body(body);
                            Step::Continue
                        }
                        Err(reason) => Step::Failed {
                            reason,
                            retry_after_ms: None,
                        },
                    },
                    RangeVerdict::RemoteChanged(why) => Step::Stop(Stop::Changed(why)),
                    RangeVerdict::RangesIgnored => Step::Stop(Stop::RangesIgnored(response)),
                    // The probe already followed redirects to the final URL;
                    // one now is a fault of this answer.
                    RangeVerdict::Redirect(next) => Step::Failed {
                        reason: format!("unexpected redirect to {next}"),
                        retry_after_ms: None,
                    },
                    RangeVerdict::Retry {
                        reason,
                        retry_after_ms,
                    } => Step::Failed {
                        reason: reason.to_string(),
                        retry_after_ms,
                    },
                    RangeVerdict::Fatal(reason) => Step::Stop(Stop::Fatal(reason.to_string())),
                }
            }
            Stage::Body(body) => {
                let chunk = transfer.fetch.chunk;
                for _ in 0..READS_PER_TURN {
                    // Never more than the chunk still expects: an overlong
                    // body's tail stays unread.
                    let wanted = self.plan.remaining(chunk).min(READ_SIZE);
                    match body.read(wanted) {
                        Read::Data(data) => {
                            transfer.progressed = true;
                            if self.plan.on_data(chunk, data) {
                                return Step::Complete;
                            }
                        }
                        Read::Wait => return Step::Continue,
                        Read::End => {
                            return Step::Failed {
                                reason: format!(
                                    "the body ended {} bytes short",
                                    self.plan.remaining(chunk)
                                ),
                                retry_after_ms: None,
                            }
                        }
                        Read::Failed(reason) => {
                            return Step::Failed {
                                reason,
                                retry_after_ms: None,
                            }
                        }
                    }
                }
                Step::Continue
            }
        }
    }
}
