//! The bytes an object is made of, and the validators derived from them.
//!
//! Content is a pure function of `(name, version, offset)`: any slice can be
//! produced on its own, so the server never holds a whole object in memory and
//! a test can compute what a downloaded file must contain. The size is not an
//! input, so a shorter object is a prefix of a longer one with the same name.
//!
//! Generation is memcpy, not arithmetic: each version has a 128 KiB pool of
//! pseudo-random words, and every 4 KiB segment of the object is a copy of
//! the pool starting at a pseudo-random, per-segment position. Workspace
//! members build unoptimised in tests, where a per-word generator manages a
//! few hundred MB/s; copying runs at memory speed at any optimisation level.
//! Segments never repeat at a regular period, so a chunk written at the
//! wrong offset still shows up as a mismatch.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::objects::lock;

/// `Last-Modified` of version 0 of every object (2023-11-14T22:13:20Z); each
/// later version is one second newer, so dates order like versions.
pub const LAST_MODIFIED_BASE_SECS: u64 = 1_700_000_000;

/// Pool size: fits in L2 cache, and building one costs well under a
/// millisecond even unoptimised.
const POOL_BYTES: usize = 128 * 1024;
const SEGMENT_BYTES: usize = 4 * 1024;
/// Segments start on word boundaries of the pool.
const SEGMENT_STARTS: u64 = ((POOL_BYTES - SEGMENT_BYTES) / 8 + 1) as u64;
/// Keeps segment-start hashes unrelated to pool-word hashes.
const SEGMENT_SALT: u64 = 0xA5A5_5A5A_C3C3_3C3C;
/// Pools kept for reuse by [`Content::of`]; tests juggle a few objects.
const RECENT_POOLS: usize = 16;

/// The exact bytes the origin serves for object `name` at `version` (starting
/// at 0) when it is `size` bytes long: what a downloaded file must equal.
pub fn expected_content(name: &str, version: u64, size: u64) -> Vec<u8> {
    let len = usize::try_from(size).expect("object size fits in memory");
    let mut bytes = vec![0; len];
    fill_content(name, version, 0, &mut bytes);
    bytes
}

/// Fills `buf` with the content of object `name` at `version` from byte
/// `offset` on.
pub fn fill_content(name: &str, version: u64, offset: u64, buf: &mut [u8]) {
    Content::of(name, version).fill(offset, buf);
}

/// The exact bytes `/twin/{name}` serves for object `name` at `version` when
/// it is `size` bytes long: those of [`expected_content`] before
/// [`twin_split`], and their bitwise complement from there on, so every
/// byte of the second half differs.
pub fn expected_twin_content(name: &str, version: u64, size: u64) -> Vec<u8> {
    let mut bytes = expected_content(name, version, size);
    let split = usize::try_from(twin_split(size)).expect("object size fits in memory");
    complement(&mut bytes[split..]);
    bytes
}

/// The first offset at which `/twin/{name}` differs from `/o/{name}` for an
/// object of `size` bytes: `size / 2`.
pub fn twin_split(size: u64) -> u64 {
    size / 2
}

fn complement(bytes: &mut [u8]) {
    for byte in bytes {
        *byte = !*byte;
    }
}

/// What an object body is made of: the object's content, or its twin
/// (the same content up to `split`, complemented from there on).
pub(crate) struct Served {
    content: Arc<Content>,
    twin_split: Option<u64>,
}

impl Served {
    pub(crate) fn object(content: Arc<Content>) -> Self {
        Served {
            content,
            twin_split: None,
        }
    }

    pub(crate) fn twin(content: Arc<Content>, size: u64) -> Self {
        Served {
            content,
            twin_split: Some(twin_split(size)),
        }
    }

    pub(crate) fn fill(&self, offset: u64, buf: &mut [u8]) {
        self.content.fill(offset, buf);
        if let Some(split) = self.twin_split {
            let end = offset + buf.len() as u64;
            if end > split {
                let from = split.saturating_sub(offset) as usize;
                complement(&mut buf[from..]);
            }
        }
    }
}

/// One version of one object's content.
pub(crate) struct Content {
    seed: u64,
    pool: Box<[u8]>,
}

impl Content {
    /// The content of `name` at `version`, shared with recent callers so
    /// a pool is built once per version, not once per request.
    pub(crate) fn of(name: &str, version: u64) -> Arc<Content> {
        static RECENT: Mutex<Vec<Arc<Content>>> = Mutex::new(Vec::new());
        let seed = splitmix64(fnv1a(name.as_bytes()) ^ splitmix64(version));
        let mut recent = lock(&RECENT);
        if let Some(at) = recent.iter().position(|content| content.seed == seed) {
            let content = recent.remove(at);
            recent.push(Arc::clone(&content));
            return content;
        }
        let content = Arc::new(Content::build(seed));
        if recent.len() == RECENT_POOLS {
            recent.remove(0);
        }
        recent.push(Arc::clone(&content));
        content
    }

    fn build(seed: u64) -> Content {
        let mut pool = vec![0; POOL_BYTES].into_boxed_slice();
        for (index, word) in (0u64..).zip(pool.chunks_exact_mut(8)) {
            word.copy_from_slice(&splitmix64(seed ^ index).to_le_bytes());
        }
        Content { seed, pool }
    }

    pub(crate) fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut offset = offset;
        let mut rest = buf;
        while !rest.is_empty() {
            let segment = offset / SEGMENT_BYTES as u64;
            let within = (offset % SEGMENT_BYTES as u64) as usize;
            let len = (SEGMENT_BYTES - within).min(rest.len());
            let start = self.segment_start(segment) + within;
            let (head, tail) = rest.split_at_mut(len);
            head.copy_from_slice(&self.pool[start..start + len]);
            rest = tail;
            offset += len as u64;
        }
    }

    /// Byte offset in the pool where `segment` is copied from.
    fn segment_start(&self, segment: u64) -> usize {
        let hash = splitmix64(self.seed ^ SEGMENT_SALT ^ segment);
        (hash % SEGMENT_STARTS) as usize * 8
    }
}

/// Strong entity tag for one version of an object at one size, quotes
/// included, e.g. `"3f2a9c0d11e4b7a8"`.
pub(crate) fn entity_tag(name: &str, version: u64, size: u64) -> String {
    let seed = Content::of(name, version).seed;
    format!(
        "\"{:016x}\"",
        splitmix64(seed ^ splitmix64(size ^ 0x5157_e7a9))
    )
}

/// `Last-Modified` of `version`, as an HTTP-date.
pub(crate) fn last_modified(version: u64) -> String {
    let when = UNIX_EPOCH + Duration::from_secs(LAST_MODIFIED_BASE_SECS + version);
    httpdate::fmt_http_date(when)
}

/// An HTTP-date `seconds` from now, for `Retry-After`.
pub(crate) fn http_date_in(seconds: u64) -> String {
    httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(seconds))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_slice_matches_the_whole() {
        let whole = expected_content("a.bin", 3, 1000);
        for offset in [0usize, 1, 7, 8, 9, 15, 500, 993] {
            for len in [0usize, 1, 3, 7, 8, 9, 17, 1000 - offset] {
                let len = len.min(1000 - offset);
                let mut slice = vec![0; len];
                fill_content("a.bin", 3, offset as u64, &mut slice);
                assert_eq!(
                    slice,
                    whole[offset..offset + len],
                    "offset {offset} len {len}"
                );
            }
        }
    }

    #[test]
    fn a_twin_is_the_object_up_to_half_way_and_differs_in_every_byte_after() {
        for size in [0u64, 1, 2, 7, 1000, 9 * 1024 + 3] {
            let object = expected_content("t", 2, size);
            let twin = expected_twin_content("t", 2, size);
            let split = twin_split(size) as usize;
            assert_eq!(twin.len(), object.len());
            assert_eq!(twin[..split], object[..split], "size {size}");
            assert!(
                twin[split..]
                    .iter()
                    .zip(&object[split..])
                    .all(|(a, b)| a != b),
                "size {size}"
            );
            let served = Served::twin(Content::of("t", 2), size);
            for offset in [0, split.saturating_sub(3), split, split + 1] {
                let offset = offset.min(size as usize);
                let mut slice = vec![0; size as usize - offset];
                served.fill(offset as u64, &mut slice);
                assert_eq!(slice, twin[offset..], "size {size} offset {offset}");
            }
        }
    }

    #[test]
    fn segments_follow_no_short_period() {
        let content = expected_content("p", 0, 64 * 1024 * 1024);
        let first = &content[..SEGMENT_BYTES];
        let repeats = content
            .chunks_exact(SEGMENT_BYTES)
            .skip(1)
            .filter(|segment| *segment == first)
            .count();
        assert!(
            repeats < 8,
            "{repeats} repeats of the first segment in 64 MiB"
        );
    }

    #[test]
    fn versions_and_names_give_different_content_and_tags() {
        let base = expected_content("a", 0, 64);
        assert_ne!(base, expected_content("a", 1, 64));
        assert_ne!(base, expected_content("b", 0, 64));
        assert_ne!(entity_tag("a", 0, 64), entity_tag("a", 1, 64));
        assert_ne!(entity_tag("a", 0, 64), entity_tag("a", 0, 65));
        let parse = |version| httpdate::parse_http_date(&last_modified(version)).unwrap();
        assert_eq!(
            parse(1).duration_since(parse(0)).unwrap(),
            Duration::from_secs(1)
        );
    }
}
