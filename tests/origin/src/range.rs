//! `Range` request headers (RFC 9110 §14.2), single ranges only.

/// An inclusive span of object bytes, `first..=last`, as HTTP writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteRange {
    pub(crate) first: u64,
    pub(crate) last: u64,
}

impl ByteRange {
    pub(crate) fn len(self) -> u64 {
        self.last - self.first + 1
    }

    /// `Content-Range` value for this span of an object of `size` bytes.
    pub(crate) fn content_range(self, size: u64) -> String {
        format!("bytes {}-{}/{size}", self.first, self.last)
    }
}

/// One `bytes=` range as the client wrote it, before knowing the size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    /// `bytes=a-b`
    Bounded { first: u64, last: u64 },
    /// `bytes=a-`
    From { first: u64 },
    /// `bytes=-n`: the last `n` bytes.
    Suffix { len: u64 },
}

impl RangeSpec {
    /// `None` for anything but one well-formed byte range: RFC 9110 lets a
    /// server ignore such headers and answer 200, which is what we do with
    /// multi-range requests too.
    pub(crate) fn parse(header: &str) -> Option<RangeSpec> {
        let (unit, spec) = header.trim().split_once('=')?;
        if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
            return None;
        }
        let (first, last) = spec.trim().split_once('-')?;
        let number = |text: &str| -> Option<u64> {
            let text = text.trim();
            if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            text.parse().ok()
        };
        match (first.trim().is_empty(), last.trim().is_empty()) {
            (true, true) => None,
            (true, false) => Some(RangeSpec::Suffix { len: number(last)? }),
            (false, true) => Some(RangeSpec::From {
                first: number(first)?,
            }),
            (false, false) => {
                let (first, last) = (number(first)?, number(last)?);
                (first <= last).then_some(RangeSpec::Bounded { first, last })
            }
        }
    }

    /// The bytes this asks for in an object of `size` bytes, or `None` when
    /// none of them exist (answered with 416).
    pub(crate) fn resolve(self, size: u64) -> Option<ByteRange> {
        let end = size.checked_sub(1)?;
        match self {
            RangeSpec::Bounded { first, last } => (first <= end).then(|| ByteRange {
                first,
                last: last.min(end),
            }),
            RangeSpec::From { first } => (first <= end).then_some(ByteRange { first, last: end }),
            RangeSpec::Suffix { len } => (len > 0).then(|| ByteRange {
                first: size.saturating_sub(len),
                last: end,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(header: &str, size: u64) -> Option<(u64, u64)> {
        let range = RangeSpec::parse(header).expect("parses").resolve(size)?;
        Some((range.first, range.last))
    }

    #[test]
    fn the_three_forms_resolve_against_the_size() {
        assert_eq!(resolve("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(resolve("bytes=900-2000", 1000), Some((900, 999)));
        assert_eq!(resolve("bytes=990-", 1000), Some((990, 999)));
        assert_eq!(resolve("bytes=-10", 1000), Some((990, 999)));
        assert_eq!(resolve("bytes=-5000", 1000), Some((0, 999)));
        assert_eq!(resolve("Bytes = 1-1", 1000), Some((1, 1)));
    }

    #[test]
    fn ranges_outside_the_object_are_unsatisfiable() {
        assert_eq!(resolve("bytes=1000-", 1000), None);
        assert_eq!(resolve("bytes=1000-1001", 1000), None);
        assert_eq!(resolve("bytes=-0", 1000), None);
        assert_eq!(resolve("bytes=0-", 0), None);
        assert_eq!(resolve("bytes=-1", 0), None);
    }

    #[test]
    fn malformed_and_multiple_ranges_are_ignored() {
        for header in [
            "bytes=5-1",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=-",
            "bytes=a-b",
            "0-1",
        ] {
            assert_eq!(RangeSpec::parse(header), None, "{header}");
        }
    }
}
