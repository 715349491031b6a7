//! The pump: the requests a fetch has in flight, keyed by its ids, sent
//! over `wasi:http`, waited on together with `wasi:io/poll`, and what they
//! bring fed back to it (see `rangeget_core::fetch` for the contract).
//! Both components drive their fetches through this; only where the
//! bytes then go differs.

use std::cell::RefCell;
use std::rc::Rc;

use crate::client::{Body, Client, PendingResponse, Pollable, Read, Response, Trace};
use crate::clock;
use crate::multiplex::ready;
use rangeget_core::budget::{host_of, Budget};
use rangeget_core::fetch::{Fetch, Input, Output, Room};
use rangeget_core::request::{Request, RequestFailure, RequestId};
use rangeget_core::Failure;

/// At most this much is read from one body before the others get their
/// turn, so a fast local link cannot starve the rest of the poll set.
const BYTES_PER_TURN: u64 = 8 << 20;

enum Stage<T: Trace> {
    Waiting(PendingResponse<T>),
    /// The head was fed to the fetch; the body is not being read (yet).
    Answered(Response),
    Reading(Body),
}

struct Exchange<T: Trace> {
    id: RequestId,
    /// Where it went, as the budget counts it.
    host: String,
    stage: Stage<T>,
}

/// The open requests of one fetch, counted in a budget it may share
/// with other fetches (the files of a batch).
pub struct Exchanges<T: Trace> {
    client: Client<T>,
    open: Vec<Exchange<T>>,
    budget: Rc<RefCell<Budget>>,
    /// The last URL whose host was looked up, and that host: a fetch
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
    /// Exchanges of their own, with no budget beyond the fetch's.
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

    /// Sends `request` with the fetch's headers after the client's own.
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

    /// Drops request `id` (a body left unread is cut off).
    pub fn close(&mut self, id: RequestId) {
        if let Some(at) = self.open.iter().position(|e| e.id == id) {
            let exchange = self.open.swap_remove(at);
            self.budget.borrow_mut().ended(&exchange.host);
        }
    }

    /// Whether exchange `e` is worth waiting on: its head is awaited, or
    /// `fetch` wants to read its body now. A body the fetch will not
    /// read now (a reader without room, `--max-speed`) would be ready at
    /// once: it is not waited on.
    fn waited<'a>(e: &'a Exchange<T>, fetch: &Fetch, now: u64) -> Option<&'a Pollable> {
        match &e.stage {
            Stage::Waiting(pending) => Some(pending.pollable()),
            Stage::Reading(body) => fetch
                .body_window(e.id, now)
                .is_some_and(|w| w.len > 0)
                .then(|| body.pollable()),
            Stage::Answered(_) => None,
        }
    }

    /// Answers in hand whose body `fetch` now wants: ready as they are.
    fn in_hand(&self, fetch: &Fetch, now: u64) -> Vec<RequestId> {
        self.open
            .iter()
            .filter(|e| matches!(e.stage, Stage::Answered(_)))
            .filter(|e| fetch.body_window(e.id, now).is_some_and(|w| w.len > 0))
            .map(|e| e.id)
            .collect()
    }

    /// What to wait on for this fetch at `now`: `None` when something is
    /// ready already (do not block), else its pollables.
    pub fn pollables(&self, fetch: &Fetch, now: u64) -> Option<Vec<&Pollable>> {
        if !self.in_hand(fetch, now).is_empty() {
            return None;
        }
        Some(
            self.open
                .iter()
                .filter_map(|e| Self::waited(e, fetch, now))
                .collect(),
        )
    }

    /// Whether a request of this fetch waits for its answer's head (its
    /// poll will tell when that comes).
    pub fn awaits_head(&self) -> bool {
        self.open
            .iter()
            .any(|e| matches!(e.stage, Stage::Waiting(_)))
    }

    /// The requests ready now, without blocking.
    pub fn ready_now(&self, fetch: &Fetch) -> Vec<RequestId> {
        let now = clock::now_ms();
        let mut ready = self.in_hand(fetch, now);
        ready.extend(
            self.open
                .iter()
                .filter(|e| Self::waited(e, fetch, now).is_some_and(Pollable::ready))
                .map(|e| e.id),
        );
        ready
    }

    /// Blocks until a request this fetch waits on (see [`Exchanges::pollables`])
    /// or one of `extra` is ready; returns the ready requests.
    pub fn wait(&self, fetch: &Fetch, extra: &[&Pollable]) -> Vec<RequestId> {
        let now = clock::now_ms();
        let in_hand = self.in_hand(fetch, now);
        if !in_hand.is_empty() {
            return in_hand;
        }
        let waited: Vec<(RequestId, &Pollable)> = self
            .open
            .iter()
            .filter_map(|e| Self::waited(e, fetch, now).map(|p| (e.id, p)))
            .collect();
        let pollables: Vec<&Pollable> = waited.iter().map(|(_, p)| *p).collect();
        ready(&pollables, extra)
            .into_iter()
            .map(|i| waited[i].0)
            .collect()
    }

    /// Feeds what request `id` has ready into `fetch`: its head, or
    /// the body bytes its window allows, each handed to `write` (with
    /// its object offset) before the fetch counts it.
    pub fn service(
        &mut self,
        id: RequestId,
        fetch: &mut Fetch,
        write: &mut impl FnMut(u64, &[u8]) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let Some(at) = self.open.iter().position(|e| e.id == id) else {
            return Ok(());
        };
        // Closed by the fetch since its outputs were last carried out (it
        // stopped while another request was serviced): dropped, never fed.
        if !fetch.expects(id) {
            self.close(id);
            return Ok(());
        }
        let Exchange { id, host, stage } = self.open.swap_remove(at);
        let (stage, result) = advance(id, stage, fetch, write);
        match stage {
            Some(stage) => self.open.push(Exchange { id, host, stage }),
            None => self.budget.borrow_mut().ended(&host),
        }
        result
    }

    /// What the budget has room for, for `fetch`'s next request.
    fn room(&self, fetch: &Fetch) -> Room {
        let url = fetch.url();
        let start = self.may_start(url);
        Room {
            start,
            spare: start || self.may_start_spare(url),
        }
    }

    /// When `fetch` next has something to do on its own, at `now`.
    pub fn deadline(&self, fetch: &Fetch, now: u64) -> Option<u64> {
        fetch.deadline(now, self.room(fetch))
    }

    /// Carries out `fetch`'s outputs about requests (sends and drops)
    /// until one concerns the adapter: where bytes go, what to tell, the
    /// moment to wait until, the end (step 1 of the fetch's contract).
    pub fn poll(&mut self, fetch: &mut Fetch) -> Output {
        loop {
            let now = clock::now_ms();
            match fetch.poll(now, self.room(fetch)) {
                Output::Send(request) => {
                    if let Err(failure) = self.send(&request) {
                        let id = request.id;
                        fetch.handle(Input::Failed { id, failure }, now);
                    }
                }
                Output::Close(id) => self.close(id),
                other => return other,
            }
        }
    }
}

/// Moves request `id` on as far as it can now: its head to the fetch, its
/// body opened once the fetch wants it, then read. Returns the stage it
/// is in (none once it failed: the fetch closes it).
fn advance<T: Trace>(
    id: RequestId,
    stage: Stage<T>,
    fetch: &mut Fetch,
    write: &mut impl FnMut(u64, &[u8]) -> Result<(), Failure>,
) -> (Option<Stage<T>>, Result<(), Failure>) {
    let response = match stage {
        Stage::Waiting(pending) => match pending.try_take() {
            None => return (Some(Stage::Waiting(pending)), Ok(())),
            Some(Err(error)) => {
                fail(fetch, id, error);
                return (None, Ok(()));
            }
            Some(Ok(response)) => {
                feed_head(fetch, id, &response);
                response
            }
        },
        Stage::Answered(response) => response,
        Stage::Reading(body) => {
            let result = read_body(id, &body, fetch, write);
            return (Some(Stage::Reading(body)), result);
        }
    };
    // The fetch reads the body only of an answer it accepted.
    if fetch.body_window(id, clock::now_ms()).is_none() {
        return (Some(Stage::Answered(response)), Ok(()));
    }
    match response.into_body() {
        Ok(body) => {
            let result = read_body(id, &body, fetch, write);
            (Some(Stage::Reading(body)), result)
        }
        Err(failure) => {
            fail(fetch, id, failure);
            (None, Ok(()))
        }
    }
}

fn feed_head(fetch: &mut Fetch, id: RequestId, response: &Response) {
    let head = Input::Head {
        id,
        status: response.status,
        headers: &response.headers,
        unix_ms: clock::unix_ms(),
    };
    fetch.handle(head, clock::now_ms());
}

fn fail(fetch: &mut Fetch, id: RequestId, failure: RequestFailure) {
    fetch.handle(Input::Failed { id, failure }, clock::now_ms());
}

/// Reads what `body` has ready, within the fetch's window, until it
/// waits, ends, or has had its turn.
fn read_body(
    id: RequestId,
    body: &Body,
    fetch: &mut Fetch,
    write: &mut impl FnMut(u64, &[u8]) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut turn = 0;
    while turn < BYTES_PER_TURN {
        let Some(window) = fetch.body_window(id, clock::now_ms()) else {
            return Ok(());
        };
        if window.len == 0 {
            return Ok(());
        }
        match body.read(window.len) {
            Read::Data(data) => {
                write(window.offset, &data)?;
                turn += data.len() as u64;
                fetch.handle(Input::Body { id, data }, clock::now_ms());
            }
            Read::Wait => return Ok(()),
            Read::End => {
                fetch.handle(Input::BodyEnd { id }, clock::now_ms());
                return Ok(());
            }
            Read::Failed(message) => {
                fail(fetch, id, RequestFailure::Broken(message));
                return Ok(());
            }
        }
    }
    Ok(())
}
