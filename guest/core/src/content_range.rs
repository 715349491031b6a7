//! Parsing `Content-Range` response headers (RFC 9110 §14.4).

use crate::range::ByteRange;

/// What a `Content-Range` header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes START-END/TOTAL` or `bytes START-END/*`.
    Satisfied {
        range: ByteRange,
        total: Option<u64>,
    },
    /// `bytes */TOTAL`, sent with 416.
    Unsatisfied { total: u64 },
}

/// Parses a `Content-Range` value. Returns `None` for anything malformed,
/// including ranges whose end lies past the stated total; never panics.
pub fn parse(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?;
    // At least one space separates the unit from the range.
    let rest = rest.strip_prefix(' ')?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        digits => Some(parse_digits(digits)?),
    };
    if range.trim() == "*" {
        return Some(ContentRange::Unsatisfied { total: total? });
    }
    let (start, end) = range.trim().split_once('-')?;
    let range = ByteRange::new(parse_digits(start)?, parse_digits(end)?)?;
    if let Some(total) = total {
        if range.end() >= total {
            return None;
        }
    }
    Some(ContentRange::Satisfied { range, total })
}

/// Plain ASCII digits only: `u64::from_str` would also accept a leading `+`.
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_satisfied_and_unsatisfied_forms() {
        assert_eq!(
            parse("bytes 0-99/1000"),
            Some(ContentRange::Satisfied {
                range: ByteRange::new(0, 99).unwrap(),
                total: Some(1000)
            })
        );
        assert_eq!(
            parse("bytes 5-9/*"),
            Some(ContentRange::Satisfied {
                range: ByteRange::new(5, 9).unwrap(),
                total: None
            })
        );
        assert_eq!(
            parse("bytes */1000"),
            Some(ContentRange::Unsatisfied { total: 1000 })
        );
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "bytes",
            "bytes 9-5/10",
            "bytes 0-10/10",
            "bytes +1-5/10",
            "items 0-1/2",
            "bytes 0-1",
            "bytes -1-5/10",
            "bytes */*",
            "bytes 0-99999999999999999999999/1",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(s in ".*") {
            let _ = parse(&s);
        }

        #[test]
        fn round_trips_every_valid_range(start in 0u64..1<<50, len in 1u64..1<<20, extra in 0u64..1<<20) {
            let end = start + len - 1;
            let total = end + 1 + extra;
            let parsed = parse(&format!("bytes {start}-{end}/{total}"));
            prop_assert_eq!(parsed, Some(ContentRange::Satisfied {
                range: ByteRange::new(start, end).unwrap(),
                total: Some(total),
            }));
        }
    }
}
