//! Byte ranges with inclusive ends, spelled out once.

use std::fmt;

/// The bytes `start..=end` of a file. HTTP ranges are inclusive at both ends,
/// so this type is too; `len` is therefore `end - start + 1` and an empty range
/// cannot be represented (a chunk always has at least one byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteRange {
    start: u64,
    end: u64,
}

impl ByteRange {
    /// `None` when `end < start`.
    pub fn new(start: u64, end: u64) -> Option<ByteRange> {
        (start <= end).then_some(ByteRange { start, end })
    }

    /// The range of `len` bytes starting at `start`; `None` for `len == 0` or overflow.
    pub fn from_len(start: u64, len: u64) -> Option<ByteRange> {
        let end = start.checked_add(len.checked_sub(1)?)?;
        Some(ByteRange { start, end })
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    /// Inclusive end.
    pub fn end(&self) -> u64 {
        self.end
    }

    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Always false; present because clippy expects it next to `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The part of this range after its first `skip` bytes, if any remains.
    pub fn skip(&self, skip: u64) -> Option<ByteRange> {
        ByteRange::new(self.start.checked_add(skip)?, self.end)
    }

    /// The value of a `Range` request header asking for exactly these bytes.
    pub fn header_value(&self) -> String {
        format!("bytes={}-{}", self.start, self.end)
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}-{}", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_both_ends() {
        assert_eq!(ByteRange::new(0, 0).unwrap().len(), 1);
        assert_eq!(ByteRange::new(10, 19).unwrap().len(), 10);
        assert!(ByteRange::new(5, 4).is_none());
    }

    #[test]
    fn from_len_rejects_empty_and_overflow() {
        assert_eq!(ByteRange::from_len(3, 2), ByteRange::new(3, 4));
        assert!(ByteRange::from_len(3, 0).is_none());
        assert!(ByteRange::from_len(u64::MAX, 2).is_none());
    }

    #[test]
    fn skip_leaves_the_rest_or_nothing() {
        let r = ByteRange::new(10, 19).unwrap();
        assert_eq!(r.skip(4), ByteRange::new(14, 19));
        assert_eq!(r.skip(10), None);
        assert_eq!(r.header_value(), "bytes=10-19");
    }
}
