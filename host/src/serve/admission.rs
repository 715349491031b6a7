//! What `rangeget serve` lets in, so that its memory and descriptors stay
//! bounded whatever clients do: at most `--max-connections` open
//! connections, of which at most `--max-clients` requests are being
//! answered (each a component instance holding up to connections × chunk
//! size). Beyond either cap a client is told so, with a `503` and
//! `Retry-After`, instead of being left waiting or cut off.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::rate_limited::{and_more, RateLimitedLog};

/// What a busy answer asks the client to wait: long enough that a client
/// retrying at once does not hammer a server full of downloads, short
/// enough that a burst passes unnoticed.
pub(super) const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Connections being turned away at once (each holds a descriptor until
/// its request is read and answered); beyond these, a connection is closed
/// without an answer. Their heads must come within [`REFUSAL_HEAD_TIMEOUT`].
pub(super) const MAX_REFUSING: usize = 64;

/// How long a connection being turned away may take to send its request.
pub(super) const REFUSAL_HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// Busy lines are written at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The caps of one server, and the permits that count against them.
pub(super) struct Admission {
    connections: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    clients: Arc<Semaphore>,
    max_connections: usize,
    max_clients: usize,
    connections_log: RateLimitedLog,
    clients_log: RateLimitedLog,
}

/// Why a client is turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Busy {
    /// `--max-connections` connections are open.
    Connections { max: usize },
    /// `--max-clients` requests are being answered.
    Clients { max: usize },
}

/// What to do with a connection just accepted.
#[must_use]
pub(super) enum NewConnection {
    /// Serve it; the permit is its place among `--max-connections`.
    Serve(OwnedSemaphorePermit),
    /// Answer its request with `503` and close it.
    TurnAway(Busy, OwnedSemaphorePermit),
    /// Too many are being turned away already: close it at once.
    Close,
}

impl Admission {
    pub(super) fn new(max_connections: usize, max_clients: usize) -> Admission {
        Admission {
            connections: Arc::new(Semaphore::new(max_connections)),
            refusing: Arc::new(Semaphore::new(MAX_REFUSING)),
            clients: Arc::new(Semaphore::new(max_clients)),
            max_connections,
            max_clients,
            connections_log: RateLimitedLog::new(LOG_EVERY),
            clients_log: RateLimitedLog::new(LOG_EVERY),
        }
    }

    /// A place for a new connection, or how to turn it away.
    pub(super) fn connection(&self) -> NewConnection {
        if let Ok(permit) = Arc::clone(&self.connections).try_acquire_owned() {
            return NewConnection::Serve(permit);
        }
        let busy = Busy::Connections {
            max: self.max_connections,
        };
        self.log(busy);
        match Arc::clone(&self.refusing).try_acquire_owned() {
            Ok(permit) => NewConnection::TurnAway(busy, permit),
            Err(_) => NewConnection::Close,
        }
    }

    /// A place for a request to be answered by an instance, held until the
    /// instance ends.
    pub(super) fn client(&self) -> Result<OwnedSemaphorePermit, Busy> {
        Arc::clone(&self.clients).try_acquire_owned().map_err(|_| {
            let busy = Busy::Clients {
                max: self.max_clients,
            };
            self.log(busy);
            busy
        })
    }

    fn log(&self, busy: Busy) {
        let log = match busy {
            Busy::Connections { .. } => &self.connections_log,
            Busy::Clients { .. } => &self.clients_log,
        };
        if let Some(untold) = log.note(Instant::now()) {
            eprintln!(
                "rangeget serve: turned a client away: {busy}{}",
                and_more(untold)
            );
        }
    }
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Busy::Connections { max } => write!(
                f,
                "already holding as many connections as --max-connections allows ({max})"
            ),
            Busy::Clients { max } => write!(
                f,
                "already answering as many requests as --max-clients allows ({max})"
            ),
        }
    }
}

impl Busy {
    /// The answer: `503`, `Retry-After`, one line saying why, and the
    /// connection closed after it.
    pub(super) fn response(self) -> hyper::Response<HyperOutgoingBody> {
        let body = format!(
            "rangeget serve is busy: {self}; try again in {} s\n",
            RETRY_AFTER.as_secs()
        );
        let body = http_body_util::Full::new(bytes::Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        let mut response = hyper::Response::new(body);
        *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(hyper::header::RETRY_AFTER, RETRY_AFTER.as_secs().into());
        headers.insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_the_caps_clients_are_turned_away_until_a_place_frees() {
        let admission = Admission::new(1, 1);
        let NewConnection::Serve(first) = admission.connection() else {
            panic!("the first connection is served");
        };
        let mut refusals = Vec::new();
        for _ in 0..MAX_REFUSING {
            match admission.connection() {
                NewConnection::TurnAway(busy, permit) => {
                    assert_eq!(busy, Busy::Connections { max: 1 });
                    refusals.push(permit);
                }
                _ => panic!("connections beyond the cap are turned away"),
            }
        }
        assert!(matches!(admission.connection(), NewConnection::Close));
        drop(refusals);
        assert!(matches!(
            admission.connection(),
            NewConnection::TurnAway(..)
        ));
        drop(first);
        assert!(matches!(admission.connection(), NewConnection::Serve(_)));

        let client = admission.client().unwrap();
        assert_eq!(admission.client().unwrap_err(), Busy::Clients { max: 1 });
        drop(client);
        assert!(admission.client().is_ok());
    }

    #[test]
    fn the_busy_answer_says_why_and_when_to_come_back() {
        let response = Busy::Clients { max: 64 }.response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "5");
        assert_eq!(response.headers()["connection"], "close");
        assert_eq!(
            Busy::Clients { max: 64 }.to_string(),
            "already answering as many requests as --max-clients allows (64)"
        );
    }
}
