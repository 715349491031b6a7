//! Following redirects, which wasi:http leaves to the caller.

use url::Url;

/// At most this many redirects per request, as curl and browsers do.
pub const MAX_REDIRECTS: u32 = 10;

pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Resolves a `Location` value (absolute or relative) against the URL that
/// answered with it. Only http and https targets are followed.
pub fn resolve_location(base: &str, location: &str) -> Result<String, String> {
    let base = Url::parse(base).map_err(|e| format!("invalid URL '{base}': {e}"))?;
    let target = base
        .join(location.trim())
        .map_err(|e| format!("invalid redirect Location '{location}': {e}"))?;
    match target.scheme() {
        "http" | "https" => Ok(target.to_string()),
        other => Err(format!(
            "redirect to unsupported scheme '{other}' ({target}); only http and https are followed"
        )),
    }
}

/// Whether `url` lies under the URL prefix `scope`: the same scheme, host
/// and port, and a path strictly below the prefix's. Where the proxy may
/// follow a redirect (and what it may fetch at all).
pub fn within(scope: &str, url: &str) -> bool {
    let (Ok(scope), Ok(url)) = (Url::parse(scope), Url::parse(url)) else {
        return false;
    };
    let prefix = scope.path().trim_end_matches('/');
    url.origin() == scope.origin()
        && url
            .path()
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_and_absolute_locations() {
        assert_eq!(
            resolve_location("http://h/a/b?q=1", "c").unwrap(),
            "http://h/a/c"
        );
        assert_eq!(
            resolve_location("http://h/a/b", "/x?y=2").unwrap(),
            "http://h/x?y=2"
        );
        assert_eq!(
            resolve_location("http://h/a", "https://other/z").unwrap(),
            "https://other/z"
        );
        assert!(resolve_location("http://h/a", "ftp://x/y").is_err());
    }

    #[test]
    fn within_means_below_the_prefix_on_the_same_origin() {
        let scope = "http://origin.test:8080/objects";
        assert!(within(scope, "http://origin.test:8080/objects/x"));
        assert!(within("http://o/", "http://o/x"));
        for outside in [
            "http://origin.test:8080/objects",
            "http://origin.test:8080/objectsx/y",
            "https://origin.test:8080/objects/x",
            "http://origin.test:9090/objects/x",
            "http://evil.test/objects/x",
        ] {
            assert!(!within(scope, outside), "{outside}");
        }
    }
}
