//! The words the fetch ([`crate::fetch::Fetch`], and the probe and
//! transfer inside it) and its pumps share: the requests it asks for, and
//! how one failed. If-Range and Range are built here and nowhere else.

use std::fmt;

use crate::failure::Reason;
use crate::object::RemoteObject;
use crate::range::ByteRange;
use crate::retry::RetryPolicy;

/// Names one request of one engine, from its `Send` to its `Close`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Head,
    Get,
}

/// A request an engine wants sent. The driver adds the user's headers
/// (and keeps credentials to their host); these are the engine's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub id: RequestId,
    pub method: Method,
    pub url: String,
    pub range: Option<ByteRange>,
    /// The validator that makes a changed object answer 200 instead of a
    /// 206 of the new version spliced into the old one.
    pub if_range: Option<String>,
    /// The date of a copy already on disk: an unchanged object answers
    /// 304, with no body (`-N`).
    pub if_modified_since: Option<String>,
}

impl Request {
    /// A GET of `range` of `object` at `url` (the object's URL, or where
    /// a redirect led), with `If-Range` whenever the object has a usable
    /// validator.
    pub fn range_of(id: RequestId, object: &RemoteObject, url: &str, range: ByteRange) -> Request {
        Request {
            id,
            method: Method::Get,
            url: url.to_string(),
            range: Some(range),
            if_range: object.if_range().map(str::to_string),
            if_modified_since: None,
        }
    }

    /// The header fields this request needs besides the user's.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::with_capacity(2);
        if let Some(range) = self.range {
            headers.push(("range", range.header_value()));
        }
        if let Some(validator) = &self.if_range {
            headers.push(("if-range", validator.clone()));
        }
        if let Some(date) = &self.if_modified_since {
            headers.push(("if-modified-since", date.clone()));
        }
        headers
    }
}

/// How a request failed before or during its answer, as the runtime told
/// the driver. The kind says what another try can do; the words are the
/// runtime's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestFailure {
    /// No connection to the host could be made (no DNS answer, refused,
    /// timed out): unlike a reset after the request went out, it says
    /// nothing about the object, everything about the host.
    NoConnection(String),
    /// The TLS handshake failed (an untrusted certificate, an alert): no
    /// connection, and asking again cannot help.
    Tls(String),
    /// The runtime would not make the request (a header it forbids, a URL
    /// it cannot send): asking again cannot help.
    Refused(String),
    /// Broken on the way (a reset, a timeout after the request went out, a
    /// body cut short): another try may well work.
    Broken(String),
}

impl RequestFailure {
    /// The runtime's words.
    pub fn message(&self) -> &str {
        match self {
            RequestFailure::NoConnection(message)
            | RequestFailure::Tls(message)
            | RequestFailure::Refused(message)
            | RequestFailure::Broken(message) => message,
        }
    }

    /// Asking again cannot help: report it now, not after every retry.
    pub fn lasting(&self) -> bool {
        matches!(self, RequestFailure::Tls(_) | RequestFailure::Refused(_))
    }

    /// No connection to the host could be made.
    pub fn no_connection(&self) -> bool {
        matches!(
            self,
            RequestFailure::NoConnection(_) | RequestFailure::Tls(_)
        )
    }
}

impl fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Limits every engine applies to its requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRules {
    pub retry: RetryPolicy,
    /// Redirects followed per request.
    pub max_redirects: u32,
    /// Where redirects may lead: under this URL prefix only (the proxy's
    /// origin), or anywhere.
    pub scope: Option<String>,
}

impl Default for RequestRules {
    fn default() -> Self {
        RequestRules {
            retry: RetryPolicy::default(),
            max_redirects: crate::redirect::MAX_REDIRECTS,
            scope: None,
        }
    }
}

impl RequestRules {
    /// Where a redirect from `url` (the `hops`th of its request) to `next`
    /// may go: `Ok` to follow it, or the reason to stop.
    pub fn follow(&self, from: &str, next: &str, hops: u32) -> Result<(), Reason> {
        if hops > self.max_redirects {
            return Err(Reason::TooManyRedirects {
                from: from.to_string(),
                last: next.to_string(),
            });
        }
        match &self.scope {
            Some(scope) if !crate::redirect::within(scope, next) => {
                Err(Reason::RedirectOutOfScope {
                    to: next.to_string(),
                    scope: scope.clone(),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Something a user may want to read while an engine works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A request failed and will be tried again.
    Retrying {
        /// What is retried ("bytes 0-9 of URL"), if not the whole object.
        what: Option<String>,
        reason: Reason,
        retry: u32,
        max: u32,
        delay_ms: u64,
    },
    /// One stream failed part-way and starts over from byte 0.
    Restarting {
        reason: Reason,
        retry: u32,
        delay_ms: u64,
    },
    /// The object changed between two single-stream attempts; the new
    /// version is downloaded.
    NewVersion(crate::failure::RemoteChange),
    /// A range answer announced more bytes than its `Content-Range` span
    /// (told once per transfer): the span is kept, the rest dropped with
    /// its connection.
    LongerThanRange {
        url: String,
        range: ByteRange,
        length: u64,
    },
    /// A link reached through redirects expired (`reason`): it is renewed
    /// by following `requested` again, for this request and any after it
    /// (told once per download).
    LinkExpired { requested: String, reason: Reason },
    /// The driver fed `what` for request `id`, which the engine does not
    /// have open: a bug of the driver (the input was dropped).
    Unexpected { id: RequestId, what: &'static str },
    /// A request of `range` got its head after `wait_ms` and its body in
    /// `body_ms` (for `-v`).
    Timing {
        range: ByteRange,
        wait_ms: u64,
        body_ms: u64,
        /// The source that served it, when a file has several.
        from: Option<String>,
    },
    /// The first answer from `url` took `ms`: whether the origin is far,
    /// which sizes its requests (for `-v`).
    RoundTrip { url: String, ms: u64 },
    /// A source of a file with several was dropped for `reason`; `left`
    /// sources go on.
    SourceDropped {
        url: String,
        reason: Reason,
        left: usize,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = |ms: &u64| *ms as f64 / 1000.0;
        match self {
            Event::Retrying {
                what,
                reason,
                retry,
                max,
                delay_ms,
            } => {
                if let Some(what) = what {
                    write!(f, "{what}: ")?;
                }
                write!(
                    f,
                    "{reason}; retry {retry}/{max} in {:.1} s",
                    seconds(delay_ms)
                )
            }
            Event::Restarting {
                reason,
                retry,
                delay_ms,
            } => write!(
                f,
                "{reason}; restarting from byte 0, retry {retry} in {:.1} s",
                seconds(delay_ms)
            ),
            Event::NewVersion(change) => write!(
                f,
                "{}; downloading the new version",
                Reason::Changed(change.clone())
            ),
            Event::LinkExpired { requested, reason } => write!(
                f,
                "{reason}: the link {requested} redirected to has expired; following {requested} \
                 again for fresh links"
            ),
            Event::Unexpected { id, what } => write!(
                f,
                "internal error: {what} came for request {}, which is not open; it was \
                 dropped and the download goes on (please report this)",
                id.0
            ),
            Event::LongerThanRange { url, range, length } => write!(
                f,
                "{url} announced {length} bytes for {range} ({} bytes): keeping the range its \
                 Content-Range names and dropping the rest (a proxy on the way may be appending \
                 to bodies)",
                range.len()
            ),
            Event::Timing {
                range,
                wait_ms,
                body_ms,
                from,
            } => {
                write!(f, "{range}")?;
                if let Some(url) = from {
                    write!(f, " from {url}")?;
                }
                write!(f, ": head after {wait_ms} ms, body in {body_ms} ms")
            }
            Event::RoundTrip { url, ms } => {
                let far = if crate::request_size::is_far(*ms) {
                    "far: requests of a whole chunk"
                } else {
                    "near"
                };
                write!(f, "{url} answered in {ms} ms ({far})")
            }
            Event::SourceDropped { url, reason, left } => write!(
                f,
                "dropping the source {url}: {reason}; {left} other source{} go{} on",
                if *left == 1 { "" } else { "s" },
                if *left == 1 { "es" } else { "" }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_are_bounded_and_kept_in_scope() {
        let rules = RequestRules {
            scope: Some("http://o/p".into()),
            ..RequestRules::default()
        };
        assert!(rules.follow("http://o/p/a", "http://o/p/b", 1).is_ok());
        assert!(matches!(
            rules.follow("http://o/p/a", "http://o/q/b", 1),
            Err(Reason::RedirectOutOfScope { .. })
        ));
        assert!(matches!(
            rules.follow("http://o/p/a", "http://o/p/b", 11),
            Err(Reason::TooManyRedirects { .. })
        ));
        assert!(RequestRules::default().follow("a", "http://x/", 10).is_ok());
    }

    #[test]
    fn if_range_comes_with_every_range_that_has_a_validator() {
        let object = RemoteObject {
            url: "http://h/f".into(),
            size: Some(10),
            etag: Some("W/\"weak\"".into()),
            last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
            accepts_ranges: true,
            content_disposition: None,
        };
        let request = Request::range_of(
            RequestId(1),
            &object,
            "http://cdn/f",
            ByteRange::new(0, 4).unwrap(),
        );
        assert_eq!(
            request.headers(),
            [
                ("range", "bytes=0-4".to_string()),
                ("if-range", "Mon, 01 Jan 2024 00:00:00 GMT".to_string())
            ]
        );
    }
}
