//! What part of an object a client's `Range` (and `If-Range`) selects, as
//! the proxy answers it (RFC 9110 §14.2 and §13.1.5).

use crate::object::RemoteObject;
use crate::range::ByteRange;

/// What part of the object a client's request selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRange {
    /// The whole object, answered with 200 (no `Range`, a `Range` that
    /// cannot be parsed or asks for several ranges, or a stale `If-Range`).
    Whole,
    /// One satisfiable range, answered with 206.
    Partial(ByteRange),
    /// A range that starts past the end, answered with 416.
    Unsatisfiable,
}

impl ClientRange {
    /// Reads the request's `Range` (and `If-Range`) against `object` of
    /// `size` bytes, as RFC 9110 §14.2 and §13.1.5 describe. Anything this
    /// does not understand is ignored rather than refused, as the RFC
    /// allows: the client then gets the whole object.
    pub fn from_request(
        range: Option<&str>,
        if_range: Option<&str>,
        object: &RemoteObject,
        size: u64,
    ) -> ClientRange {
        let Some(range) = range else {
            return ClientRange::Whole;
        };
        if let Some(condition) = if_range {
            if !if_range_matches(condition.trim(), object) {
                return ClientRange::Whole;
            }
        }
        parse_single_range(range, size).unwrap_or(ClientRange::Whole)
    }

    /// The bytes to send: `None` for an unsatisfiable range or an empty object.
    pub fn span(self, size: u64) -> Option<ByteRange> {
        match self {
            ClientRange::Whole => ByteRange::from_len(0, size),
            ClientRange::Partial(range) => Some(range),
            ClientRange::Unsatisfiable => None,
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ClientRange::Whole => 200,
            ClientRange::Partial(_) => 206,
            ClientRange::Unsatisfiable => 416,
        }
    }

    /// The `Content-Range` header of the answer, if it has one.
    pub fn content_range(self, size: u64) -> Option<String> {
        match self {
            ClientRange::Whole => None,
            ClientRange::Partial(range) => {
                Some(format!("bytes {}-{}/{size}", range.start(), range.end()))
            }
            ClientRange::Unsatisfiable => Some(format!("bytes */{size}")),
        }
    }
}

/// `If-Range` holds either an entity tag (compared strongly: a weak one
/// never matches) or an HTTP-date (compared exactly with Last-Modified).
fn if_range_matches(condition: &str, object: &RemoteObject) -> bool {
    if condition.starts_with('"') || condition.starts_with("W/") {
        object.strong_etag() == Some(condition) && !condition.starts_with("W/")
    } else {
        object.last_modified.as_deref() == Some(condition)
    }
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N`; `None` for anything else,
/// including several ranges (serving those whole is simpler and allowed).
fn parse_single_range(value: &str, size: u64) -> Option<ClientRange> {
    let (unit, spec) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let digits = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.is_empty() {
        // A suffix: the last N bytes.
        let suffix = digits(last)?;
        if suffix == 0 || size == 0 {
            return Some(ClientRange::Unsatisfiable);
        }
        let len = suffix.min(size);
        return Some(ClientRange::Partial(ByteRange::from_len(size - len, len)?));
    }
    let start = digits(first)?;
    let end = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    if end.is_some_and(|end| end < start) {
        return None; // invalid: ignored
    }
    if start >= size {
        return Some(ClientRange::Unsatisfiable);
    }
    let end = end.map_or(size - 1, |end| end.min(size - 1));
    Some(ClientRange::Partial(ByteRange::new(start, end)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object() -> RemoteObject {
        RemoteObject {
            url: "http://h/f".into(),
            size: Some(1000),
            etag: Some("\"v1\"".into()),
            last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
            accepts_ranges: true,
            content_disposition: None,
        }
    }

    fn client(range: &str) -> ClientRange {
        ClientRange::from_request(Some(range), None, &object(), 1000)
    }

    fn partial(start: u64, end: u64) -> ClientRange {
        ClientRange::Partial(ByteRange::new(start, end).unwrap())
    }

    #[test]
    fn client_ranges_of_every_form_map_to_bytes() {
        assert_eq!(client("bytes=0-99"), partial(0, 99));
        assert_eq!(client("bytes=900-"), partial(900, 999));
        assert_eq!(client("bytes=-10"), partial(990, 999));
        assert_eq!(client("bytes=-5000"), partial(0, 999));
        assert_eq!(client("bytes=990-5000"), partial(990, 999));
        assert_eq!(client("Bytes = 5-5"), partial(5, 5));
        assert_eq!(client("bytes=1000-"), ClientRange::Unsatisfiable);
        assert_eq!(client("bytes=-0"), ClientRange::Unsatisfiable);
        assert_eq!(
            ClientRange::from_request(None, None, &object(), 1000),
            ClientRange::Whole
        );
    }

    #[test]
    fn ranges_this_does_not_serve_fall_back_to_the_whole_object() {
        for ignored in [
            "bytes=0-1,5-6",
            "bytes=9-5",
            "items=0-1",
            "bytes=a-b",
            "bytes=+1-2",
            "",
        ] {
            assert_eq!(client(ignored), ClientRange::Whole, "{ignored:?}");
        }
    }

    #[test]
    fn a_stale_if_range_means_the_whole_object() {
        let o = object();
        let with = |if_range| ClientRange::from_request(Some("bytes=0-9"), if_range, &o, 1000);
        assert_eq!(with(Some("\"v1\"")), partial(0, 9));
        assert_eq!(with(Some("Mon, 01 Jan 2024 00:00:00 GMT")), partial(0, 9));
        assert_eq!(with(Some("\"v0\"")), ClientRange::Whole);
        assert_eq!(with(Some("W/\"v1\"")), ClientRange::Whole);
    }

    #[test]
    fn answers_carry_the_right_status_and_content_range() {
        assert_eq!(
            partial(0, 99).content_range(1000).unwrap(),
            "bytes 0-99/1000"
        );
        assert_eq!(partial(0, 99).status(), 206);
        assert_eq!(
            ClientRange::Unsatisfiable.content_range(1000).unwrap(),
            "bytes */1000"
        );
        assert_eq!(ClientRange::Unsatisfiable.status(), 416);
        assert_eq!(ClientRange::Whole.span(0), None);
        assert_eq!(ClientRange::Whole.span(10), ByteRange::new(0, 9));
        // Nothing to serve from an empty object.
        assert_eq!(
            ClientRange::from_request(Some("bytes=0-"), None, &object(), 0),
            ClientRange::Unsatisfiable
        );
    }
}
