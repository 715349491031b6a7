//! What the server says the remote object is: its size, validators and
//! whether it can be fetched in ranges, and how a later look differs.

use crate::failure::RemoteChange;
use crate::headers::Headers;

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

    /// Last-Modified as Unix seconds, if it is a valid HTTP-date.
    pub fn last_modified_unix(&self) -> Option<u64> {
        let date = httpdate::parse_http_date(self.last_modified.as_deref()?).ok()?;
        date.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }

    /// The `If-Range` value for range requests. Only a strong ETag may be
    /// used there (RFC 9110 §13.1.5), so a weak one falls back to Last-Modified.
    pub fn if_range(&self) -> Option<&str> {
        self.strong_etag().or(self.last_modified.as_deref())
    }

    pub fn strong_etag(&self) -> Option<&str> {
        self.etag.as_deref().filter(|e| !e.starts_with("W/"))
    }

    /// How `other` (a later look at the same URL) differs from `self`, or
    /// `None` when nothing says it changed. Validators only count when both
    /// sides have them: servers drop headers between requests.
    pub fn change_from(&self, other: &RemoteObject) -> Option<RemoteChange> {
        if let (Some(from), Some(to)) = (self.size, other.size) {
            if from != to {
                return Some(RemoteChange::Size { from, to });
            }
        }
        if let (Some(from), Some(to)) = (&self.etag, &other.etag) {
            if from != to {
                return Some(RemoteChange::Etag {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
        if let (Some(from), Some(to)) = (&self.last_modified, &other.last_modified) {
            if from != to {
                return Some(RemoteChange::LastModified {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
        None
    }
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
        assert!(matches!(a.change_from(&b), Some(RemoteChange::Etag { .. })));
        b = a.clone();
        b.size = Some(11);
        assert_eq!(
            a.change_from(&b),
            Some(RemoteChange::Size { from: 10, to: 11 })
        );
    }
}
