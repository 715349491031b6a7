//! Reading the answer to the first request: what is the remote object, and
//! can it be fetched in ranges?

use crate::content_range::{self, ContentRange};
use crate::failure::Failure;
use crate::headers::Headers;
use crate::redirect::{is_redirect, resolve_location};
use crate::retry::retry_after_ms;

/// How the probe asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeMethod {
    Head,
    /// `GET` with `Range: bytes=0-0`, when HEAD is refused: one byte instead
    /// of the whole object, and a 206 proves ranges work. A server that
    /// ignores the range answers 200, whose body the caller streams.
    FirstByte,
    /// A plain `GET` whose body the caller streams (single-stream retries).
    Get,
}

impl ProbeMethod {
    /// The `Range` header this probe sends, if any.
    pub fn range_header(self) -> Option<&'static str> {
        (self == ProbeMethod::FirstByte).then_some("bytes=0-0")
    }
}

/// What the server told us about the object at `url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteObject {
    /// The URL after redirects: range requests go straight there.
    pub url: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// `Accept-Ranges` was exactly `bytes`.
    pub accepts_ranges: bool,
    pub content_disposition: Option<String>,
}

/// How the body will be fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferMode {
    /// Parallel validated ranges, resumable.
    Ranged { size: u64 },
    /// One request from byte 0; nothing can be resumed.
    SingleStream { size: Option<u64> },
}

impl RemoteObject {
    pub fn from_headers(url: &str, headers: &Headers) -> RemoteObject {
        // A chunked body's Content-Length, if a broken server sends both, is meaningless.
        let chunked = headers
            .get("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        RemoteObject {
            url: url.to_string(),
            size: if chunked {
                None
            } else {
                headers.content_length()
            },
            etag: headers.get("etag").map(str::to_string),
            last_modified: headers.get("last-modified").map(str::to_string),
            // The seed's rule: exactly "bytes"; "none", empty or absent all mean no.
            accepts_ranges: headers.get("accept-ranges") == Some("bytes"),
            content_disposition: headers.get("content-disposition").map(str::to_string),
        }
    }

    pub fn transfer_mode(&self) -> TransferMode {
        match self.size {
            Some(size) if self.accepts_ranges && size > 0 => TransferMode::Ranged { size },
            size => TransferMode::SingleStream { size },
        }
    }

    /// The `If-Range` value for range requests. Only a strong ETag may be
    /// used there (RFC 9110 §13.1.5), so a weak one falls back to Last-Modified.
    pub fn if_range(&self) -> Option<&str> {
        self.strong_etag().or(self.last_modified.as_deref())
    }

    pub fn strong_etag(&self) -> Option<&str> {
        self.etag.as_deref().filter(|e| !e.starts_with("W/"))
    }

    /// Why `other` (a later look at the same URL) is not the same object as
    /// `self`, or `None` when nothing says it changed. Validators only count
    /// when both sides have them: servers drop headers between requests.
    pub fn change_from(&self, other: &RemoteObject) -> Option<String> {
        if let (Some(a), Some(b)) = (self.size, other.size) {
            if a != b {
                return Some(format!("size changed from {a} to {b} bytes"));
            }
        }
        if let (Some(a), Some(b)) = (&self.etag, &other.etag) {
            if a != b {
                return Some(format!("ETag changed from {a} to {b}"));
            }
        }
        if let (Some(a), Some(b)) = (&self.last_modified, &other.last_modified) {
            if a != b {
                return Some(format!("Last-Modified changed from {a} to {b}"));
            }
        }
        None
    }
}

/// What to do after a probe response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeVerdict {
    Object(RemoteObject),
    Redirect(String),
    /// HEAD was refused or answered oddly: ask again with GET.
    TryGet,
    Retry {
        reason: Failure,
        retry_after_ms: Option<u64>,
    },
    Fail(Failure),
}

pub fn interpret_probe(
    url: &str,
    method: ProbeMethod,
    status: u16,
    headers: &Headers,
    now_unix_ms: u64,
) -> ProbeVerdict {
    if is_redirect(status) {
        return match headers.get("location") {
            Some(location) => match resolve_location(url, location) {
                Ok(next) => ProbeVerdict::Redirect(next),
                Err(e) => ProbeVerdict::Fail(Failure::http(e)),
            },
            None => ProbeVerdict::Fail(Failure::http(format!(
                "{url} answered {status} without a Location"
            ))),
        };
    }
    match (status, method) {
        (206 | 416, ProbeMethod::FirstByte) => first_byte_answer(url, status, headers),
        (200..=299, _) => ProbeVerdict::Object(RemoteObject::from_headers(url, headers)),
        (408 | 429 | 500..=599, _) => ProbeVerdict::Retry {
            reason: Failure::http(format!("{url} answered HTTP {status}")),
            retry_after_ms: retry_after_ms(headers, now_unix_ms),
        },
        // CDNs and object stores refuse HEAD in many ways (405, 403, 501, even
        // 404); the GET decides whether the object really is unavailable.
        (_, ProbeMethod::Head) => ProbeVerdict::TryGet,
        (_, ProbeMethod::FirstByte | ProbeMethod::Get) => {
            ProbeVerdict::Fail(Failure::http(format!(
            "{url} answered HTTP {status}; check the URL (and any needed headers or credentials)"
        )))
        }
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
                reason: Failure::validation(format!(
                    "{url} answered the first-byte probe with HTTP {status} and Content-Range {:?}",
                    headers.get("content-range").unwrap_or("(none)")
                )),
                retry_after_ms: None,
            }
        }
    };
    let mut object = RemoteObject::from_headers(url, headers);
    object.size = Some(total);
    object.accepts_ranges = true;
    ProbeVerdict::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn ranged_only_with_exact_bytes_and_a_length() {
        let ranged = RemoteObject::from_headers(
            "u",
            &headers(&[("Accept-Ranges", "bytes"), ("Content-Length", "10")]),
        );
        assert_eq!(ranged.transfer_mode(), TransferMode::Ranged { size: 10 });
        for accept in ["none", "", "Bytes, none"] {
            let o = RemoteObject::from_headers(
                "u",
                &headers(&[("Accept-Ranges", accept), ("Content-Length", "10")]),
            );
            assert_eq!(
                o.transfer_mode(),
                TransferMode::SingleStream { size: Some(10) }
            );
        }
        let unknown_length =
            RemoteObject::from_headers("u", &headers(&[("Accept-Ranges", "bytes")]));
        assert_eq!(
            unknown_length.transfer_mode(),
            TransferMode::SingleStream { size: None }
        );
    }

    #[test]
    fn head_refusal_falls_back_to_get_but_get_refusal_fails() {
        let h = Headers::new();
        assert_eq!(
            interpret_probe("u", ProbeMethod::Head, 405, &h, 0),
            ProbeVerdict::TryGet
        );
        assert!(matches!(
            interpret_probe("u", ProbeMethod::Get, 404, &h, 0),
            ProbeVerdict::Fail(_)
        ));
        assert!(matches!(
            interpret_probe("u", ProbeMethod::Get, 503, &h, 0),
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

    #[test]
    fn weak_etags_are_never_used_in_if_range() {
        let o = RemoteObject::from_headers(
            "u",
            &headers(&[("ETag", "W/\"a\""), ("Last-Modified", "lm")]),
        );
        assert_eq!(o.if_range(), Some("lm"));
    }

    #[test]
    fn a_change_in_any_validator_is_a_different_object() {
        let a = RemoteObject::from_headers(
            "u",
            &headers(&[("Content-Length", "10"), ("ETag", "\"1\"")]),
        );
        let mut b = a.clone();
        assert_eq!(a.change_from(&b), None);
        b.etag = Some("\"2\"".into());
        assert!(a.change_from(&b).unwrap().contains("ETag"));
        b = a.clone();
        b.size = Some(11);
        assert!(a.change_from(&b).unwrap().contains("size"));
    }
}
