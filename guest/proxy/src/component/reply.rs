//! Answers to the client: the object's headers, and short plain-text
//! answers for everything that is not the object.

use rangeget_core::client_range::ClientRange;
use rangeget_core::{Failure, Headers};
use wasip2::http::types::ResponseOutparam;

use super::incoming::Incoming;
use super::log::log;
use super::sink::{ResponseHead, Sink};

/// Origin headers a client of the object needs, passed through unchanged.
const PASSED_THROUGH: [&str; 6] = [
    "content-type",
    "etag",
    "last-modified",
    "content-disposition",
    "cache-control",
    "expires",
];

/// The head of an answer carrying `len` bytes of the object (of unknown
/// length: sent chunked): the client's status and `Content-Range`, the
/// origin's validators and type.
pub fn object_head(
    origin: &Headers,
    wanted: ClientRange,
    size: u64,
    len: Option<u64>,
    ranged: bool,
) -> ResponseHead {
    let mut headers: Vec<(String, String)> = PASSED_THROUGH
        .iter()
        .filter_map(|name| origin.get(name).map(|v| (name.to_string(), v.to_string())))
        .collect();
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

/// Headers only: the answer to HEAD. No body resource is opened, so the
/// host sends the Content-Length as given.
pub fn head_only(out: ResponseOutparam, head: ResponseHead) {
    match head.response() {
        Some(response) => ResponseOutparam::set(out, Ok(response)),
        None => text(
            out,
            500,
            "rangeget-proxy could not build the response headers",
        ),
    }
}

/// A short plain-text answer.
pub fn text(out: ResponseOutparam, status: u16, message: &str) {
    text_with(out, status, message, Vec::new());
}

fn text_with(out: ResponseOutparam, status: u16, message: &str, extra: Vec<(String, String)>) {
    let body = format!("{message}\n");
    let mut headers = vec![
        (
            "content-type".to_string(),
            "text/plain; charset=utf-8".to_string(),
        ),
        ("content-length".to_string(), body.len().to_string()),
    ];
    headers.extend(extra);
    let head = ResponseHead { status, headers };
    let Some(mut sink) = Sink::open(out, &head) else {
        return log(&format!("could not send HTTP {status} ({message})"));
    };
    if sink.write_all(body.as_bytes()).is_ok() {
        sink.finish();
    }
}

pub fn method_not_allowed(out: ResponseOutparam) {
    text_with(
        out,
        405,
        "rangeget-proxy serves GET and HEAD only",
        vec![("allow".into(), "GET, HEAD".into())],
    );
}

/// An error status from the origin, passed on with a body saying so.
pub fn origin_status(out: ResponseOutparam, status: u16, origin: &Headers, incoming: &Incoming) {
    let extra: Vec<(String, String)> = ["retry-after", "www-authenticate"]
        .iter()
        .filter_map(|name| origin.get(name).map(|v| (name.to_string(), v.to_string())))
        .collect();
    let message = format!("the origin answered HTTP {status} for {}", incoming.path);
    if incoming.head_only {
        return head_only(
            out,
            ResponseHead {
                status,
                headers: extra,
            },
        );
    }
    text_with(out, status, &message, extra);
}

/// The origin could not be reached or gave an unusable answer.
/// 502, or 504 when the origin went silent (see
/// `Failure::gateway_status`), with the reason's stable code in
/// `rangeget-reason` for a client or a log to act on.
pub fn bad_gateway(out: ResponseOutparam, incoming: &Incoming, failure: &Failure) {
    log(&format!("{}: {failure}", incoming.path));
    let code = (
        "rangeget-reason".to_string(),
        failure.reason.root().code().to_string(),
    );
    text_with(
        out,
        failure.gateway_status(),
        &format!(
            "rangeget-proxy could not fetch {}: {failure}",
            incoming.path
        ),
        vec![code],
    );
}

/// `304 Not Modified`: the client's copy is current. The validators and
/// caching headers come along (RFC 9110 §15.4.5), no body.
pub fn not_modified(out: ResponseOutparam, origin: &Headers) {
    let headers = PASSED_THROUGH
        .iter()
        .filter(|name| !matches!(**name, "content-type" | "content-disposition"))
        .filter_map(|name| origin.get(name).map(|v| (name.to_string(), v.to_string())))
        .collect();
    head_only(
        out,
        ResponseHead {
            status: 304,
            headers,
        },
    );
}

pub fn range_not_satisfiable(out: ResponseOutparam, size: u64, head_only_answer: bool) {
    let content_range = ("content-range".to_string(), format!("bytes */{size}"));
    if head_only_answer {
        let head = ResponseHead {
            status: 416,
            headers: vec![content_range],
        };
        return head_only(out, head);
    }
    text_with(
        out,
        416,
        &format!("the requested range lies outside the object ({size} bytes)"),
        vec![content_range],
    );
}
