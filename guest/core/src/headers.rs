//! Response headers as the core sees them: names compared case-insensitively.

/// A list of header fields. The adapter fills it from whatever its HTTP
/// binding returns; non-UTF-8 values arrive lossily decoded, which is fine
/// because every header the core reads is ASCII by specification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Headers {
        Headers(
            pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The first value of `name`, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// Every value of `name` (`Set-Cookie` comes once per cookie).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// `Content-Length` as a number; `None` when absent or malformed.
    pub fn content_length(&self) -> Option<u64> {
        self.get("content-length")?.parse().ok()
    }
}

/// Headers rangeget must control itself: ranges are validated against
/// exactly what it asked for, in the identity encoding.
const MANAGED_HEADERS: [&str; 4] = ["range", "if-range", "accept-encoding", "host"];

/// Reads a header a user gives (`-H`, a list's `header=`): `Name: value`,
/// a valid token name, no line breaks, none of the headers rangeget sets.
pub fn parse_header_line(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("'{text}' is not a header; use 'Name: value'"))?;
    let name = name.trim();
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid_name {
        return Err(format!("'{name}' is not a valid header name"));
    }
    if value.contains(['\r', '\n']) {
        return Err(format!(
            "the value of header '{name}' contains a line break"
        ));
    }
    if MANAGED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "rangeget sets '{name}' itself (it validates every range against what it asked for)"
        ));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_trims() {
        let h = Headers::from_pairs([("Content-Length", " 42 "), ("ETag", "\"x\"")]);
        assert_eq!(h.get("content-length"), Some("42"));
        assert_eq!(h.content_length(), Some(42));
        assert_eq!(h.get("etag"), Some("\"x\""));
        assert_eq!(h.get("missing"), None);
    }
}
