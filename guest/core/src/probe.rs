//! The first look at an object: a HEAD (or, when HEAD is refused, a GET of
//! its first byte), redirects followed, transient failures retried. One
//! machine for both components, in the style of [`crate::transfer`]: the
//! driver sends what [`Probe::poll_request`] asks and feeds back what came.

use std::collections::VecDeque;

use crate::content_range::{self, ContentRange};
use crate::failure::{Failure, Reason};
use crate::headers::Headers;
use crate::object::RemoteObject;
use crate::range::ByteRange;
use crate::redirect::{is_redirect, resolve_location};
use crate::request::{Event, Method, Request, RequestFailure, RequestId, RequestRules};
use crate::retry::retry_after_ms;

/// How the probe asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeMethod {
    Head,
    /// `GET` with `Range: bytes=0-0`, when HEAD is refused: one byte instead
    /// of the whole object, and a 206 proves ranges work. A server that
    /// ignores the range answers 200, whose body the caller streams.
    FirstByte,
}

/// What to do after a probe response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeVerdict {
    Object(RemoteObject),
    Redirect(String),
    /// HEAD was refused or answered oddly: ask again with GET.
    TryGet,
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
    if is_redirect(status) {
        let detail = match headers.get("location").map(|l| resolve_location(url, l)) {
            Some(Ok(next)) => return ProbeVerdict::Redirect(next),
            Some(Err(detail)) => detail,
            None => format!("answered {status} without a Location"),
        };
        return ProbeVerdict::Fail(Reason::BadRedirect {
            url: url.to_string(),
            detail,
        });
    }
    match (status, method) {
        (206 | 416, ProbeMethod::FirstByte) => first_byte_answer(url, status, headers),
        (200..=299, _) => ProbeVerdict::Object(RemoteObject::from_headers(url, headers)),
        (408 | 429 | 500..=599, _) => ProbeVerdict::Retry {
            reason: Reason::Status {
                url: url.to_string(),
                status,
            },
            retry_after_ms: retry_after_ms(headers, now_unix_ms),
        },
        // CDNs and object stores refuse HEAD in many ways (405, 403, 501, even
        // 404); the GET decides whether the object really is unavailable.
        (_, ProbeMethod::Head) => ProbeVerdict::TryGet,
        (_, ProbeMethod::FirstByte) => ProbeVerdict::Refused,
    }
}

/// A 206 (or, for an empty object, a 416) to `Range: bytes=0-0`: the size
/// is the Content-Range total, and the server has just shown it serves ranges.
fn first_byte_answer(url: &str, status: u16, headers: &Headers) -> ProbeVerdict {
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
        /// A GET answered with the whole object: its body is the object
        /// from byte 0, for a driver that cannot use ranges to stream
        /// (the request stays open). `None` for a HEAD or a 206.
        body: Option<RequestId>,
    },
    /// The server answered an error status (after retries, for one worth
    /// retrying): the proxy passes it on, the command fails with `failure`.
    Refused {
        status: u16,
        headers: Headers,
        failure: Failure,
    },
    Failed(Failure),
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
    failures: u32,
    next_id: u64,
    stage: Stage,
    events: VecDeque<Event>,
    end: Option<ProbeEnd>,
}

impl Probe {
    pub fn new(url: &str, rules: RequestRules) -> Probe {
        Probe {
            requested: url.to_string(),
            url: url.to_string(),
            method: ProbeMethod::Head,
            rules,
            redirects: 0,
            failures: 0,
            next_id: 1,
            stage: Stage::ToSend { not_before_ms: 0 },
            events: VecDeque::new(),
            end: None,
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
        let (method, range) = match self.method {
            ProbeMethod::Head => (Method::Head, None),
            ProbeMethod::FirstByte => (Method::Get, ByteRange::new(0, 0)),
        };
        Some(Request {
            id,
            method,
            url: self.url.clone(),
            range,
            if_range: None,
        })
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
        match interpret_probe(&self.url, self.method, status, &headers, now_unix_ms) {
            ProbeVerdict::Object(object) => {
                // Only a whole-object answer can be streamed from byte 0.
                let streamable = self.method != ProbeMethod::Head && status == 200;
                self.finish(ProbeEnd::Object {
                    object,
                    headers,
                    body: streamable.then_some(id),
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
            ProbeVerdict::TryGet => {
                self.method = ProbeMethod::FirstByte;
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
                .with_note("check the URL (and any needed headers or credentials)");
                self.finish(ProbeEnd::Refused {
                    status,
                    headers,
                    failure,
                });
            }
            ProbeVerdict::Fail(reason) => self.finish(ProbeEnd::Failed(reason.into())),
        }
    }

    /// Request `id` failed before its answer.
    pub fn handle_error(&mut self, id: RequestId, failure: RequestFailure, now_ms: u64) {
        if !matches!(self.stage, Stage::Sent(sent) if sent == id) {
            return;
        }
        let reason = Reason::Unreachable {
            url: self.url.clone(),
            error: failure.message,
        };
        if failure.lasting {
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
        self.failures += 1;
        let policy = self.rules.retry;
        if self.failures > policy.max_retries {
            let failure = Failure::from(reason).with_note(format!(
                "{} attempts; check the URL and your connection, or raise --retries",
                self.failures
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
        let delay_ms = policy.delay_ms(
            self.failures,
            retry_after_ms,
            now_ms ^ self.next_id.rotate_left(17),
        );
        self.events.push_back(Event::Retrying {
            what: None,
            reason,
            retry: self.failures,
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
        let failure = RequestFailure {
            message: "the server's TLS certificate is not trusted".into(),
            lasting: true,
        };
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
    fn a_get_answered_with_the_whole_object_keeps_its_body_for_streaming() {
        let mut probe = Probe::new("http://h/a", rules(0));
        let head = probe.poll_request(0).unwrap();
        probe.handle_head(head.id, 403, Headers::new(), 0, 0);
        let get = probe.poll_request(0).unwrap();
        probe.handle_head(get.id, 200, headers(&[("Content-Length", "10")]), 0, 0);
        assert!(matches!(
            probe.poll_end(),
            Some(ProbeEnd::Object { body: Some(id), .. }) if id == get.id
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
            interpret_probe("u", ProbeMethod::FirstByte, 404, &h, 0),
            ProbeVerdict::Refused
        );
        assert!(matches!(
            interpret_probe("u", ProbeMethod::FirstByte, 503, &h, 0),
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
        let ProbeVerdict::Object(o) = interpret_probe("u", ProbeMethod::FirstByte, 206, &h, 0)
        else {
            panic!("a 206 is an object")
        };
        assert_eq!(o.transfer_mode(), TransferMode::Ranged { size: 5000 });
        let empty = headers(&[("Content-Range", "bytes */0")]);
        assert!(matches!(
            interpret_probe("u", ProbeMethod::FirstByte, 416, &empty, 0),
            ProbeVerdict::Object(RemoteObject { size: Some(0), .. })
        ));
        // A server ignoring the range answers 200 with the whole object.
        let full = headers(&[("Content-Length", "5000")]);
        let ProbeVerdict::Object(o) = interpret_probe("u", ProbeMethod::FirstByte, 200, &full, 0)
        else {
            panic!("a 200 is an object")
        };
        assert_eq!(
            o.transfer_mode(),
            TransferMode::SingleStream { size: Some(5000) }
        );
        assert!(matches!(
            interpret_probe("u", ProbeMethod::FirstByte, 206, &headers(&[]), 0),
            ProbeVerdict::Retry { .. }
        ));
    }
}
