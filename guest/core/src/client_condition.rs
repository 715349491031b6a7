//! A client's conditional GET or HEAD (`If-None-Match`,
//! `If-Modified-Since`) answered from the origin's validators, as RFC 9110
//! §13.1.2, §13.1.3 and §13.2.2 say: what a CDN edge does, so a client
//! whose copy is current gets a `304` and no body.

use crate::object::RemoteObject;

/// Whether the client's copy of `object` is current: `If-None-Match`
/// names its entity tag (weak comparison, `*` matches any), or, without
/// `If-None-Match`, `If-Modified-Since` is no earlier than its
/// `Last-Modified`. A condition that cannot be evaluated is ignored.
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    object: &RemoteObject,
) -> bool {
    if let Some(tags) = if_none_match {
        let Some(etag) = object.etag.as_deref() else {
            return false;
        };
        return tags
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || opaque(tag) == opaque(etag));
    }
    let parse = |text: &str| httpdate::parse_http_date(text.trim()).ok();
    match (
        if_modified_since.and_then(parse),
        object.last_modified.as_deref().and_then(parse),
    ) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// The tag without its weakness: `W/"x"` and `"x"` compare equal weakly.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(etag: Option<&str>, last_modified: Option<&str>) -> RemoteObject {
        RemoteObject {
            url: "http://h/f".into(),
            size: Some(10),
            etag: etag.map(str::to_string),
            last_modified: last_modified.map(str::to_string),
            accepts_ranges: true,
            content_disposition: None,
        }
    }

    const MODIFIED: &str = "Tue, 01 Dec 2026 10:00:00 GMT";

    #[test]
    fn a_matching_entity_tag_means_not_modified() {
        let o = object(Some("\"v1\""), Some(MODIFIED));
        assert!(not_modified(Some("\"v1\""), None, &o));
        assert!(not_modified(Some("\"v0\", W/\"v1\""), None, &o));
        assert!(not_modified(Some("*"), None, &o));
        assert!(!not_modified(Some("\"v2\""), None, &o));
        // If-None-Match wins over If-Modified-Since.
        assert!(!not_modified(Some("\"v2\""), Some(MODIFIED), &o));
        assert!(!not_modified(Some("\"v1\""), None, &object(None, None)));
    }

    #[test]
    fn a_date_no_earlier_than_the_last_change_means_not_modified() {
        let o = object(None, Some(MODIFIED));
        assert!(not_modified(None, Some(MODIFIED), &o));
        assert!(not_modified(
            None,
            Some("Wed, 02 Dec 2026 10:00:00 GMT"),
            &o
        ));
        assert!(!not_modified(
            None,
            Some("Mon, 30 Nov 2026 10:00:00 GMT"),
            &o
        ));
        assert!(!not_modified(None, Some("yesterday"), &o));
        assert!(!not_modified(None, None, &o));
    }
}
