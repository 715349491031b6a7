//! Confining the proxy to its origin: an incoming path becomes a URL under
//! the configured prefix, or is refused.
//!
//! The proxy must never become an open relay. So the incoming request's
//! authority is ignored, and its path is only ever appended to the
//! configured prefix, after refusing everything that could climb out of
//! it: `.`/`..` segments (also percent-encoded), encoded slashes and
//! backslashes, empty segments (`//host` tricks), and anything that is not
//! a plain origin-form path. The URL that results is parsed once more and
//! checked to still lie under the prefix, in case a parser disagrees.

use url::Url;

/// The configured `ORIGIN`: scheme, authority and a path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginPrefix {
    url: Url,
    /// The prefix path without its trailing slash (`""` for the root).
    path: String,
}

/// Why an incoming path was refused (answered 400).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRejected(pub String);

impl OriginPrefix {
    /// Parses `ORIGIN`, such as `https://cdn.example/objects`.
    pub fn parse(text: &str) -> Result<OriginPrefix, String> {
        let url = Url::parse(text.trim()).map_err(|e| {
            format!("ORIGIN={text:?} is not a URL ({e}); example: https://host/prefix")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("ORIGIN={text:?} must be an http or https URL"));
        }
        if url.host_str().is_none() {
            return Err(format!("ORIGIN={text:?} has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("ORIGIN={text:?} must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("ORIGIN={text:?} must not carry credentials"));
        }
        let path = url.path().trim_end_matches('/').to_string();
        Ok(OriginPrefix { url, path })
    }

    /// `scheme://authority/prefix`, for messages.
    pub fn display(&self) -> String {
        format!("{}{}", self.origin_part(), self.path)
    }

    fn origin_part(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// The URL to fetch for an incoming request's path and query.
    pub fn upstream_url(&self, path_with_query: &str) -> Result<String, PathRejected> {
        let reject = |why: &str| Err(PathRejected(format!("{path_with_query:?}: {why}")));
        if !path_with_query.starts_with('/') {
            return reject("only paths are accepted, not absolute URLs");
        }
        if path_with_query.starts_with("//") {
            return reject("a path may not start with //");
        }
        if path_with_query.contains('#') {
            return reject("a fragment is not part of a request");
        }
        if path_with_query
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return reject("control characters, spaces and backslashes are not allowed");
        }
        let (path, query) = match path_with_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_with_query, None),
        };
        for segment in path[1..].split('/') {
            if let Err(why) = check_segment(segment) {
                return reject(&why);
            }
        }
        let mut joined = format!("{}{}{path}", self.origin_part(), self.path);
        if let Some(query) = query {
            joined.push('?');
            joined.push_str(query);
        }
        let parsed = Url::parse(&joined).map_err(|e| PathRejected(format!("{joined}: {e}")))?;
        if !self.contains(&parsed) {
            return reject("it would leave the origin prefix");
        }
        Ok(parsed.to_string())
    }

    /// Whether `url` lies under this prefix (same scheme, host and port,
    /// path below the prefix). Redirects are only followed when it does.
    pub fn contains(&self, url: &Url) -> bool {
        self.contains_text(url.as_str())
    }

    /// [`OriginPrefix::contains`] for a URL in text form: the rule that
    /// also keeps the engine's redirects under the prefix.
    pub fn contains_text(&self, url: &str) -> bool {
        crate::redirect::within(&self.display(), url)
    }
}

/// One path segment, still percent-encoded as it arrived.
fn check_segment(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("empty path segments (//) are not allowed".into());
    }
    let decoded = percent_decode(segment).ok_or("malformed percent-encoding")?;
    if decoded == b"." || decoded == b".." {
        return Err("dot segments are not allowed".into());
    }
    if decoded.iter().any(|b| matches!(b, b'/' | b'\\' | 0)) {
        return Err("encoded slashes, backslashes and NUL are not allowed".into());
    }
    Ok(())
}

/// Decodes `%XX` escapes; `None` when one is malformed.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = text.get(at + 1..at + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix() -> OriginPrefix {
        OriginPrefix::parse("http://origin.test:8080/objects/").unwrap()
    }

    #[test]
    fn paths_and_queries_land_under_the_prefix() {
        let p = prefix();
        assert_eq!(
            p.upstream_url("/a.bin").unwrap(),
            "http://origin.test:8080/objects/a.bin"
        );
        assert_eq!(
            p.upstream_url("/dir/b%20c.bin?size=4M&x=..").unwrap(),
            "http://origin.test:8080/objects/dir/b%20c.bin?size=4M&x=.."
        );
        let root = OriginPrefix::parse("https://h").unwrap();
        assert_eq!(root.upstream_url("/x").unwrap(), "https://h/x");
    }

    #[test]
    fn nothing_escapes_the_prefix() {
        let p = prefix();
        for attack in [
            "/../secret",
            "/a/../../secret",
            "/%2e%2e/secret",
            "/%2E%2E/secret",
            "/.%2e/secret",
            "/./a",
            "/a/%2e",
            "/..%2fsecret",
            "/..%2Fsecret",
            "/a%5c..%5csecret",
            "/a\\..\\secret",
            "//evil.test/x",
            "http://evil.test/x",
            "https://evil.test/x",
            "evil.test/x",
            "@evil.test/x",
            "/a//b",
            "/",
            "",
            "/a%00b",
            "/a%zz",
            "/a%2",
            "/a#frag",
            "/a b",
            "/a\r\nHost: evil",
        ] {
            assert!(p.upstream_url(attack).is_err(), "{attack:?} was accepted");
        }
    }

    #[test]
    fn redirects_are_judged_against_the_prefix() {
        let p = prefix();
        assert!(p.contains_text("http://origin.test:8080/objects/x"));
        assert!(!p.contains_text("http://origin.test:8080/objects"));
        assert!(!p.contains_text("http://origin.test:8080/objectsx/y"));
        assert!(!p.contains_text("http://origin.test:8080/other/x"));
        assert!(!p.contains_text("https://origin.test:8080/objects/x"));
        assert!(!p.contains_text("http://origin.test:9090/objects/x"));
        assert!(!p.contains_text("http://evil.test/objects/x"));
    }

    #[test]
    fn the_origin_must_be_a_plain_http_url() {
        for bad in [
            "",
            "origin.test",
            "ftp://h/x",
            "http://h/x?q=1",
            "http://user:pw@h/x",
            "file:///etc",
        ] {
            assert!(OriginPrefix::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(prefix().display(), "http://origin.test:8080/objects");
    }
}
