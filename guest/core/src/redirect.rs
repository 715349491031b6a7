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
}
