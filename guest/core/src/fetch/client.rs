//! A client of the proxy: what it asked for (its `Range`, `If-Range`, its
//! copy's validators, HEAD), and the answers it gets.

use crate::client_condition::not_modified;
use crate::client_range::ClientRange;
use crate::failure::Failure;
use crate::headers::Headers;
use crate::object::{RemoteObject, TransferMode};
use crate::range::ByteRange;

/// Origin headers a client of the object needs, passed through unchanged.
const PASSED_THROUGH: [&str; 6] = [
    "content-type",
    "etag",
    "last-modified",
    "content-disposition",
    "cache-control",
    "expires",
];

/// What a client of the proxy asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientAsk {
    /// A HEAD request: the answer's head only.
    pub head_only: bool,
    pub range: Option<String>,
    pub if_range: Option<String>,
    /// The client's conditional request: its copy's tags and date.
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    /// Bytes per origin request (whole slices on slice boundaries).
    pub slice: u64,
    /// The path and query as the client sent them, for messages.
    pub path: String,
}

/// Status and header fields of an answer to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

/// An answer to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The object (or the part asked for): its body follows as deliveries.
    Object(ResponseHead),
    /// A head without a body: a HEAD's, a 304, the origin's error status
    /// passed on; `text`, when given, is a short body saying what it is.
    Short {
        head: ResponseHead,
        text: Option<String>,
    },
}

/// What the fetch does for the client once the object is known.
pub(crate) enum Plan {
    /// Answered without the object.
    Answer(Answer),
    /// All of it in one stream from byte 0 (an origin without usable
    /// ranges): the client's `Range` ignored, as a 200 with the whole
    /// object is a valid answer to it.
    Whole,
    /// `span` by validated ranges, answered with `head`.
    Ranged { span: ByteRange, head: ResponseHead },
}

impl ClientAsk {
    /// What to answer for `object` (whose probe answer carried `origin`).
    pub(crate) fn plan(&self, origin: &Headers, object: &RemoteObject, ranges: bool) -> Plan {
        // The client's copy is current: a 304, as a CDN edge answers.
        if not_modified(
            self.if_none_match.as_deref(),
            self.if_modified_since.as_deref(),
            object,
        ) {
            return Plan::Answer(Answer::Short {
                head: ResponseHead {
                    status: 304,
                    headers: passed_through(origin, |name| {
                        !matches!(name, "content-type" | "content-disposition")
                    }),
                },
                text: None,
            });
        }
        let size = match object.transfer_mode() {
            TransferMode::Ranged { size } if ranges => size,
            _ if self.head_only => {
                return Plan::Answer(Answer::Short {
                    head: self.whole_head(origin, object),
                    text: None,
                })
            }
            _ => return Plan::Whole,
        };
        let wanted = ClientRange::from_request(
            self.range.as_deref(),
            self.if_range.as_deref(),
            object,
            size,
        );
        let Some(span) = wanted.span(size) else {
            return Plan::Answer(self.unsatisfiable(size));
        };
        let head = object_head(origin, wanted, size, Some(span.len()), true);
        if self.head_only {
            return Plan::Answer(Answer::Short { head, text: None });
        }
        Plan::Ranged { span, head }
    }

    /// The head of the whole object in one stream (chunked without a length).
    pub(crate) fn whole_head(&self, origin: &Headers, object: &RemoteObject) -> ResponseHead {
        object_head(origin, ClientRange::Whole, 0, object.size, false)
    }

    fn unsatisfiable(&self, size: u64) -> Answer {
        let head = ResponseHead {
            status: 416,
            headers: vec![("content-range".into(), format!("bytes */{size}"))],
        };
        let text = (!self.head_only)
            .then(|| format!("the requested range lies outside the object ({size} bytes)"));
        Answer::Short { head, text }
    }

    /// The answer when the origin could not be fetched: 502, or 504 when
    /// it went silent (see `Failure::gateway_status`), with the reason's
    /// stable code in `rangeget-reason` for a client or a log to act on.
    pub(crate) fn failed(&self, failure: &Failure) -> Answer {
        let code = failure.reason.root().code().to_string();
        Answer::Short {
            head: ResponseHead {
                status: failure.gateway_status(),
                headers: vec![("rangeget-reason".into(), code)],
            },
            text: Some(format!(
                "rangeget-proxy could not fetch {}: {failure}",
                self.path
            )),
        }
    }

    /// The origin's error status, passed on with what the client may act
    /// on (`Retry-After`, `WWW-Authenticate`).
    pub(crate) fn origin_status(&self, status: u16, origin: &Headers) -> Answer {
        let headers = passed_through_names(origin, &["retry-after", "www-authenticate"]);
        Answer::Short {
            head: ResponseHead { status, headers },
            text: (!self.head_only)
                .then(|| format!("the origin answered HTTP {status} for {}", self.path)),
        }
    }
}

fn passed_through(origin: &Headers, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let names: Vec<&str> = PASSED_THROUGH.into_iter().filter(|n| keep(n)).collect();
    passed_through_names(origin, &names)
}

fn passed_through_names(origin: &Headers, names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|name| origin.get(name).map(|v| (name.to_string(), v.to_string())))
        .collect()
}

/// The head of an answer carrying `len` bytes of the object (of unknown
/// length: sent chunked): the client's status and `Content-Range`, the
/// origin's validators and type.
fn object_head(
    origin: &Headers,
    wanted: ClientRange,
    size: u64,
    len: Option<u64>,
    ranged: bool,
) -> ResponseHead {
    let mut headers = passed_through(origin, |_| true);
    if let Some(len) = len {
        headers.push(("content-length".into(), len.to_string()));
    }
    if ranged {
        headers.push(("accept-ranges".into(), "bytes".into()));
    }
    if let Some(content_range) = wanted.content_range(size) {
        headers.push(("content-range".into(), content_range));
    }
    ResponseHead {
        status: wanted.status(),
        headers,
    }
}
