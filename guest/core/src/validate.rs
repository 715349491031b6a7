//! Deciding whether a response to a range request may be written.
//!
//! Nothing reaches the file unless this says `Write`: a CDN's HTML error
//! page, a full 200 body, a shifted range or a newer version of the object
//! must never land between the bytes of the old one.

use crate::answer::{judge, Judgement};
use crate::content_range::{self, ContentRange};
use crate::failure::{RangeFault, Reason, RemoteChange};
use crate::headers::Headers;
use crate::object::RemoteObject;
use crate::range::ByteRange;
use crate::retry::retry_after_ms;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeVerdict {
    /// A 206 carrying exactly the requested bytes.
    Write,
    /// The object is not the one being downloaded any more: start over from a fresh probe.
    RemoteChanged(RemoteChange),
    /// The server answered the range with the whole, unchanged object: the
    /// download must continue as a single stream (this body is byte 0 onwards).
    RangesIgnored,
    Redirect(String),
    /// A fault of this one response: retry the chunk.
    Retry {
        reason: Reason,
        retry_after_ms: Option<u64>,
    },
    /// Retrying cannot help (e.g. 404): stop, keeping finished work.
    Fatal(Reason),
}

pub fn check_range_response(
    object: &RemoteObject,
    requested: ByteRange,
    url: &str,
    status: u16,
    headers: &Headers,
    now_unix_ms: u64,
) -> RangeVerdict {
    match judge(url, status, headers, now_unix_ms) {
        Judgement::Redirect(next) => RangeVerdict::Redirect(next),
        Judgement::Retry {
            reason,
            retry_after_ms,
        } => RangeVerdict::Retry {
            reason,
            retry_after_ms,
        },
        // The object is no longer available there, or not to us.
        Judgement::Final(reason) => RangeVerdict::Fatal(reason),
        Judgement::Accept => match status {
            206 => check_partial_content(object, requested, headers),
            416 => match headers.get("content-range").and_then(content_range::parse) {
                Some(ContentRange::Unsatisfied { total }) if Some(total) != object.size => {
                    RangeVerdict::RemoteChanged(RemoteChange::Size {
                        from: object.size.unwrap_or(0),
                        to: total,
                    })
                }
                _ => RangeVerdict::Retry {
                    reason: Reason::Range(RangeFault::NotSatisfiable(requested)),
                    retry_after_ms: retry_after_ms(headers, now_unix_ms),
                },
            },
            200 => check_full_answer(object, url, headers),
            // Another success (204, a 304 never asked for): not an answer
            // to a range; perhaps the next one is.
            _ => RangeVerdict::Retry {
                reason: Reason::Status {
                    url: url.to_string(),
                    status,
                },
                retry_after_ms: None,
            },
        },
    }
}

fn check_partial_content(
    object: &RemoteObject,
    requested: ByteRange,
    headers: &Headers,
) -> RangeVerdict {
    let retry = |fault: RangeFault| RangeVerdict::Retry {
        reason: Reason::Range(fault),
        retry_after_ms: None,
    };
    // A 206 for a different version would splice two files together; servers
    // that ignore If-Range still tend to send their current ETag.
    let answered = RemoteObject::from_headers(&object.url, headers);
    if let (Some(ours), Some(theirs)) = (object.strong_etag(), answered.strong_etag()) {
        if ours != theirs {
            return RangeVerdict::RemoteChanged(RemoteChange::Etag {
                from: ours.to_string(),
                to: theirs.to_string(),
            });
        }
    }
    if let Some(encoding) = headers.get("content-encoding") {
        if !encoding.eq_ignore_ascii_case("identity") {
            return retry(RangeFault::Encoded(encoding.to_string()));
        }
    }
    let Some(value) = headers.get("content-range") else {
        return retry(RangeFault::MissingContentRange);
    };
    match content_range::parse(value) {
        Some(ContentRange::Satisfied { range, total }) => {
            if let (Some(total), Some(size)) = (total, object.size) {
                if total != size {
                    return RangeVerdict::RemoteChanged(RemoteChange::Size {
                        from: size,
                        to: total,
                    });
                }
            }
            if range != requested {
                return retry(RangeFault::WrongContentRange {
                    asked: requested,
                    got: value.to_string(),
                });
            }
            // A longer body than the span (a middlebox appending bytes)
            // still starts with the span Content-Range names: the copy
            // stops at the range's end and the rest goes with the
            // connection. A shorter one cannot hold the range.
            if let Some(length) = headers.content_length() {
                if length < requested.len() {
                    return retry(RangeFault::WrongLength {
                        asked: requested,
                        length,
                    });
                }
            }
            RangeVerdict::Write
        }
        _ => retry(RangeFault::MalformedContentRange(value.to_string())),
    }
}

/// A 200 to a request carrying `If-Range` means the validator no longer
/// matches, or the server ignores ranges altogether; the headers tell which.
fn check_full_answer(object: &RemoteObject, url: &str, headers: &Headers) -> RangeVerdict {
    let answered = RemoteObject::from_headers(url, headers);
    if let Some(change) = object.change_from(&answered) {
        // A different length with no validators at all is more likely an
        // injected error page than a new version: retry rather than restart.
        let has_validators = answered.etag.is_some() || answered.last_modified.is_some();
        if has_validators {
            return RangeVerdict::RemoteChanged(change);
        }
        return RangeVerdict::Retry {
            reason: Reason::Range(RangeFault::UnrelatedBody {
                change,
                content_type: headers.get("content-type").unwrap_or("unknown").to_string(),
            }),
            retry_after_ms: None,
        };
    }
    if answered.size.is_some() && answered.size == object.size {
        RangeVerdict::RangesIgnored
    } else {
        RangeVerdict::Retry {
            reason: Reason::Range(RangeFault::UnknownLength),
            retry_after_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> RemoteObject {
        RemoteObject {
            url: "http://h/f".into(),
            size: Some(100),
            etag: Some("\"v1\"".into()),
            last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
            accepts_ranges: true,
            content_disposition: None,
        }
    }

    fn check(status: u16, pairs: &[(&str, &str)]) -> RangeVerdict {
        let range = ByteRange::new(10, 19).unwrap();
        let headers = Headers::from_pairs(pairs.iter().copied());
        check_range_response(&object(), range, "http://h/f", status, &headers, 0)
    }

    #[test]
    fn exact_partial_content_is_written() {
        let v = check(
            206,
            &[
                ("Content-Range", "bytes 10-19/100"),
                ("Content-Length", "10"),
                ("ETag", "\"v1\""),
            ],
        );
        assert_eq!(v, RangeVerdict::Write);
    }

    #[test]
    fn shifted_or_wrong_length_ranges_are_retried() {
        assert!(matches!(
            check(206, &[("Content-Range", "bytes 11-20/100")]),
            RangeVerdict::Retry { .. }
        ));
        assert!(matches!(
            check(
                206,
                &[
                    ("Content-Range", "bytes 10-19/100"),
                    ("Content-Length", "9")
                ]
            ),
            RangeVerdict::Retry { .. }
        ));
        assert!(matches!(check(206, &[]), RangeVerdict::Retry { .. }));
    }

    #[test]
    fn a_body_announced_longer_than_its_span_is_written_up_to_the_span() {
        let v = check(
            206,
            &[
                ("Content-Range", "bytes 10-19/100"),
                ("Content-Length", "4106"),
            ],
        );
        assert_eq!(v, RangeVerdict::Write);
    }

    #[test]
    fn a_new_etag_or_total_means_the_remote_changed() {
        assert!(matches!(
            check(
                206,
                &[("Content-Range", "bytes 10-19/100"), ("ETag", "\"v2\"")]
            ),
            RangeVerdict::RemoteChanged(_)
        ));
        assert!(matches!(
            check(206, &[("Content-Range", "bytes 10-19/101")]),
            RangeVerdict::RemoteChanged(_)
        ));
        assert!(matches!(
            check(200, &[("Content-Length", "120"), ("ETag", "\"v2\"")]),
            RangeVerdict::RemoteChanged(_)
        ));
        assert!(matches!(
            check(416, &[("Content-Range", "bytes */50")]),
            RangeVerdict::RemoteChanged(_)
        ));
    }

    #[test]
    fn full_body_of_the_same_object_means_ranges_are_ignored() {
        assert_eq!(
            check(200, &[("Content-Length", "100"), ("ETag", "\"v1\"")]),
            RangeVerdict::RangesIgnored
        );
    }

    #[test]
    fn an_injected_html_page_is_retried_not_written() {
        let v = check(
            200,
            &[("Content-Length", "512"), ("Content-Type", "text/html")],
        );
        assert!(matches!(v, RangeVerdict::Retry { .. }), "{v:?}");
    }

    #[test]
    fn service_unavailable_carries_retry_after() {
        assert_eq!(
            check(503, &[("Retry-After", "2")]),
            RangeVerdict::Retry {
                reason: Reason::Status {
                    url: "http://h/f".into(),
                    status: 503
                },
                retry_after_ms: Some(2000)
            }
        );
        assert!(matches!(check(404, &[]), RangeVerdict::Fatal(_)));
    }
}
