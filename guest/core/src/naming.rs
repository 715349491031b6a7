//! Choosing a safe local file name when the user gave none.

/// The last path segment of `url`, percent-decoded and sanitised; falls
/// back to `download` when nothing usable is left.
pub fn file_name_from_url(url: &str) -> String {
    let parsed = url::Url::parse(url).ok();
    let segment = parsed
        .as_ref()
        .and_then(|u| u.path_segments())
        .and_then(|mut s| s.next_back().map(str::to_string))
        .unwrap_or_default();
    let decoded = percent_decode(&segment);
    sanitize_file_name(&decoded).unwrap_or_else(|| "download".to_string())
}

/// Makes a server- or URL-supplied name safe to create inside the output
/// directory: no separators, no control characters, no `.`/`..`, no hidden
/// dot-files. `None` when nothing is left.
pub fn sanitize_file_name(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        return None;
    }
    // Leave room for the `.part.meta.tmp` suffix within common 255-byte limits.
    let mut end = cleaned.len().min(200);
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    Some(cleaned[..end].to_string())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn takes_the_last_segment() {
        assert_eq!(file_name_from_url("http://h/a/b/file.iso?x=1"), "file.iso");
        assert_eq!(
            file_name_from_url("http://h/a/my%20file.txt"),
            "my file.txt"
        );
        assert_eq!(file_name_from_url("http://h/"), "download");
    }

    #[test]
    fn never_escapes_the_directory() {
        assert_eq!(
            file_name_from_url("http://h/a/..%2F..%2Fetc%2Fpasswd"),
            "_.._etc_passwd"
        );
        assert_eq!(sanitize_file_name(".."), None);
        assert_eq!(sanitize_file_name("../x"), Some("_x".into()));
        assert_eq!(sanitize_file_name("a\nb"), Some("a_b".into()));
    }

    proptest! {
        #[test]
        fn sanitised_names_are_plain_file_names(name in ".*") {
            if let Some(n) = sanitize_file_name(&name) {
                prop_assert!(!n.contains('/') && !n.contains('\\'));
                prop_assert!(!n.starts_with('.'));
                prop_assert!(!n.chars().any(char::is_control));
                prop_assert!(!n.is_empty());
            }
        }
    }
}
