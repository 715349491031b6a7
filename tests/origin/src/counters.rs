//! Traffic the origin saw, for assertions such as "the resumed download
//! fetched only what was missing".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::objects::lock;

#[derive(Default)]
pub(crate) struct Counters {
    body_bytes_sent: AtomicU64,
    /// The part of `body_bytes_sent` that `/twin/` sent.
    twin_body_bytes_sent: AtomicU64,
    requests: AtomicU64,
    /// (request path, `Range` header) of every ranged request.
    range_headers: Mutex<Vec<(String, String)>>,
    credentials: Mutex<Vec<String>>,
    /// Requests being answered now (from arrival to the end of the body),
    /// and the most there ever were at once.
    open_requests: AtomicU64,
    most_open_requests: AtomicU64,
}

/// Request headers that carry credentials, recorded so that tests can
/// check where a client sends them.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

impl Counters {
    pub(crate) fn record_request(&self, path: &str, range_header: Option<&str>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(range) = range_header {
            lock(&self.range_headers).push((path.to_owned(), range.to_owned()));
        }
    }

    pub(crate) fn record_credentials(&self, headers: &hyper::HeaderMap) {
        for name in CREDENTIAL_HEADERS {
            for value in headers.get_all(name) {
                let value = String::from_utf8_lossy(value.as_bytes());
                lock(&self.credentials).push(format!("{name}: {value}"));
            }
        }
    }

    pub(crate) fn credentials(&self) -> Vec<String> {
        lock(&self.credentials).clone()
    }

    /// A request arrived; its answer counts as open until the guard drops.
    pub(crate) fn open_request(self: &std::sync::Arc<Self>) -> OpenRequest {
        let now = self.open_requests.fetch_add(1, Ordering::Relaxed) + 1;
        self.most_open_requests.fetch_max(now, Ordering::Relaxed);
        OpenRequest(std::sync::Arc::clone(self))
    }

    pub(crate) fn open_requests(&self) -> u64 {
        self.open_requests.load(Ordering::Relaxed)
    }

    pub(crate) fn most_open_requests(&self) -> u64 {
        self.most_open_requests.load(Ordering::Relaxed)
    }

    pub(crate) fn record_body_bytes(&self, len: u64, twin: bool) {
        self.body_bytes_sent.fetch_add(len, Ordering::Relaxed);
        if twin {
            self.twin_body_bytes_sent.fetch_add(len, Ordering::Relaxed);
        }
    }

    pub(crate) fn body_bytes_sent(&self) -> u64 {
        self.body_bytes_sent.load(Ordering::Relaxed)
    }

    pub(crate) fn twin_body_bytes_sent(&self) -> u64 {
        self.twin_body_bytes_sent.load(Ordering::Relaxed)
    }

    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The `Range` headers of requests whose path `keep` accepts.
    pub(crate) fn range_headers(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        lock(&self.range_headers)
            .iter()
            .filter(|(path, _)| keep(path))
            .map(|(_, range)| range.clone())
            .collect()
    }

    pub(crate) fn reset(&self) {
        self.body_bytes_sent.store(0, Ordering::Relaxed);
        self.twin_body_bytes_sent.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        lock(&self.range_headers).clear();
        lock(&self.credentials).clear();
        self.most_open_requests.store(
            self.open_requests.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }
}

/// An answer being sent; dropped with its body (sent, or cut off).
pub(crate) struct OpenRequest(std::sync::Arc<Counters>);

impl Drop for OpenRequest {
    fn drop(&mut self) {
        self.0.open_requests.fetch_sub(1, Ordering::Relaxed);
    }
}
