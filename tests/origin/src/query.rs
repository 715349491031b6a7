//! The query string of a request: every knob of the origin lives there, so a
//! URL alone reproduces a scenario, by hand or from a test.

/// Decoded `key=value` pairs, in order. Unknown keys are kept but ignored by
/// readers, so clients may add cache-busting parameters freely.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

/// A parameter that is present but unusable; the message names it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadParameter(pub(crate) String);

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Query { pairs }
    }

    /// The last value given for `key`, so a later parameter overrides an
    /// earlier one.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(candidate, _)| candidate == key)
            .map(|(_, value)| value.as_str())
    }

    /// Every value given for `key`, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(candidate, _)| candidate == key)
            .map(|(_, value)| value.clone())
            .collect()
    }

    pub(crate) fn count(&self, key: &str, default: u64) -> Result<u64, BadParameter> {
        match self.get(key) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|_| BadParameter(format!("{key}={value:?} is not a whole number"))),
        }
    }

    pub(crate) fn byte_size(&self, key: &str) -> Result<Option<u64>, BadParameter> {
        self.get(key)
            .map(|value| {
                parse_byte_size(value).ok_or_else(|| {
                    BadParameter(format!(
                        "{key}={value:?} is not a byte count (examples: 1000, 64K, 16M, 2G)"
                    ))
                })
            })
            .transpose()
    }

    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("1" | "true" | "yes"))
    }
}

/// Plain bytes or a binary suffix: `512`, `64K`, `16M`, `2G` (also lowercase),
/// as `size=` and the other byte counts of a URL are read.
pub fn parse_byte_size(text: &str) -> Option<u64> {
    let (digits, unit) = match text.char_indices().last()? {
        (at, 'k' | 'K') => (&text[..at], 1 << 10),
        (at, 'm' | 'M') => (&text[..at], 1 << 20),
        (at, 'g' | 'G') => (&text[..at], 1 << 30),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// Decodes `%XX` escapes and `+`; malformed escapes are kept as they are,
/// because a testing tool should be lenient with hand-typed URLs.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| text.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[at], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                at += 1;
            }
            (byte, None) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_take_binary_suffixes() {
        assert_eq!(parse_byte_size("0"), Some(0));
        assert_eq!(parse_byte_size("1000"), Some(1000));
        assert_eq!(parse_byte_size("64K"), Some(64 * 1024));
        assert_eq!(parse_byte_size("64M"), Some(64 << 20));
        assert_eq!(parse_byte_size("2g"), Some(2 << 30));
        for bad in ["", "M", "-1", "1.5M", "1T", "12x", "99999999999999999999G"] {
            assert_eq!(parse_byte_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn later_parameters_override_and_escapes_decode() {
        let query = Query::parse(Some("size=1K&fault=a%2Cb&size=2K&x"));
        assert_eq!(query.byte_size("size"), Ok(Some(2048)));
        assert_eq!(query.get("fault"), Some("a,b"));
        assert_eq!(query.get("x"), Some(""));
        assert_eq!(query.get("missing"), None);
        assert!(query.count("size", 0).is_err());
    }
}
