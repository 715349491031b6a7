//! The first look at an object: a HEAD (or, when HEAD is refused, a GET of
//! its first byte), redirects followed, transient failures retried. One
//! machine for both components, in the style of [`crate::transfer`]: the
//! driver sends what [`Probe::poll_request`] asks and feeds back what came.

use std::collections::VecDeque;

use crate::answer::{judge, Judgement};
use crate::content_range::{self, ContentRange};
use crate::failure::{Failure, RangeFault, Reason};
use crate::headers::Headers;
use crate::object::RemoteObject;
use crate::range::ByteRange;
use crate::report::plural;
use crate::request::{Event, Method, Request, RequestFailure, RequestId, RequestRules};
use crate::retry::{AfterFailure, Attempts, Jitter};

/// How the probe asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeMethod {
    Head,
    /// `GET` of the first N bytes (`Range: bytes=0-(N-1)`): a 206 gives
    /// the size (its `Content-Range` total), proves ranges work, and brings
    /// the object's first bytes, so a download starts without a separate
    /// round trip; a server that ignores the range answers 200, whose body
    /// the caller streams. With one byte, it is what replaces a refused HEAD.
    FirstBytes(u64),
}

/// What to do after a probe response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeVerdict {
    Object(RemoteObject),
    Redirect(String),
    /// HEAD was refused or answered oddly: ask again with GET.
    TryGet,
    /// 304: the copy the probe's `If-Modified-Since` named is current.
    NotModified,
    Retry {
        reason: Reason,
        retry_after_ms: Option<u64>,
    },
    /// An error status retrying cannot help.
    Refused,
    Fail(Reason),
}

pub fn interpret_probe(
    url: &str,
    method: ProbeMethod,
    status: u16,
    headers: &Headers,
    now_unix_ms: u64,
) -> ProbeVerdict {
    match (judge(url, status, headers, now_unix_ms), method) {
        (Judgement::Redirect(next), _) => ProbeVerdict::Redirect(next),
        (
            Judgement::Retry {
                reason,
                retry_after_ms,
            },
            _,
        ) => ProbeVerdict::Retry {
            reason,
            retry_after_ms,
        },
        // CDNs and object stores refuse HEAD in many ways (405, 403, even
        // 404); the GET decides whether the object really is unavailable.
        (Judgement::Final(Reason::Status { .. }), ProbeMethod::Head) => ProbeVerdict::TryGet,
        (Judgement::Final(Reason::Status { .. }), ProbeMethod::FirstBytes(_)) => {
            ProbeVerdict::Refused
        }
        (Judgement::Final(reason), _) => ProbeVerdict::Fail(reason),
        (Judgement::Accept, _) if status == 304 => ProbeVerdict::NotModified,
        (Judgement::Accept, ProbeMethod::FirstBytes(_)) if matches!(status, 206 | 416) => {
            first_bytes_answer(url, status, headers)
        }
        (Judgement::Accept, _) if (200..=299).contains(&status) => {
            ProbeVerdict::Object(RemoteObject::from_headers(url, headers))
        }
        // A 416 to a HEAD, which asked for no range: the GET decides.
        (Judgement::Accept, _) => ProbeVerdict::TryGet,
    }
}

/// A 206 (or, for an empty object, a 416) to `Range: bytes=0-…`: the size
/// is the Content-Range total, and the server has just shown it serves ranges.
fn first_bytes_answer(url: &str, status: u16, headers: &Headers) -> ProbeVerdict {
    let total = match headers.get("content-range").and_then(content_range::parse) {
        Some(ContentRange::Satisfied {
            range,
            total: Some(total),
        }) if status == 206 && range.start() == 0 => total,
        Some(ContentRange::Unsatisfied { total: 0 }) if status == 416 => 0,
        _ => {
            return ProbeVerdict::Retry {
                reason: Reason::BadProbeAnswer {
                    url: url.to_string(),
                    status,
                    content_range: headers.get("content-range").unwrap_or("(none)").to_string(),
                },
                retry_after_ms: None,
            }
        }
    };
    let mut object = RemoteObject::from_headers(url, headers);
    object.size = Some(total);
    object.accepts_ranges = true;
    ProbeVerdict::Object(object)
}

/// How a probe ended.
#[derive(Debug)]
pub enum ProbeEnd {
    /// The object, with the answer's headers (the proxy passes some on).
    Object {
        object: RemoteObject,
        headers: Headers,
        /// A GET whose body is worth reading, left open for the driver:
        /// the whole object from byte 0 (a 200: the server ignores ranges),
        /// or its first bytes (a 206 to a first-bytes probe: `first` says
        /// which). `None` for a HEAD or a one-byte answer.
        body: Option<RequestId>,
        first: Option<ByteRange>,
        /// How long the answer's head took after its request went out:
        /// about one round trip to the origin (see `plan::chunk_size_for`).
        round_trip_ms: u64,
    },
    /// The server answered an error status (after retries, for one worth
    /// retrying): the proxy passes it on, the command fails with `failure`.
    Refused {
        status: u16,
        headers: Headers,
        failure: Failure,
    },
    Failed(Failure),
    /// The copy on disk is current (a 304 to `If-Modified-Since`).
    NotModified,
}

#[derive(Debug)]
enum Stage {
    /// The next request goes out at this time (after a backoff).
    ToSend {
        not_before_ms: u64,
    },
    Sent(RequestId),
    Over,
}

/// The probe of one URL.
///
/// # Contract
/// Until [`Probe::poll_end`] returns the end, the driver repeats: send the
/// request [`Probe::poll_request`] hands out (at most one is open at a
/// time), report its events ([`Probe::poll_event`]), wait for its answer
/// or [`Probe::poll_timeout`], and feed [`Probe::handle_head`] or
/// [`Probe::handle_error`]. A request's body is never needed: the driver
/// drops each response once fed, except the one an
/// [`ProbeEnd::Object`] names as `body`.
#[derive(Debug)]
pub struct Probe {
    requested: String,
    url: String,
    method: ProbeMethod,
    rules: RequestRules,
    redirects: u32,
    attempts: Attempts,
    /// Spreads retries: seeded by the URL, so that a batch's probes do
    /// not retry in lockstep and a test replays the same delays.
    jitter: Jitter,
    next_id: u64,
    stage: Stage,
    /// A 200 to a first-bytes probe, held while a HEAD checks that it is
    /// the object and not an error page served with 200.
    held: Option<Held>,
    /// Sent with every request: see [`Probe::if_modified_since`].
    if_modified_since: Option<String>,
    events: VecDeque<Event>,
    end: Option<ProbeEnd>,
    /// When the request last sent went out, and how long its head took.
    sent_ms: u64,
    round_trip_ms: u64,
}

#[derive(Debug)]
struct Held {
    id: RequestId,
    object: RemoteObject,
    headers: Headers,
    /// The first-bytes probe to ask again if the check says no.
    method: ProbeMethod,
}

impl Probe {
    /// A probe that starts with a HEAD (its tests: a fetch always asks
    /// for bytes, a HEAD only checks a `200`).
    #[cfg(test)]
    pub fn new(url: &str, rules: RequestRules) -> Probe {
        Probe::asking(url, rules, ProbeMethod::Head)
    }

    /// A probe that asks for the object's first `len` bytes at once (see
    /// [`ProbeMethod::FirstBytes`]): one round trip less before a download.
    pub fn first_bytes(url: &str, rules: RequestRules, len: u64) -> Probe {
        Probe::asking(url, rules, ProbeMethod::FirstBytes(len.max(1)))
    }

    /// The probe asks only if the object changed since `date` (an
    /// HTTP-date, a copy's modification time): a 304 ends it with
    /// [`ProbeEnd::NotModified`] and no body.
    pub fn if_modified_since(mut self, date: String) -> Probe {
        self.if_modified_since = Some(date);
        self
    }

    /// Its requests' ids start at `next` (a fetch's ids go on across its
    /// probes and transfers).
    pub(crate) fn ids_from(mut self, next: u64) -> Probe {
        self.next_id = next.max(1);
        self
    }

    /// The id its next request would have.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id
    }

    fn asking(url: &str, rules: RequestRules, method: ProbeMethod) -> Probe {
        Probe {
            requested: url.to_string(),
            url: url.to_string(),
            method,
            rules,
            redirects: 0,
            attempts: Attempts::default(),
            jitter: Jitter::for_text(url),
            next_id: 1,
            stage: Stage::ToSend { not_before_ms: 0 },
            held: None,
            if_modified_since: None,
            events: VecDeque::new(),
            end: None,
            sent_ms: 0,
            round_trip_ms: 0,
        }
    }

    /// The request to send now, if one is due.
    pub fn poll_request(&mut self, now_ms: u64) -> Option<Request> {
        let Stage::ToSend { not_before_ms } = self.stage else {
            return None;
        };
        if now_ms < not_before_ms {
            return None;
        }
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.stage = Stage::Sent(id);
        self.sent_ms = now_ms;
        let (method, range) = match self.method {
            ProbeMethod::Head => (Method::Head, None),
            ProbeMethod::FirstBytes(len) => (Method::Get, ByteRange::from_len(0, len)),
        };
        Some(Request {
            id,
            method,
            url: self.url.clone(),
            range,
            if_range: None,
            if_modified_since: self.if_modified_since.clone(),
        })
    }

    /// Whether request `id`, answered, is still needed (a 200 held while a
    /// HEAD checks it, or the body of the end): otherwise the driver drops
    /// it as soon as its head is fed, so it holds no connection.
    pub fn keeps(&self, id: RequestId) -> bool {
        let held = self.held.as_ref().is_some_and(|h| h.id == id);
        let body = matches!(&self.end, Some(ProbeEnd::Object { body: Some(b), .. }) if *b == id);
        held || body
    }

    /// Whether [`Probe::poll_request`] would hand out a request now.
    pub fn wants_to_send(&self, now_ms: u64) -> bool {
        matches!(self.stage, Stage::ToSend { not_before_ms } if now_ms >= not_before_ms)
    }

    /// Where the next request goes (after redirects).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// When a backoff ends.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.stage {
            Stage::ToSend { not_before_ms } => Some(not_before_ms),
            _ => None,
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_end(&mut self) -> Option<ProbeEnd> {
        self.end.take()
    }

    /// The answer's status and headers arrived for request `id`.
    pub fn handle_head(
        &mut self,
        id: RequestId,
        status: u16,
        headers: Headers,
        now_ms: u64,
        now_unix_ms: u64,
    ) {
        if !matches!(self.stage, Stage::Sent(sent) if sent == id) {
            return;
        }
        self.round_trip_ms = now_ms.saturating_sub(self.sent_ms);
        let verdict = interpret_probe(&self.url, self.method, status, &headers, now_unix_ms);
        if self.held.is_some() {
            return self.checked(verdict, now_ms);
        }
        match verdict {
            ProbeVerdict::Object(object)
                if status == 200
                    && self.method != ProbeMethod::Head
                    && object.etag.is_none()
                    && object.last_modified.is_none() =>
            {
                // The whole object, or a page served with 200 instead of
                // the range (a portal, a CDN's error)? Without validators
                // nothing says which: a HEAD does.
                self.held = Some(Held {
                    id,
                    object,
                    headers,
                    method: self.method,
                });
                self.method = ProbeMethod::Head;
                self.stage = Stage::ToSend { not_before_ms: 0 };
            }
            // A HEAD that does not advertise ranges is asked again with a
            // one-byte GET: servers that serve ranges without saying so
            // answer it with a 206.
            ProbeVerdict::Object(object)
                if self.method == ProbeMethod::Head
                    && !object.accepts_ranges
                    && object.size.is_some_and(|size| size > 0) =>
            {
                self.method = ProbeMethod::FirstBytes(1);
                self.stage = Stage::ToSend { not_before_ms: 0 };
            }
            ProbeVerdict::Object(object) => {
                let whole = status == 200 && self.method != ProbeMethod::Head;
                let first = match (status, self.method) {
                    (206, ProbeMethod::FirstBytes(len)) if len > 1 => headers
                        .get("content-range")
                        .and_then(content_range::parse)
                        .and_then(|answer| match answer {
                            ContentRange::Satisfied { range, .. } => Some(range),
                            ContentRange::Unsatisfied { .. } => None,
                        }),
                    _ => None,
                };
                // The whole object is streamed from byte 0; first bytes
                // start a ranged download.
                self.finish(ProbeEnd::Object {
                    object,
                    headers,
                    body: (whole || first.is_some()).then_some(id),
                    first,
                    round_trip_ms: self.round_trip_ms,
                });
            }
            ProbeVerdict::Redirect(next) => {
                self.redirects += 1;
                match self.rules.follow(&self.requested, &next, self.redirects) {
                    Ok(()) => {
                        self.url = next;
                        self.stage = Stage::ToSend { not_before_ms: 0 };
                    }
                    Err(reason) => self.finish(ProbeEnd::Failed(reason.into())),
                }
            }
            ProbeVerdict::NotModified => self.finish(ProbeEnd::NotModified),
            ProbeVerdict::TryGet => {
                self.method = ProbeMethod::FirstBytes(1);
                self.stage = Stage::ToSend { not_before_ms: 0 };
            }
            ProbeVerdict::Retry {
                reason,
                retry_after_ms,
            } => {
                let refusal = matches!(reason, Reason::Status { .. }).then_some((status, headers));
                self.retry(reason, retry_after_ms, refusal, now_ms);
            }
            ProbeVerdict::Refused => {
                let failure = Failure::from(Reason::Status {
                    url: self.url.clone(),
                    status,
                })
                .with_note("Check the URL (and any needed headers or credentials)");
                self.finish(ProbeEnd::Refused {
                    status,
                    headers,
                    failure,
                });
            }
            ProbeVerdict::Fail(reason) => self.finish(ProbeEnd::Failed(reason.into())),
        }
    }

    /// What the HEAD that checks a held 200 says: the same object (or no
    /// answer to go by: the 200 is taken), or another one, which makes the
    /// 200 a page that is not the object, and the probe is asked again.
    fn checked(&mut self, verdict: ProbeVerdict, now_ms: u64) {
        let mut held = self.held.take().expect("a 200 is held");
        if let ProbeVerdict::Object(head) = verdict {
            if let Some(change) = head.change_from(&held.object) {
                self.method = held.method;
                let content_type = held.headers.get("content-type").unwrap_or("unknown");
                let fault = RangeFault::UnrelatedBody {
                    change,
                    content_type: content_type.to_string(),
                };
                return self.retry(Reason::Range(fault), None, None, now_ms);
            }
            // A length the HEAD states holds for a body that states none
            // (chunked): a body that runs past it is not the object.
            held.object.size = held.object.size.or(head.size);
        }
        // The whole object, from byte 0: streamed by the driver.
        self.finish(ProbeEnd::Object {
            object: held.object,
            headers: held.headers,
            body: Some(held.id),
            first: None,
            round_trip_ms: self.round_trip_ms,
        });
    }

    /// Request `id` failed before its answer.
    pub fn handle_error(&mut self, id: RequestId, failure: RequestFailure, now_ms: u64) {
        if !matches!(self.stage, Stage::Sent(sent) if sent == id) {
            return;
        }
        if self.held.is_some() {
            // The check could not be made: the 200 is taken as it is.
            return self.checked(ProbeVerdict::Refused, now_ms);
        }
        let reason = Reason::Unreachable {
            url: self.url.clone(),
            error: failure.message().to_string(),
            no_connection: failure.no_connection(),
        };
        if failure.lasting() {
            // An untrusted certificate or a malformed URL stays so: say it
            // now rather than after every retry.
            return self.finish(ProbeEnd::Failed(reason.into()));
        }
        self.retry(reason, None, None, now_ms);
    }

    fn retry(
        &mut self,
        reason: Reason,
        retry_after_ms: Option<u64>,
        refusal: Option<(u16, Headers)>,
        now_ms: u64,
    ) {
        let policy = self.rules.retry;
        // A probe's attempt brings no bytes that are kept: none progresses.
        let after = self
            .attempts
            .failed(false, &policy, retry_after_ms, &mut self.jitter);
        let (retry, delay_ms) = match after {
            AfterFailure::Retry { retry, delay_ms } => (retry, delay_ms),
            AfterFailure::GiveUp { failures } => {
                let failure = Failure::from(reason).with_note(format!(
                    "{failures} attempt{}; check the URL and your connection, or raise --retries",
                    plural(u64::from(failures))
                ));
                return self.finish(match refusal {
                    Some((status, headers)) => ProbeEnd::Refused {
                        status,
                        headers,
                        failure,
                    },
                    None => ProbeEnd::Failed(failure),
                });
            }
        };
        self.events.push_back(Event::Retrying {
            what: None,
            reason,
            retry,
            max: policy.max_retries,
            delay_ms,
        });
        self.stage = Stage::ToSend {
            not_before_ms: now_ms.saturating_add(delay_ms),
        };
    }

    fn finish(&mut self, end: ProbeEnd) {
        self.stage = Stage::Over;
        self.end = Some(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::TransferMode;
    use crate::retry::RetryPolicy;

    fn rules(max_retries: u32) -> RequestRules {
        RequestRules {
            retry: RetryPolicy {
                max_retries,
                ..RetryPolicy::default()
            },
            ..RequestRules::default()
        }
    }

    #[test]
    fn a_refused_head_is_followed_by_a_first_byte_get_and_redirects() {
        let mut probe = Probe::new("http://h/a", rules(2));
        let head = probe.poll_request(0).unwrap();
        assert_eq!((head.method, head.range), (Method::Head, None));
        assert!(probe.poll_request(0).is_none(), "one request at a time");
        probe.handle_head(head.id, 405, Headers::new(), 0, 0);
        let get = probe.poll_request(0).unwrap();
        assert_eq!((get.method, get.range), (Method::Get, ByteRange::new(0, 0)));
        probe.handle_head(get.id, 302, headers(&[("Location", "/b")]), 0, 0);
        let moved = probe.poll_request(0).unwrap();
        assert_eq!(moved.url, "http://h/b");
        let answer = headers(&[("Content-Range", "bytes 0-0/10"), ("ETag", "\"e\"")]);
        probe.handle_head(moved.id, 206, answer, 0, 0);
        match probe.poll_end() {
            Some(ProbeEnd::Object { object, body, .. }) => {
                assert_eq!(object.transfer_mode(), TransferMode::Ranged { size: 10 });
                assert_eq!(object.url, "http://h/b");
                assert_eq!(body, None, "a one-byte body is no use");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn transient_failures_are_retried_after_a_backoff_then_given_up() {
        let mut probe = Probe::new("http://h/a", rules(1));
        let first = probe.poll_request(0).unwrap();
        probe.handle_head(first.id, 503, headers(&[("Retry-After", "2")]), 100, 0);
        assert!(matches!(
            probe.poll_event(),
            Some(Event::Retrying {
                retry: 1,
                delay_ms: 2000,
                ..
            })
        ));
        assert_eq!(probe.poll_timeout(), Some(2100));
        assert!(probe.poll_request(2099).is_none());
        let second = probe.poll_request(2100).unwrap();
        probe.handle_head(second.id, 503, Headers::new(), 2200, 0);
        assert!(matches!(
            probe.poll_end(),
            Some(ProbeEnd::Refused { status: 503, .. })
        ));
    }

    #[test]
    fn a_lasting_error_ends_the_probe_at_once() {
        let mut probe = Probe::new("https://h/a", rules(5));
        let first = probe.poll_request(0).unwrap();
        let failure = RequestFailure::Tls("the server's TLS certificate is not trusted".into());
        probe.handle_error(first.id, failure, 0);
        assert!(matches!(probe.poll_end(), Some(ProbeEnd::Failed(_))));
    }

    #[test]
    fn a_redirect_loop_ends_with_too_many_redirects() {
        let mut probe = Probe::new("http://h/loop", rules(0));
        for _ in 0..=crate::redirect::MAX_REDIRECTS {
            let request = probe.poll_request(0).unwrap();
            probe.handle_head(request.id, 302, headers(&[("Location", "/loop")]), 0, 0);
        }
        match probe.poll_end() {
            Some(ProbeEnd::Failed(failure)) => {
                assert_eq!(failure.reason.code(), "too-many-redirects")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_first_bytes_probe_keeps_its_body_as_the_start_of_the_download() {
        let mut probe = Probe::first_bytes("http://h/a", rules(0), 2048);
        let get = probe.poll_request(0).unwrap();
        assert_eq!(
            (get.method, get.range),
            (Method::Get, ByteRange::new(0, 2047))
        );
        let answer = headers(&[("Content-Range", "bytes 0-2047/10000"), ("ETag", "\"e\"")]);
        probe.handle_head(get.id, 206, answer, 0, 0);
        match probe.poll_end() {
            Some(ProbeEnd::Object {
                object,
                body,
                first,
                ..
            }) => {
                assert_eq!(object.transfer_mode(), TransferMode::Ranged { size: 10000 });
                assert_eq!((body, first), (Some(get.id), ByteRange::new(0, 2047)));
            }
            other => panic!("{other:?}"),
        }
        // A small object comes whole in the answer to the first bytes.
        let mut probe = Probe::first_bytes("http://h/b", rules(0), 2048);
        let get = probe.poll_request(0).unwrap();
        let answer = headers(&[("Content-Range", "bytes 0-99/100")]);
        probe.handle_head(get.id, 206, answer, 0, 0);
        assert!(matches!(
            probe.poll_end(),
            Some(ProbeEnd::Object { first: Some(r), .. }) if r.len() == 100
        ));
    }

    #[test]
    fn a_conditional_probe_ends_without_a_body_on_304() {
        let date = "Tue, 14 Nov 2023 22:13:20 GMT".to_string();
        let mut probe =
            Probe::first_bytes("http://h/a", rules(0), 1024).if_modified_since(date.clone());
        let get = probe.poll_request(0).unwrap();
        assert!(get.headers().contains(&("if-modified-since", date)));
        probe.handle_head(get.id, 304, Headers::new(), 0, 0);
        assert!(matches!(probe.poll_end(), Some(ProbeEnd::NotModified)));
    }

    #[test]
    fn a_get_answered_with_the_whole_object_keeps_its_body_for_streaming() {
        let mut probe = Probe::new("http://h/a", rules(0));
        let head = probe.poll_request(0).unwrap();
        probe.handle_head(head.id, 403, Headers::new(), 0, 0);
        let get = probe.poll_request(0).unwrap();
        probe.handle_head(get.id, 200, headers(&[("Content-Length", "10")]), 0, 0);
        // A HEAD checks the 200 is the object: refused here, so it is taken.
        let check = probe.poll_request(0).unwrap();
        assert_eq!(check.method, Method::Head);
        probe.handle_head(check.id, 403, Headers::new(), 0, 0);
        assert!(matches!(
            probe.poll_end(),
            Some(ProbeEnd::Object { body: Some(id), .. }) if id == get.id
        ));
    }

    #[test]
    fn a_page_served_with_200_instead_of_the_first_bytes_is_not_the_object() {
        let mut probe = Probe::first_bytes("http://h/a", rules(2), 1024);
        let get = probe.poll_request(0).unwrap();
        let page = headers(&[("Content-Length", "135"), ("Content-Type", "text/html")]);
        probe.handle_head(get.id, 200, page, 0, 0);
        let check = probe.poll_request(0).unwrap();
        let real = headers(&[("Content-Length", "2097152"), ("ETag", "\"e\"")]);
        probe.handle_head(check.id, 200, real, 0, 0);
        assert!(matches!(
            probe.poll_event(),
            Some(Event::Retrying {
                reason: Reason::Range(RangeFault::UnrelatedBody { .. }),
                ..
            })
        ));
        let again = probe.poll_request(u64::MAX).unwrap();
        assert_eq!(
            again.range,
            ByteRange::new(0, 1023),
            "the first bytes, asked again"
        );
        // A server that ignores ranges, told by a HEAD that agrees.
        let whole = headers(&[("Content-Length", "2097152")]);
        probe.handle_head(again.id, 200, whole.clone(), 0, 0);
        let check = probe.poll_request(0).unwrap();
        probe.handle_head(check.id, 200, whole, 0, 0);
        assert!(matches!(
            probe.poll_end(),
            Some(ProbeEnd::Object { body: Some(id), first: None, .. }) if id == again.id
        ));
        // With validators, the 200 is the object: no check needed.
        let mut probe = Probe::first_bytes("http://h/a", rules(2), 1024);
        let get = probe.poll_request(0).unwrap();
        let validated = headers(&[("Content-Length", "2097152"), ("ETag", "\"e\"")]);
        probe.handle_head(get.id, 200, validated, 0, 0);
        assert!(matches!(
            probe.poll_end(),
            Some(ProbeEnd::Object { body: Some(_), .. })
        ));
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn head_refusal_falls_back_to_get_but_get_refusal_fails() {
        let h = Headers::new();
        assert_eq!(
            interpret_probe("u", ProbeMethod::Head, 405, &h, 0),
            ProbeVerdict::TryGet
        );
        assert_eq!(
            interpret_probe("u", ProbeMethod::FirstBytes(1), 404, &h, 0),
            ProbeVerdict::Refused
        );
        assert!(matches!(
            interpret_probe("u", ProbeMethod::FirstBytes(1), 503, &h, 0),
            ProbeVerdict::Retry { .. }
        ));
    }

    #[test]
    fn a_first_byte_probe_learns_the_size_from_content_range() {
        let h = headers(&[
            ("Content-Range", "bytes 0-0/5000"),
            ("Content-Length", "1"),
            ("ETag", "\"e\""),
        ]);
        let ProbeVerdict::Object(o) = interpret_probe("u", ProbeMethod::FirstBytes(1), 206, &h, 0)
        else {
            panic!("a 206 is an object")
        };
        assert_eq!(o.transfer_mode(), TransferMode::Ranged { size: 5000 });
        let empty = headers(&[("Content-Range", "bytes */0")]);
        assert!(matches!(
            interpret_probe("u", ProbeMethod::FirstBytes(1), 416, &empty, 0),
            ProbeVerdict::Object(RemoteObject { size: Some(0), .. })
        ));
        // A server ignoring the range answers 200 with the whole object.
        let full = headers(&[("Content-Length", "5000")]);
        let ProbeVerdict::Object(o) =
            interpret_probe("u", ProbeMethod::FirstBytes(1), 200, &full, 0)
        else {
            panic!("a 200 is an object")
        };
        assert_eq!(
            o.transfer_mode(),
            TransferMode::SingleStream { size: Some(5000) }
        );
        assert!(matches!(
            interpret_probe("u", ProbeMethod::FirstBytes(1), 206, &headers(&[]), 0),
            ProbeVerdict::Retry { .. }
        ));
    }
}
