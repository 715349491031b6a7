//! The requests an engine has in flight, keyed by its ids: sent over
//! `wasi:http`, waited on together with `wasi:io/poll`, and what they
//! bring fed back to the engine. Both components drive their transfers
//! through this; only where the bytes then go differs.

use rangeget_core::probe::{Probe, ProbeEnd};
use rangeget_core::request::{Event, Request, RequestFailure, RequestId};
use rangeget_core::transfer::{Command, Transfer};
use rangeget_core::{Failure, Headers};
use wasip2::io::poll::Pollable;

use crate::client::{Body, Client, PendingResponse, Read, RequestError, Response, Trace};
use crate::clock;
use crate::multiplex::ready;

/// At most this much is read from one body before the others get their
/// turn, so a fast local link cannot starve the rest of the poll set.
const BYTES_PER_TURN: u64 = 8 << 20;

enum Stage<T: Trace> {
    Waiting(PendingResponse<T>),
    /// The head was fed to the engine; the body is not being read (yet).
    Answered(Response),
    Reading(Body),
}

struct Exchange<T: Trace> {
    id: RequestId,
    stage: Stage<T>,
}

/// What a driver adds around an engine's waits: where its events go, and
/// (for the command, which keeps a lease on its destination) an earlier
/// wake-up and a duty after each wait.
pub trait Hooks {
    fn event(&mut self, event: Event);
    /// The moment to wake at, given the engine's own deadline.
    fn deadline(&self, engine: Option<u64>) -> Option<u64> {
        engine
    }
    /// Called after every wait; an error stops the driver.
    fn woke(&mut self) -> Result<(), Failure> {
        Ok(())
    }
}

/// The open requests of one engine.
pub struct Exchanges<T: Trace> {
    client: Client<T>,
    open: Vec<Exchange<T>>,
}

impl From<RequestError> for RequestFailure {
    fn from(error: RequestError) -> RequestFailure {
        RequestFailure {
            message: error.message,
            lasting: error.lasting,
        }
    }
}

impl<T: Trace> Exchanges<T> {
    pub fn new(client: Client<T>) -> Exchanges<T> {
        Exchanges {
            client,
            open: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Sends `request` with the engine's headers after the client's own.
    pub fn send(&mut self, request: &Request) -> Result<(), RequestFailure> {
        let pending = self.client.send(request)?;
        self.open.push(Exchange {
            id: request.id,
            stage: Stage::Waiting(pending),
        });
        Ok(())
    }

    /// Takes over `response`, already answered to request `id` (of another
    /// engine: a probe's GET, a range answered with the whole object).
    pub fn adopt(&mut self, id: RequestId, response: Response) {
        self.close(id);
        self.open.push(Exchange {
            id,
            stage: Stage::Answered(response),
        });
    }

    /// Hands over the answered response of request `id`, if it has one.
    pub fn take_response(&mut self, id: RequestId) -> Option<Response> {
        let at = self.open.iter().position(|e| e.id == id)?;
        match self.open.swap_remove(at).stage {
            Stage::Answered(response) => Some(response),
            _ => None,
        }
    }

    /// Drops request `id` (a body left unread is cut off).
    pub fn close(&mut self, id: RequestId) {
        self.open.retain(|e| e.id != id);
    }

    /// Blocks until a request whose head is awaited, a body `transfer`
    /// wants to read now, or one of `extra` is ready; returns the ready
    /// requests. A body the engine will not read now (a reader without
    /// room, `--max-speed`) is not waited on: it would be ready at once.
    pub fn wait(&self, transfer: Option<&Transfer>, extra: &[&Pollable]) -> Vec<RequestId> {
        let now = clock::now_ms();
        let wanted = |id| {
            transfer
                .and_then(|t| t.body_window(id, now))
                .is_some_and(|w| w.len > 0)
        };
        // An answer in hand whose body the engine now wants is ready as it is.
        let in_hand: Vec<RequestId> = self
            .open
            .iter()
            .filter(|e| matches!(e.stage, Stage::Answered(_)) && wanted(e.id))
            .map(|e| e.id)
            .collect();
        if !in_hand.is_empty() {
            return in_hand;
        }
        let waited: Vec<&Exchange<T>> = self
            .open
            .iter()
            .filter(|e| match &e.stage {
                Stage::Waiting(_) => true,
                Stage::Reading(_) => wanted(e.id),
                Stage::Answered(_) => false,
            })
            .collect();
        let pollables: Vec<&Pollable> = waited
            .iter()
            .map(|e| match &e.stage {
                Stage::Waiting(pending) => pending.pollable(),
                Stage::Reading(body) => body.pollable(),
                Stage::Answered(_) => unreachable!("filtered out"),
            })
            .collect();
        ready(&pollables, extra)
            .into_iter()
            .map(|i| waited[i].id)
            .collect()
    }

    /// Feeds what request `id` has ready into `transfer`: its head, or
    /// the body bytes its window allows, each handed to `write` (with
    /// its object offset) before the engine counts it.
    pub fn service(
        &mut self,
        id: RequestId,
        transfer: &mut Transfer,
        write: &mut impl FnMut(u64, &[u8]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let Some(at) = self.open.iter().position(|e| e.id == id) else {
            return Ok(());
        };
        let Exchange { id, stage } = self.open.swap_remove(at);
        let (stage, result) = advance(id, stage, transfer, write);
        if let Some(stage) = stage {
            self.open.push(Exchange { id, stage });
        }
        result
    }

    /// The head of request `id` once it has arrived (the response is kept,
    /// its body unread), or how the request failed (it is dropped).
    pub fn poll_head(&mut self, id: RequestId) -> Option<Result<(u16, Headers), RequestFailure>> {
        let at = self.open.iter().position(|e| e.id == id)?;
        let Stage::Waiting(pending) = &self.open[at].stage else {
            return None;
        };
        match pending.try_take()? {
            Ok(response) => {
                let head = (response.status, response.headers.clone());
                self.open[at].stage = Stage::Answered(response);
                Some(Ok(head))
            }
            Err(error) => {
                self.open.swap_remove(at);
                Some(Err(error.into()))
            }
        }
    }

    /// Feeds the head of request `id`, answered before `transfer` existed
    /// (adopted), into it.
    pub fn refeed_head(&mut self, id: RequestId, transfer: &mut Transfer) {
        if let Some(Exchange {
            stage: Stage::Answered(response),
            ..
        }) = self.open.iter().find(|e| e.id == id)
        {
            feed_head(transfer, id, response);
        }
    }

    /// Carries out `transfer`'s commands (step 1 of its contract): sends
    /// and drops requests, and hands every command that also concerns
    /// where the bytes go (a `Close` with a range to flush, a `Truncate`)
    /// to `local`.
    pub fn follow(
        &mut self,
        transfer: &mut Transfer,
        mut local: impl FnMut(&mut Transfer, Command),
    ) {
        let now = clock::now_ms();
        while let Some(command) = transfer.poll_command(now) {
            match command {
                Command::Send(request) => {
                    if let Err(failure) = self.send(&request) {
                        transfer.handle_error(request.id, failure, now);
                    }
                }
                Command::Close { id, flush } => {
                    self.close(id);
                    if flush.is_some() {
                        local(transfer, command);
                    }
                }
                Command::Truncate => local(transfer, command),
            }
        }
    }

    /// Runs `probe` to its end (one request at a time, backoffs waited
    /// out), leaving open only the request its end names as `body`. A
    /// request stays open while the probe may still want it (a 200 held
    /// while a HEAD checks it).
    pub fn probe(&mut self, mut probe: Probe, hooks: &mut impl Hooks) -> Result<ProbeEnd, Failure> {
        let mut sent: Vec<RequestId> = Vec::new();
        loop {
            while let Some(event) = probe.poll_event() {
                hooks.event(event);
            }
            if let Some(end) = probe.poll_end() {
                let keep = match &end {
                    ProbeEnd::Object { body, .. } => *body,
                    _ => None,
                };
                for id in sent.into_iter().filter(|&id| Some(id) != keep) {
                    self.close(id);
                }
                return Ok(end);
            }
            if let Some(request) = probe.poll_request(clock::now_ms()) {
                sent.push(request.id);
                if let Err(failure) = self.send(&request) {
                    probe.handle_error(request.id, failure, clock::now_ms());
                }
                continue;
            }
            let timer = hooks.deadline(probe.poll_timeout()).map(clock::wake_at);
            self.wait(None, timer.iter().collect::<Vec<_>>().as_slice());
            hooks.woke()?;
            let Some(&id) = sent.last() else { continue };
            match self.poll_head(id) {
                Some(Ok((status, headers))) => {
                    probe.handle_head(id, status, headers, clock::now_ms(), clock::unix_ms());
                    if !probe.keeps(id) {
                        self.close(id);
                    }
                }
                Some(Err(failure)) => probe.handle_error(id, failure, clock::now_ms()),
                None => {}
            }
        }
    }
}

/// Moves request `id` on as far as it can now: its head to the engine, its
/// body opened once the engine wants it, then read. Returns the stage it
/// is in (none once it failed: the engine closes it).
fn advance<T: Trace>(
    id: RequestId,
    stage: Stage<T>,
    transfer: &mut Transfer,
    write: &mut impl FnMut(u64, &[u8]) -> Result<(), Failure>,
) -> (Option<Stage<T>>, Result<(), Failure>) {
    let response = match stage {
        Stage::Waiting(pending) => match pending.try_take() {
            None => return (Some(Stage::Waiting(pending)), Ok(())),
            Some(Err(error)) => {
                transfer.handle_error(id, error.into(), clock::now_ms());
                return (None, Ok(()));
            }
            Some(Ok(response)) => {
                feed_head(transfer, id, &response);
                response
            }
        },
        Stage::Answered(response) => response,
        Stage::Reading(body) => {
            let result = read_body(id, &body, transfer, write);
            return (Some(Stage::Reading(body)), result);
        }
    };
    // The engine reads the body only of an answer it accepted.
    if transfer.body_window(id, clock::now_ms()).is_none() {
        return (Some(Stage::Answered(response)), Ok(()));
    }
    match response.into_body() {
        Ok(body) => {
            let result = read_body(id, &body, transfer, write);
            (Some(Stage::Reading(body)), result)
        }
        Err(message) => {
            let failure = RequestFailure {
                message,
                lasting: false,
            };
            transfer.handle_error(id, failure, clock::now_ms());
            (None, Ok(()))
        }
    }
}

fn feed_head(transfer: &mut Transfer, id: RequestId, response: &Response) {
    let (now, unix) = (clock::now_ms(), clock::unix_ms());
    transfer.handle_head(id, response.status, &response.headers, now, unix);
}

/// Reads what `body` has ready, within the engine's window, until it
/// waits, ends, or has had its turn.
fn read_body(
    id: RequestId,
    body: &Body,
    transfer: &mut Transfer,
    write: &mut impl FnMut(u64, &[u8]) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut turn = 0;
    while turn < BYTES_PER_TURN {
        let Some(window) = transfer.body_window(id, clock::now_ms()) else {
            return Ok(());
        };
        if window.len == 0 {
            return Ok(());
        }
        match body.read(window.len) {
            Read::Data(data) => {
                write(window.offset, &data)?;
                turn += data.len() as u64;
                transfer.handle_body(id, data, clock::now_ms());
            }
            Read::Wait => return Ok(()),
            Read::End => {
                transfer.handle_body_end(id, clock::now_ms());
                return Ok(());
            }
            Read::Failed(message) => {
                let failure = RequestFailure {
                    message,
                    lasting: false,
                };
                transfer.handle_error(id, failure, clock::now_ms());
                return Ok(());
            }
        }
    }
    Ok(())
}
