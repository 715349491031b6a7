//! Natively, for the pump's unit tests: the names `client`, `clock` and
//! `multiplex` give the exchanges, with the same signatures, a scripted
//! server that answers each request at once (or never) and a clock moved
//! by hand, in place of wasi:http and wasi:io/poll.

// A stand-in for the whole of `client`: not every name is used by the tests.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

use rangeget_core::request::{Request, RequestFailure};
use rangeget_core::Headers;

/// Where request lines would go; the fake keeps none.
pub trait Trace {
    fn line(message: impl FnOnce() -> String);
}

pub struct NoTrace;

impl Trace for NoTrace {
    fn line(_message: impl FnOnce() -> String) {}
}

/// What the scripted server does with a request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A head, then this body.
    Head {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// The runtime refuses to send it.
    Refused(RequestFailure),
    /// It goes out, and fails before its head.
    Fails(RequestFailure),
    /// It goes out, and no answer comes.
    Never,
}

/// A readiness flag, as a wasi:io pollable would be.
#[derive(Clone, Debug)]
pub struct Pollable(Rc<Cell<bool>>);

impl Pollable {
    fn with(ready: bool) -> Pollable {
        Pollable(Rc::new(Cell::new(ready)))
    }

    pub fn ready(&self) -> bool {
        self.0.get()
    }
}

/// The server's side: what it was asked, and how it answers.
pub struct Server {
    pub sent: Vec<Request>,
    answer: Box<dyn Fn(&Request) -> Answer>,
}

pub struct Client<T: Trace = NoTrace> {
    server: Rc<RefCell<Server>>,
    trace: PhantomData<T>,
}

impl<T: Trace> Client<T> {
    /// A client whose requests `answer` answers; the server, to look at.
    pub fn scripted(answer: impl Fn(&Request) -> Answer + 'static) -> (Self, Rc<RefCell<Server>>) {
        let server = Rc::new(RefCell::new(Server {
            sent: Vec::new(),
            answer: Box::new(answer),
        }));
        let client = Client {
            server: Rc::clone(&server),
            trace: PhantomData,
        };
        (client, server)
    }

    pub fn send(&self, request: &Request) -> Result<PendingResponse<T>, RequestFailure> {
        let mut server = self.server.borrow_mut();
        let answer = (server.answer)(request);
        server.sent.push(request.clone());
        if let Answer::Refused(failure) = answer {
            return Err(failure);
        }
        Ok(PendingResponse {
            ready: Pollable::with(!matches!(answer, Answer::Never)),
            answer: RefCell::new(Some(answer)),
            url: request.url.clone(),
            trace: PhantomData,
        })
    }
}

pub struct PendingResponse<T: Trace = NoTrace> {
    ready: Pollable,
    answer: RefCell<Option<Answer>>,
    url: String,
    trace: PhantomData<T>,
}

impl<T: Trace> PendingResponse<T> {
    pub fn pollable(&self) -> &Pollable {
        &self.ready
    }

    pub fn try_take(&self) -> Option<Result<Response, RequestFailure>> {
        if !self.ready.ready() {
            return None;
        }
        match self.answer.borrow_mut().take()? {
            Answer::Head {
                status,
                headers,
                body,
            } => Some(Ok(Response {
                status,
                headers: Headers::from_pairs(headers),
                url: self.url.clone(),
                body,
            })),
            Answer::Fails(failure) | Answer::Refused(failure) => Some(Err(failure)),
            Answer::Never => None,
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Headers,
    url: String,
    body: Vec<u8>,
}

impl Response {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn into_body(self) -> Result<Body, RequestFailure> {
        Ok(Body {
            ready: Pollable::with(true),
            data: self.body,
            at: Cell::new(0),
        })
    }
}

pub struct Body {
    ready: Pollable,
    data: Vec<u8>,
    at: Cell<usize>,
}

pub enum Read {
    Data(Vec<u8>),
    Wait,
    End,
    Failed(String),
}

impl Body {
    pub fn pollable(&self) -> &Pollable {
        &self.ready
    }

    pub fn read(&self, max: u64) -> Read {
        let at = self.at.get();
        if at == self.data.len() {
            return Read::End;
        }
        let end = self.data.len().min(at + max as usize);
        self.at.set(end);
        Read::Data(self.data[at..end].to_vec())
    }
}

/// Time, moved by hand.
pub mod clock {
    use std::cell::Cell;

    use super::Pollable;

    thread_local! {
        static NOW_MS: Cell<u64> = const { Cell::new(0) };
    }

    pub fn now_ms() -> u64 {
        NOW_MS.get()
    }

    pub fn unix_ms() -> u64 {
        1_700_000_000_000 + now_ms()
    }

    pub fn wake_at(at_ms: u64) -> Pollable {
        Pollable::with(now_ms() >= at_ms)
    }

    /// Moves the clock on by `ms`.
    pub fn advance(ms: u64) {
        NOW_MS.set(NOW_MS.get() + ms);
    }
}

/// Waiting, which never blocks: the ready ones among `watched`.
pub mod multiplex {
    use super::Pollable;

    pub fn ready(watched: &[&Pollable], _extra: &[&Pollable]) -> Vec<usize> {
        (0..watched.len()).filter(|&i| watched[i].ready()).collect()
    }
}
