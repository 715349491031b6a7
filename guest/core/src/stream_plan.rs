//! Streaming one object to a client in order while fetching it as parallel
//! ranges: what part of the object the client asked for, which chunk to
//! request next, and where bytes that arrive early wait for their turn.
//!
//! The proxy component answers an incoming request this way. Unlike the
//! command, it has no file to write chunks at their offsets: bytes leave in
//! order, so a chunk that finishes early is held in memory until every
//! chunk before it has gone out. [`StreamPlan`] bounds that memory by
//! never starting a chunk more than `window` chunks ahead of the one being
//! delivered.

use std::collections::VecDeque;

use crate::probe::RemoteObject;
use crate::range::ByteRange;

/// What part of the object a client's request selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRange {
    /// The whole object, answered with 200 (no `Range`, a `Range` that
    /// cannot be parsed or asks for several ranges, or a stale `If-Range`).
    Whole,
    /// One satisfiable range, answered with 206.
    Partial(ByteRange),
    /// A range that starts past the end, answered with 416.
    Unsatisfiable,
}

impl ClientRange {
    /// Reads the request's `Range` (and `If-Range`) against `object` of
    /// `size` bytes, as RFC 9110 §14.2 and §13.1.5 describe. Anything this
    /// does not understand is ignored rather than refused, as the RFC
    /// allows: the client then gets the whole object.
    pub fn from_request(
        range: Option<&str>,
        if_range: Option<&str>,
        object: &RemoteObject,
        size: u64,
    ) -> ClientRange {
        let Some(range) = range else {
            return ClientRange::Whole;
        };
        if let Some(condition) = if_range {
            if !if_range_matches(condition.trim(), object) {
                return ClientRange::Whole;
            }
        }
        parse_single_range(range, size).unwrap_or(ClientRange::Whole)
    }

    /// The bytes to send: `None` for an unsatisfiable range or an empty object.
    pub fn span(self, size: u64) -> Option<ByteRange> {
        match self {
            ClientRange::Whole => ByteRange::from_len(0, size),
            ClientRange::Partial(range) => Some(range),
            ClientRange::Unsatisfiable => None,
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ClientRange::Whole => 200,
            ClientRange::Partial(_) => 206,
            ClientRange::Unsatisfiable => 416,
        }
    }

    /// The `Content-Range` header of the answer, if it has one.
    pub fn content_range(self, size: u64) -> Option<String> {
        match self {
            ClientRange::Whole => None,
            ClientRange::Partial(range) => {
                Some(format!("bytes {}-{}/{size}", range.start(), range.end()))
            }
            ClientRange::Unsatisfiable => Some(format!("bytes */{size}")),
        }
    }
}

/// `If-Range` holds either an entity tag (compared strongly: a weak one
/// never matches) or an HTTP-date (compared exactly with Last-Modified).
fn if_range_matches(condition: &str, object: &RemoteObject) -> bool {
    if condition.starts_with('"') || condition.starts_with("W/") {
        object.strong_etag() == Some(condition) && !condition.starts_with("W/")
    } else {
        object.last_modified.as_deref() == Some(condition)
    }
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N`; `None` for anything else,
/// including several ranges (serving those whole is simpler and allowed).
fn parse_single_range(value: &str, size: u64) -> Option<ClientRange> {
    let (unit, spec) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let digits = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.is_empty() {
        // A suffix: the last N bytes.
        let suffix = digits(last)?;
        if suffix == 0 || size == 0 {
            return Some(ClientRange::Unsatisfiable);
        }
        let len = suffix.min(size);
        return Some(ClientRange::Partial(ByteRange::from_len(size - len, len)?));
    }
    let start = digits(first)?;
    let end = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    if end.is_some_and(|end| end < start) {
        return None; // invalid: ignored
    }
    if start >= size {
        return Some(ClientRange::Unsatisfiable);
    }
    let end = end.map_or(size - 1, |end| end.min(size - 1));
    Some(ClientRange::Partial(ByteRange::new(start, end)?))
}

/// A request the driver should send: these bytes of chunk `chunk`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkFetch {
    pub chunk: usize,
    /// The chunk's bytes not received yet (all of it on a first attempt).
    pub range: ByteRange,
}

/// Where one chunk inside the window stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fetch {
    InFlight,
    /// Its request failed part-way; the rest must be requested again.
    Interrupted,
    Complete,
}

#[derive(Debug)]
struct Slot {
    fetch: Fetch,
    received: u64,
    /// Received bytes not yet delivered, oldest first.
    pieces: VecDeque<Vec<u8>>,
}

/// The in-order delivery of `span` fetched as chunks of `chunk_size`, at
/// most `window` chunks started ahead of delivery.
///
/// Memory: only chunks in the window hold bytes and each holds at most its
/// own length, so [`StreamPlan::buffered_bytes`] never exceeds
/// [`StreamPlan::memory_bound`] (`window × chunk_size`). A chunk outside the
/// window is not requested at all, which is also the backpressure: a slow
/// client stops new requests instead of growing the buffer.
#[derive(Debug)]
pub struct StreamPlan {
    span: ByteRange,
    chunk_size: u64,
    chunk_count: usize,
    window: usize,
    /// The first chunk not yet delivered completely.
    head: usize,
    /// Chunks `head..head + slots.len()`: every one started so far and not
    /// yet delivered.
    slots: VecDeque<Slot>,
    buffered: u64,
}

impl StreamPlan {
    /// `chunk_size` 0 is treated as 1, `window` 0 as 1.
    pub fn new(span: ByteRange, chunk_size: u64, window: usize) -> StreamPlan {
        let chunk_size = chunk_size.max(1);
        StreamPlan {
            span,
            chunk_size,
            chunk_count: span.len().div_ceil(chunk_size) as usize,
            window: window.max(1),
            head: 0,
            slots: VecDeque::new(),
            buffered: 0,
        }
    }

    pub fn chunk_count(&self) -> usize {
        self.chunk_count
    }

    /// The bytes of chunk `chunk` (an index below [`StreamPlan::chunk_count`]).
    pub fn chunk_range(&self, chunk: usize) -> ByteRange {
        let start = self.span.start() + chunk as u64 * self.chunk_size;
        let len = self.chunk_size.min(self.span.end() - start + 1);
        ByteRange::from_len(start, len).expect("chunk lies inside the span")
    }

    /// The most bytes this plan ever holds.
    pub fn memory_bound(&self) -> u64 {
        self.window as u64 * self.chunk_size
    }

    /// Bytes received and not yet taken by [`StreamPlan::take_deliverable`].
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered
    }

    /// Every byte of the span has been taken.
    pub fn is_finished(&self) -> bool {
        self.head == self.chunk_count
    }

    /// Requests currently handed out and not yet complete or interrupted.
    pub fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.fetch == Fetch::InFlight)
            .count()
    }

    /// The next request to send, if the window allows one: an interrupted
    /// chunk's remainder first (the earliest, since delivery waits on it),
    /// else the next chunk never requested.
    pub fn next_request(&mut self) -> Option<ChunkFetch> {
        if let Some(offset) = self
            .slots
            .iter()
            .position(|s| s.fetch == Fetch::Interrupted)
        {
            let chunk = self.head + offset;
            let range = self
                .chunk_range(chunk)
                .skip(self.slots[offset].received)
                .expect("an interrupted chunk has bytes left");
            self.slots[offset].fetch = Fetch::InFlight;
            return Some(ChunkFetch { chunk, range });
        }
        let chunk = self.head + self.slots.len();
        if self.slots.len() >= self.window || chunk >= self.chunk_count {
            return None;
        }
        self.slots.push_back(Slot {
            fetch: Fetch::InFlight,
            received: 0,
            pieces: VecDeque::new(),
        });
        Some(ChunkFetch {
            chunk,
            range: self.chunk_range(chunk),
        })
    }

    /// Bytes chunk `chunk` still expects (0 when complete or unknown): the
    /// most a driver should read for it, so an overlong body's tail is
    /// left unread.
    pub fn remaining(&self, chunk: usize) -> u64 {
        match self.slot(chunk) {
            Some(slot) if slot.fetch != Fetch::Complete => {
                self.chunk_range(chunk).len() - slot.received
            }
            _ => 0,
        }
    }

    /// Records body bytes of chunk `chunk`, in the order they arrived on its
    /// connection. Bytes past the chunk's end are dropped. Returns true
    /// when the chunk is now complete.
    pub fn on_data(&mut self, chunk: usize, mut data: Vec<u8>) -> bool {
        let remaining = self.remaining(chunk);
        let Some(slot) = chunk
            .checked_sub(self.head)
            .and_then(|offset| self.slots.get_mut(offset))
        else {
            return false;
        };
        if slot.fetch != Fetch::InFlight {
            return slot.fetch == Fetch::Complete;
        }
        data.truncate(remaining as usize);
        let len = data.len() as u64;
        slot.received += len;
        if len > 0 {
            slot.pieces.push_back(data);
        }
        self.buffered += len;
        if len == remaining {
            slot.fetch = Fetch::Complete;
        }
        slot.fetch == Fetch::Complete
    }

    /// The request for chunk `chunk` ended before its last byte (an error,
    /// a cut connection): the bytes so far stay, and
    /// [`StreamPlan::next_request`] will ask for the rest.
    pub fn on_interrupted(&mut self, chunk: usize) {
        if let Some(offset) = chunk.checked_sub(self.head) {
            if let Some(slot) = self.slots.get_mut(offset) {
                if slot.fetch == Fetch::InFlight {
                    slot.fetch = Fetch::Interrupted;
                }
            }
        }
    }

    /// Whether [`StreamPlan::take_deliverable`] has bytes to give now.
    pub fn has_deliverable(&self) -> bool {
        self.slots.front().is_some_and(|s| !s.pieces.is_empty())
    }

    /// The next bytes to send to the client, in order, if any have arrived.
    /// Taking the last bytes of a chunk moves the window on.
    pub fn take_deliverable(&mut self) -> Option<Vec<u8>> {
        let piece = self.slots.front_mut()?.pieces.pop_front()?;
        self.buffered -= piece.len() as u64;
        self.retire_delivered();
        Some(piece)
    }

    /// Moves the window past chunks complete and fully taken.
    fn retire_delivered(&mut self) {
        while self
            .slots
            .front()
            .is_some_and(|s| s.fetch == Fetch::Complete && s.pieces.is_empty())
        {
            self.slots.pop_front();
            self.head += 1;
        }
    }

    /// The chunks that may be read from now, earliest first.
    pub fn in_flight_chunks(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.fetch == Fetch::InFlight)
            .map(|(offset, _)| self.head + offset)
    }

    fn slot(&self, chunk: usize) -> Option<&Slot> {
        self.slots.get(chunk.checked_sub(self.head)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn object() -> RemoteObject {
        RemoteObject {
            url: "http://h/f".into(),
            size: Some(1000),
            etag: Some("\"v1\"".into()),
            last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
            accepts_ranges: true,
            content_disposition: None,
        }
    }

    fn client(range: &str) -> ClientRange {
        ClientRange::from_request(Some(range), None, &object(), 1000)
    }

    fn partial(start: u64, end: u64) -> ClientRange {
        ClientRange::Partial(ByteRange::new(start, end).unwrap())
    }

    #[test]
    fn client_ranges_of_every_form_map_to_bytes() {
        assert_eq!(client("bytes=0-99"), partial(0, 99));
        assert_eq!(client("bytes=900-"), partial(900, 999));
        assert_eq!(client("bytes=-10"), partial(990, 999));
        assert_eq!(client("bytes=-5000"), partial(0, 999));
        assert_eq!(client("bytes=990-5000"), partial(990, 999));
        assert_eq!(client("Bytes = 5-5"), partial(5, 5));
        assert_eq!(client("bytes=1000-"), ClientRange::Unsatisfiable);
        assert_eq!(client("bytes=-0"), ClientRange::Unsatisfiable);
        assert_eq!(
            ClientRange::from_request(None, None, &object(), 1000),
            ClientRange::Whole
        );
    }

    #[test]
    fn ranges_this_does_not_serve_fall_back_to_the_whole_object() {
        for ignored in [
            "bytes=0-1,5-6",
            "bytes=9-5",
            "items=0-1",
            "bytes=a-b",
            "bytes=+1-2",
            "",
        ] {
            assert_eq!(client(ignored), ClientRange::Whole, "{ignored:?}");
        }
    }

    #[test]
    fn a_stale_if_range_means_the_whole_object() {
        let o = object();
        let with = |if_range| ClientRange::from_request(Some("bytes=0-9"), if_range, &o, 1000);
        assert_eq!(with(Some("\"v1\"")), partial(0, 9));
        assert_eq!(with(Some("Mon, 01 Jan 2024 00:00:00 GMT")), partial(0, 9));
        assert_eq!(with(Some("\"v0\"")), ClientRange::Whole);
        assert_eq!(with(Some("W/\"v1\"")), ClientRange::Whole);
    }

    #[test]
    fn answers_carry_the_right_status_and_content_range() {
        assert_eq!(
            partial(0, 99).content_range(1000).unwrap(),
            "bytes 0-99/1000"
        );
        assert_eq!(partial(0, 99).status(), 206);
        assert_eq!(
            ClientRange::Unsatisfiable.content_range(1000).unwrap(),
            "bytes */1000"
        );
        assert_eq!(ClientRange::Unsatisfiable.status(), 416);
        assert_eq!(ClientRange::Whole.span(0), None);
        assert_eq!(ClientRange::Whole.span(10), ByteRange::new(0, 9));
        // Nothing to serve from an empty object.
        assert_eq!(
            ClientRange::from_request(Some("bytes=0-"), None, &object(), 0),
            ClientRange::Unsatisfiable
        );
    }

    #[test]
    fn no_chunk_starts_beyond_the_window() {
        let mut plan = StreamPlan::new(ByteRange::new(0, 99).unwrap(), 10, 3);
        let first: Vec<usize> = std::iter::from_fn(|| plan.next_request())
            .map(|f| f.chunk)
            .collect();
        assert_eq!(first, [0, 1, 2]);
        // Chunks 1 and 2 finishing does not open the window: 0 holds it.
        assert!(plan.on_data(1, vec![0; 10]));
        assert!(plan.on_data(2, vec![0; 10]));
        assert_eq!(plan.next_request(), None);
        assert!(plan.on_data(0, vec![0; 10]));
        assert_eq!(plan.next_request(), None, "0 is not delivered yet");
        assert_eq!(plan.take_deliverable().unwrap().len(), 10);
        assert_eq!(plan.take_deliverable().unwrap().len(), 10);
        assert_eq!(plan.take_deliverable().unwrap().len(), 10);
        let next: Vec<usize> = std::iter::from_fn(|| plan.next_request())
            .map(|f| f.chunk)
            .collect();
        assert_eq!(next, [3, 4, 5]);
    }

    #[test]
    fn an_interrupted_chunk_is_asked_again_for_the_rest_only() {
        let span = ByteRange::new(100, 129).unwrap();
        let mut plan = StreamPlan::new(span, 10, 2);
        assert_eq!(
            plan.next_request().unwrap().range,
            ByteRange::new(100, 109).unwrap()
        );
        assert!(!plan.on_data(0, vec![1; 4]));
        plan.on_interrupted(0);
        assert_eq!(
            plan.next_request(),
            Some(ChunkFetch {
                chunk: 0,
                range: ByteRange::new(104, 109).unwrap()
            })
        );
        assert_eq!(plan.remaining(0), 6);
        // An overlong body is cut at the chunk's end.
        assert!(plan.on_data(0, vec![2; 50]));
        assert_eq!(plan.buffered_bytes(), 10);
        assert_eq!(plan.chunk_range(2), ByteRange::new(120, 129).unwrap());
    }

    /// What the origin would send for `offset`.
    fn byte_at(offset: u64) -> u8 {
        (offset % 251) as u8
    }

    #[derive(Clone, Debug)]
    enum Event {
        Request,
        /// Bytes for the n-th in-flight chunk (modulo their count).
        Data {
            which: usize,
            len: u64,
        },
        Interrupt {
            which: usize,
        },
        Deliver,
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            2 => Just(Event::Request),
            4 => (any::<usize>(), 1u64..40).prop_map(|(which, len)| Event::Data { which, len }),
            1 => any::<usize>().prop_map(|which| Event::Interrupt { which }),
            2 => Just(Event::Deliver),
        ]
    }

    proptest! {
        #[test]
        fn bytes_are_delivered_in_order_exactly_once_within_the_memory_bound(
            start in 0u64..1000,
            len in 1u64..400,
            chunk_size in 1u64..64,
            window in 1usize..6,
            events in proptest::collection::vec(event(), 0..400),
        ) {
            let span = ByteRange::from_len(start, len).unwrap();
            let mut plan = StreamPlan::new(span, chunk_size, window);
            // Where each in-flight request's body has got to.
            let mut next_offset: std::collections::BTreeMap<usize, u64> = Default::default();
            let mut delivered = Vec::new();
            let mut step = |plan: &mut StreamPlan, event: &Event, delivered: &mut Vec<u8>| {
                match *event {
                    Event::Request => {
                        if let Some(fetch) = plan.next_request() {
                            prop_assert!(fetch.chunk < plan.head + window, "outside the window");
                            prop_assert!(!next_offset.contains_key(&fetch.chunk), "asked twice at once");
                            prop_assert_eq!(fetch.range.end(), plan.chunk_range(fetch.chunk).end());
                            next_offset.insert(fetch.chunk, fetch.range.start());
                        }
                    }
                    Event::Data { which, len } => {
                        let chunks: Vec<usize> = next_offset.keys().copied().collect();
                        if chunks.is_empty() { return Ok(()); }
                        let chunk = chunks[which % chunks.len()];
                        let from = next_offset[&chunk];
                        // A server may send more than asked; the plan cuts it.
                        let data: Vec<u8> = (from..from + len).map(byte_at).collect();
                        if plan.on_data(chunk, data) {
                            next_offset.remove(&chunk);
                        } else {
                            next_offset.insert(chunk, from + len);
                        }
                    }
                    Event::Interrupt { which } => {
                        let chunks: Vec<usize> = next_offset.keys().copied().collect();
                        if chunks.is_empty() { return Ok(()); }
                        let chunk = chunks[which % chunks.len()];
                        plan.on_interrupted(chunk);
                        next_offset.remove(&chunk);
                    }
                    Event::Deliver => {
                        prop_assert_eq!(plan.has_deliverable(), plan.slots.front().is_some_and(|s| !s.pieces.is_empty()));
                        while let Some(piece) = plan.take_deliverable() {
                            delivered.extend(piece);
                        }
                        prop_assert!(!plan.has_deliverable());
                    }
                }
                prop_assert!(plan.buffered_bytes() <= plan.memory_bound());
                prop_assert!(plan.in_flight() <= window);
                Ok(())
            };
            for event in &events {
                step(&mut plan, event, &mut delivered)?;
            }
            // Then let everything finish, in a fixed order.
            let mut rounds = 0;
            while !plan.is_finished() {
                rounds += 1;
                prop_assert!(rounds < 100_000, "no progress");
                for event in [Event::Request, Event::Data { which: 0, len: 7 }, Event::Deliver] {
                    step(&mut plan, &event, &mut delivered)?;
                }
            }
            let expected: Vec<u8> = (span.start()..=span.end()).map(byte_at).collect();
            prop_assert_eq!(delivered, expected);
            prop_assert_eq!(plan.buffered_bytes(), 0);
            prop_assert_eq!(plan.next_request(), None);
        }
    }
}
