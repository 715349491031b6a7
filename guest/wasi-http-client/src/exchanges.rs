//! The requests an engine has in flight, keyed by its ids: sent over
//! `wasi:http`, waited on together with `wasi:io/poll`, and what they
//! bring fed back to the engine. Both components drive their transfers
//! through this; only where the bytes then go differs.

use std::cell::RefCell;
use std::rc::Rc;

use crate::client::{Body, Client, PendingResponse, Pollable, Read, Response, Trace};
use crate::clock;
use crate::multiplex::ready;
use rangeget_core::budget::{host_of, Budget};
use rangeget_core::probe::{Probe, ProbeEnd};
use rangeget_core::request::{Event, Request, RequestFailure, RequestId};
use rangeget_core::transfer::{Command, Transfer};
use rangeget_core::{Failure, Headers};

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
    /// Where it went, as the budget counts it.
    host: String,
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

/// The open requests of one engine, counted in a budget it may share
/// with other engines (the files of a batch).
pub struct Exchanges<T: Trace> {
    client: Client<T>,
    open: Vec<Exchange<T>>,
    budget: Rc<RefCell<Budget>>,
    /// The last URL whose host was looked up, and that host: an engine
    /// asks about one URL (its object's) over and over, each turn of a
    /// batch's loop, and parsing it each time was a fifth of the
    /// component's own time on 1,000 small files.
    last_host: RefCell<Option<(String, String)>>,
}

impl<T: Trace> Drop for Exchanges<T> {
    /// Requests still open when a file is done (it failed, or was given up)
    /// leave the shared budget with it.
    fn drop(&mut self) {
        let mut budget = self.budget.borrow_mut();
        for exchange in &self.open {
            budget.ended(&exchange.host);
        }
    }
}

impl<T: Trace> Exchanges<T> {
    /// Exchanges of their own, with no budget beyond the engine's.
    pub fn new(client: Client<T>) -> Exchanges<T> {
        let unlimited = Budget::new(usize::MAX, usize::MAX);
        Exchanges::sharing(client, Rc::new(RefCell::new(unlimited)))
    }

    /// Exchanges counted in `budget`, shared with others.
    pub fn sharing(client: Client<T>, budget: Rc<RefCell<Budget>>) -> Exchanges<T> {
        Exchanges {
            client,
            open: Vec::new(),
            budget,
            last_host: RefCell::new(None),
        }
    }

    /// Whether the budget has room for a new request to `url`.
    pub fn may_start(&self, url: &str) -> bool {
        self.budget.borrow().may_start(&self.host(url))
    }

    /// Whether the budget's spare slot is free (see `Budget::may_start_spare`).
    fn may_start_spare(&self, url: &str) -> bool {
        self.budget.borrow().may_start_spare(&self.host(url))
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Sends `request` with the engine's headers after the client's own.
    pub fn send(&mut self, request: &Request) -> Result<(), RequestFailure> {
        let pending = self.client.send(request)?;
        self.push(request.id, &request.url, Stage::Waiting(pending));
        Ok(())
    }

    /// Where requests to `url` go, as the budget counts them.
    fn host(&self, url: &str) -> String {
        let mut last = self.last_host.borrow_mut();
        match &*last {
            Some((seen, host)) if seen == url => host.clone(),
            _ => {
                let host = host_of(url);
                *last = Some((url.to_string(), host.clone()));
                host
            }
        }
    }

    fn push(&mut self, id: RequestId, url: &str, stage: Stage<T>) {
        let host = self.host(url);
        self.budget.borrow_mut().started(&host);
        self.open.push(Exchange { id, host, stage });
    }

    /// Takes over `response`, already answered to request `id` (of another
    /// engine: a probe's GET, a range answered with the whole object).
    pub fn adopt(&mut self, id: RequestId, response: Response) {
        self.close(id);
        let url = response.url().to_string();
        self.push(id, &url, Stage::Answered(response));
    }

    /// Hands over the answered response of request `id`, if it has one.
    pub fn take_response(&mut self, id: RequestId) -> Option<Response> {
        let at = self.open.iter().position(|e| e.id == id)?;
        let exchange = self.open.swap_remove(at);
        self.budget.borrow_mut().ended(&exchange.host);
        match exchange.stage {
            Stage::Answered(response) => Some(response),
            _ => None,
        }
    }

    /// Drops request `id` (a body left unread is cut off).
    pub fn close(&mut self, id: RequestId) {
        if let Some(at) = self.open.iter().position(|e| e.id == id) {
            let exchange = self.open.swap_remove(at);
            self.budget.borrow_mut().ended(&exchange.host);
        }
    }

    /// Whether exchange `e` is worth waiting on: its head is awaited, or
    /// `transfer` wants to read its body now. A body the engine will not
    /// read now (a reader without room, `--max-speed`) would be ready at
    /// once: it is not waited on.
    fn waited<'a>(
        e: &'a Exchange<T>,
        transfer: Option<&Transfer>,
        now: u64,
    ) -> Option<&'a Pollable> {
        match &e.stage {
            Stage::Waiting(pending) => Some(pending.pollable()),
            Stage::Reading(body) => transfer
                .and_then(|t| t.body_window(e.id, now))
                .is_some_and(|w| w.len > 0)
                .then(|| body.pollable()),
            Stage::Answered(_) => None,
        }
    }

    /// Answers in hand whose body `transfer` now wants: ready as they are.
    fn in_hand(&self, transfer: Option<&Transfer>, now: u64) -> Vec<RequestId> {
        let Some(transfer) = transfer else {
            return Vec::new();
        };
        self.open
            .iter()
            .filter(|e| matches!(e.stage, Stage::Answered(_)))
            .filter(|e| transfer.body_window(e.id, now).is_some_and(|w| w.len > 0))
            .map(|e| e.id)
            .collect()
    }

    /// What to wait on for this engine at `now`: `None` when something is
    /// ready already (do not block), else its pollables.
    pub fn pollables(&self, transfer: Option<&Transfer>, now: u64) -> Option<Vec<&Pollable>> {
        if !self.in_hand(transfer, now).is_empty() {
            return None;
        }
        Some(
            self.open
                .iter()
                .filter_map(|e| Self::waited(e, transfer, now))
                .collect(),
        )
    }

    /// Whether a request of this engine waits for its answer's head (its
    /// poll will tell when that comes).
    pub fn awaits_head(&self) -> bool {
        self.open
            .iter()
            .any(|e| matches!(e.stage, Stage::Waiting(_)))
    }

    /// The requests ready now, without blocking.
    pub fn ready_now(&self, transfer: Option<&Transfer>) -> Vec<RequestId> {
        let now = clock::now_ms();
        let mut ready = self.in_hand(transfer, now);
        ready.extend(
            self.open
                .iter()
                .filter(|e| Self::waited(e, transfer, now).is_some_and(Pollable::ready))
                .map(|e| e.id),
        );
        ready
    }

    /// Blocks until a request this engine waits on (see [`Exchanges::pollables`])
    /// or one of `extra` is ready; returns the ready requests.
    pub fn wait(&self, transfer: Option<&Transfer>, extra: &[&Pollable]) -> Vec<RequestId> {
        let now = clock::now_ms();
        let in_hand = self.in_hand(transfer, now);
        if !in_hand.is_empty() {
            return in_hand;
        }
        let waited: Vec<(RequestId, &Pollable)> = self
            .open
            .iter()
            .filter_map(|e| Self::waited(e, transfer, now).map(|p| (e.id, p)))
            .collect();
        let pollables: Vec<&Pollable> = waited.iter().map(|(_, p)| *p).collect();
        ready(&pollables, extra)
            .into_iter()
            .map(|i| waited[i].0)
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
        // Closed by the transfer since the last `follow` (it stopped while
        // another request was serviced): dropped here, never fed.
        if !transfer.has_open(id) {
            self.close(id);
            return Ok(());
        }
        let Exchange { id, host, stage } = self.open.swap_remove(at);
        let (stage, result) = advance(id, stage, transfer, write);
        match stage {
            Some(stage) => self.open.push(Exchange { id, host, stage }),
            None => self.budget.borrow_mut().ended(&host),
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
                let exchange = self.open.swap_remove(at);
                self.budget.borrow_mut().ended(&exchange.host);
                Some(Err(error))
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
        while let Some(command) = transfer.poll_command() {
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
        // New requests, while the budget has room for them.
        while self.may_start(&transfer.object().url) {
            let Some(request) = transfer.poll_start(now) else {
                break;
            };
            if let Err(failure) = self.send(&request) {
                transfer.handle_error(request.id, failure, now);
            }
        }
    }

    /// Runs `probe` to its end (see [`ProbeRun`]), waiting in between.
    pub fn probe(&mut self, probe: Probe, hooks: &mut impl Hooks) -> Result<ProbeEnd, Failure> {
        let mut run = ProbeRun::new(probe);
        loop {
            if let Some(end) = run.step(self, hooks) {
                return Ok(end);
            }
            let timer = hooks.deadline(run.deadline(self)).map(clock::wake_at);
            self.wait(None, timer.iter().collect::<Vec<_>>().as_slice());
            hooks.woke()?;
        }
    }
}

/// A probe under way through some exchanges, advanced without blocking:
/// one request at a time (sent when the budget has room), backoffs waited
/// out by the caller. A request stays open while the probe may still want
/// it (a 200 held while a HEAD checks it); at the end only the one the end
/// names as `body` stays.
pub struct ProbeRun {
    probe: Probe,
    sent: Vec<RequestId>,
}

impl ProbeRun {
    pub fn new(probe: Probe) -> ProbeRun {
        ProbeRun {
            probe,
            sent: Vec::new(),
        }
    }

    /// When the probe next wants to send (after a backoff); none while
    /// the budget has no room for it: a request ending makes room, and its
    /// poll says when (a deadline already past would make a busy loop).
    pub fn deadline<T: Trace>(&self, exchanges: &Exchanges<T>) -> Option<u64> {
        self.probe
            .poll_timeout()
            .filter(|_| self.may_send(exchanges))
    }

    /// Whether the budget lets the probe send its next request. One that
    /// holds an answer (checking a 200 with a HEAD) may take the spare slot:
    /// probes holding every slot would otherwise wait on each other.
    fn may_send<T: Trace>(&self, exchanges: &Exchanges<T>) -> bool {
        let url = self.probe.url();
        let holds = self.sent.iter().any(|&id| self.probe.keeps(id));
        exchanges.may_start(url) || (holds && exchanges.may_start_spare(url))
    }

    /// Advances as far as it can now; the end once there.
    pub fn step<T: Trace>(
        &mut self,
        exchanges: &mut Exchanges<T>,
        hooks: &mut impl Hooks,
    ) -> Option<ProbeEnd> {
        loop {
            if let Some(&id) = self.sent.last() {
                match exchanges.poll_head(id) {
                    Some(Ok((status, headers))) => {
                        let (now, unix) = (clock::now_ms(), clock::unix_ms());
                        self.probe.handle_head(id, status, headers, now, unix);
                        if !self.probe.keeps(id) {
                            exchanges.close(id);
                        }
                    }
                    Some(Err(failure)) => self.probe.handle_error(id, failure, clock::now_ms()),
                    None => {}
                }
            }
            while let Some(event) = self.probe.poll_event() {
                hooks.event(event);
            }
            if let Some(end) = self.probe.poll_end() {
                let keep = match &end {
                    ProbeEnd::Object { body, .. } => *body,
                    _ => None,
                };
                for id in self.sent.drain(..).filter(|&id| Some(id) != keep) {
                    exchanges.close(id);
                }
                return Some(end);
            }
            if !self.probe.wants_to_send(clock::now_ms()) || !self.may_send(exchanges) {
                return None;
            }
            let request = self.probe.poll_request(clock::now_ms())?;
            self.sent.push(request.id);
            if let Err(failure) = exchanges.send(&request) {
                self.probe
                    .handle_error(request.id, failure, clock::now_ms());
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
                transfer.handle_error(id, error, clock::now_ms());
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
        Err(failure) => {
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
                let failure = RequestFailure::Broken(message);
                transfer.handle_error(id, failure, clock::now_ms());
                return Ok(());
            }
        }
    }
    Ok(())
}
