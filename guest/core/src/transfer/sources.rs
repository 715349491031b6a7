//! A transfer's sources when bytes from several may be mixed (piece
//! hashes, or a whole-file hash; see `crate::sources`): which source a new
//! request goes to, what its answers are validated against, and when a
//! source is dropped. A failure charged to a source sends its chunk to the
//! others at once, without using up the chunk's retries, while another
//! source is left; the last source left is retried as any single URL is.

use super::*;
use crate::sources::SourceReport;

/// A request is taken from its source when another would bring the rest
/// this many times sooner…
const SLOWER: u64 = 4;
/// …and sooner by at least this long.
const WORTH_CUTTING_MS: u64 = 500;
/// A request's own speed is trusted after its body has run this long.
const MEASURED_AFTER_MS: u64 = 500;
/// A source's speed is trusted once its bodies have run this long in all.
const MEASURED_MS: u64 = 100;

/// Failures in a row before a source is dropped while others remain.
const STRIKES: u32 = 3;
/// How long a source that failed waits before it is asked again.
const PAUSE_MS: u64 = 500;

#[derive(Clone, Debug)]
pub(super) struct Source {
    /// The URL as listed: a link it redirected to that fails is found
    /// again through it.
    listed: String,
    /// Its host and port: what the per-host cap counts.
    host: String,
    /// Where new requests go (where its redirects led), and its own
    /// validators, learnt from its first answer.
    object: RemoteObject,
    dropped: Option<Reason>,
    bytes: u64,
    failures: u32,
    in_row: u32,
    not_before_ms: u64,
    /// Bytes and milliseconds of its finished requests' bodies: the speed
    /// of one of its connections.
    timed_bytes: u64,
    timed_ms: u64,
}

impl Source {
    fn new(listed: &str, object: RemoteObject) -> Source {
        Source {
            listed: listed.to_string(),
            host: crate::budget::host_of(listed),
            object,
            dropped: None,
            bytes: 0,
            failures: 0,
            in_row: 0,
            not_before_ms: 0,
            timed_bytes: 0,
            timed_ms: 0,
        }
    }

    fn is_live(&self) -> bool {
        self.dropped.is_none()
    }

    /// The speed of one of its connections, in bytes per millisecond,
    /// once its bodies have run [`MEASURED_MS`] in all.
    fn rate(&self) -> Option<f64> {
        (self.timed_ms >= MEASURED_MS).then(|| self.timed_bytes as f64 / self.timed_ms as f64)
    }
}

#[derive(Clone, Debug)]
pub(super) struct SourceSet {
    list: Vec<Source>,
    /// At most this many requests to one host at once.
    per_host: usize,
}

impl SourceSet {
    /// `first` (listed as `listed_first`, already probed) and `others`,
    /// which must state `first`'s size.
    pub(super) fn new(
        first: &RemoteObject,
        listed_first: &str,
        others: &[String],
        per_host: usize,
    ) -> SourceSet {
        let mut list = vec![Source::new(listed_first, first.clone())];
        for url in others {
            let object = RemoteObject {
                url: url.clone(),
                etag: None,
                last_modified: None,
                content_disposition: None,
                ..first.clone()
            };
            list.push(Source::new(url, object));
        }
        SourceSet {
            list,
            per_host: per_host.max(1),
        }
    }

    pub(super) fn live(&self) -> usize {
        self.list.iter().filter(|s| s.is_live()).count()
    }

    /// The source a new request goes to, given how many requests each has
    /// `open`: an untried one first (in the listed order), then the one
    /// whose connections are fastest for their load; none while every
    /// source is busy (its host at the cap), resting after a failure, or
    /// dropped.
    pub(super) fn pick(&self, open: &[usize], now_ms: u64) -> Option<usize> {
        let on_host = |host: &str| -> usize {
            self.list
                .iter()
                .zip(open)
                .filter(|(s, _)| s.host == host)
                .map(|(_, n)| n)
                .sum()
        };
        let ready = |(_, s): &(usize, &Source)| {
            s.is_live() && s.not_before_ms <= now_ms && on_host(&s.host) < self.per_host
        };
        let candidates: Vec<(usize, &Source)> =
            self.list.iter().enumerate().filter(ready).collect();
        if let Some(&(i, _)) = candidates
            .iter()
            .find(|(i, s)| s.rate().is_none() && open[*i] == 0)
        {
            return Some(i);
        }
        // Not measured yet and already asked: the last resort.
        let cost = |(i, s): &(usize, &Source)| match s.rate() {
            Some(rate) => (open[*i] + 1) as f64 / rate,
            None => f64::INFINITY,
        };
        candidates
            .iter()
            .min_by(|a, b| cost(a).total_cmp(&cost(b)))
            .map(|&(i, _)| i)
    }

    /// The fastest speed one connection of a live source has shown, in
    /// bytes per millisecond.
    fn best_rate(&self) -> Option<f64> {
        self.list
            .iter()
            .filter(|s| s.is_live())
            .filter_map(Source::rate)
            .max_by(f64::total_cmp)
    }

    /// When a resting source may be asked again, if one is.
    pub(super) fn next_rest_end(&self, now_ms: u64) -> Option<u64> {
        self.list
            .iter()
            .filter(|s| s.is_live() && s.not_before_ms > now_ms)
            .map(|s| s.not_before_ms)
            .min()
    }

    pub(super) fn object(&self, source: usize) -> &RemoteObject {
        &self.list[source].object
    }

    /// Source `source` answered as asked: its validators are learnt from
    /// its first answer (later ones are held to them).
    pub(super) fn answered(&mut self, source: usize, headers: &Headers) {
        let s = &mut self.list[source];
        s.in_row = 0;
        if s.object.etag.is_none() {
            s.object.etag = headers.get("etag").map(str::to_string);
        }
        if s.object.last_modified.is_none() {
            s.object.last_modified = headers.get("last-modified").map(str::to_string);
        }
    }

    pub(super) fn took(&mut self, source: usize, bytes: u64) {
        self.list[source].bytes += bytes;
    }

    /// `bytes` of a body from `source` came `body_ms` after the one's
    /// previous bytes (summed over its requests: the speed of one of its
    /// connections); older timings weigh less and less, so a source that
    /// slows down is seen to.
    pub(super) fn timed(&mut self, source: usize, bytes: u64, body_ms: u64) {
        let s = &mut self.list[source];
        if s.timed_ms > 20_000 {
            s.timed_bytes /= 2;
            s.timed_ms /= 2;
        }
        s.timed_bytes += bytes;
        s.timed_ms += body_ms;
    }

    /// A request to `source` failed for `reason`: it rests a while, and is
    /// dropped after failing [`STRIKES`] times in a row, or at once when
    /// nobody answers there. Returns whether it was dropped.
    pub(super) fn failed(&mut self, source: usize, reason: &Reason, now_ms: u64) -> bool {
        let s = &mut self.list[source];
        s.failures += 1;
        s.in_row += 1;
        s.not_before_ms = now_ms + PAUSE_MS * u64::from(s.in_row);
        let nobody = matches!(
            reason,
            Reason::Unreachable {
                no_connection: true,
                ..
            }
        );
        if nobody || s.in_row >= STRIKES {
            s.dropped = Some(reason.clone());
            return true;
        }
        // A link it redirected to may have expired: ask the listed URL.
        s.object.url = s.listed.clone();
        false
    }

    /// `source` is not asked again.
    pub(super) fn drop_source(&mut self, source: usize, reason: Reason) {
        let s = &mut self.list[source];
        s.failures += 1;
        s.dropped = Some(reason);
    }

    /// Every source's URL as listed.
    pub(super) fn listed(&self) -> Vec<String> {
        self.list.iter().map(|s| s.listed.clone()).collect()
    }

    pub(super) fn report(&self) -> Vec<SourceReport> {
        self.list
            .iter()
            .map(|s| SourceReport {
                url: s.listed.clone(),
                bytes: s.bytes,
                failures: s.failures,
                dropped: s.dropped.as_ref().map(Reason::to_string),
            })
            .collect()
    }
}

/// Requests `open` to each source of `set`.
pub(super) fn open_per_source(open: &[Open], set: &SourceSet) -> Vec<usize> {
    let mut count = vec![0; set.list.len()];
    for o in open {
        if let Some(n) = count.get_mut(o.source) {
            *n += 1;
        }
    }
    count
}

impl Transfer {
    /// Fetches from `others` too (sources of the same file, listed after
    /// `listed_first`, which was probed), at most `per_host` requests to
    /// one host at once. Only for a file checked by a hash.
    pub(crate) fn add_sources(&mut self, listed_first: &str, others: &[String], per_host: usize) {
        if others.is_empty() {
            return;
        }
        let set = SourceSet::new(&self.object, listed_first, others, per_host);
        // Each source's redirects are followed from its listed URL.
        self.relinks = relink::Relinks::default();
        self.sources = Some(set);
    }

    /// Checks every piece against `pieces` as it completes.
    pub(crate) fn check_pieces(&mut self, pieces: std::sync::Arc<crate::pieces::PieceHashes>) {
        let size = self.object.size.unwrap_or(0);
        if let Mode::Ranged(ranged) = &mut self.mode {
            ranged.chunks.check_pieces(pieces, size);
        }
    }

    /// The piece hashes its chunks are checked against, if any.
    pub(super) fn pieces(&self) -> Option<&crate::pieces::PieceHashes> {
        match &self.mode {
            Mode::Ranged(ranged) => ranged.chunks.pieces(),
            Mode::Whole(_) => None,
        }
    }

    /// What each source gave (empty with one source).
    pub fn source_reports(&self) -> Vec<SourceReport> {
        self.sources
            .as_ref()
            .map_or_else(Vec::new, SourceSet::report)
    }

    /// Whether a failure of the request at `at` is its source's to bear:
    /// another source is left to take its chunk.
    pub(super) fn others_can_take(&self, at: usize) -> bool {
        self.sources
            .as_ref()
            .is_some_and(|set| set.list[self.open[at].source].is_live() && set.live() >= 2)
    }

    /// The request at `at` failed for `reason`, charged to its source
    /// (see [`Transfer::others_can_take`]): its chunk goes back to be
    /// asked of another at once; the source rests, or is dropped, `drop`
    /// at once when it serves something else.
    pub(super) fn source_failed(&mut self, at: usize, reason: Reason, drop: bool, now_ms: u64) {
        let open = self.open.remove(at);
        self.close(open.id, None);
        let set = self.sources.as_mut().expect("checked by others_can_take");
        let dropped = if drop {
            set.drop_source(open.source, reason.clone());
            true
        } else {
            set.failed(open.source, &reason, now_ms)
        };
        let mut requeue = vec![open.chunk];
        if dropped {
            let url = set.list[open.source].listed.clone();
            let left = set.live();
            self.events
                .push_back(Event::SourceDropped { url, reason, left });
            // Its other requests are cut: nothing more is taken from it.
            let (cut, kept) = std::mem::take(&mut self.open)
                .into_iter()
                .partition(|o| o.source == open.source);
            self.open = kept;
            for o in cut {
                self.close(o.id, None);
                requeue.push(o.chunk);
            }
        }
        if let Mode::Ranged(ranged) = &mut self.mode {
            for chunk in requeue {
                ranged.chunks.requeue(chunk);
            }
        }
    }

    /// With every connection busy, or nothing left to ask: the request
    /// whose source is much slower than the fastest one (at least
    /// [`SLOWER`] times, and [`WORTH_CUTTING_MS`] to gain on what it still
    /// has to bring) is cut, and its connection and chunk go to the
    /// fastest source with room. The slow source is not blamed: it keeps what it brought
    /// (with pieces, up to its last proven one) and its measured speed
    /// sends it less work. Returns whether a request was cut.
    pub(super) fn cut_slowest(&mut self, now_ms: u64) -> bool {
        let (Some(set), Mode::Ranged(ranged)) = (&self.sources, &self.mode) else {
            return false;
        };
        let Some(best) = set.best_rate() else {
            return false;
        };
        let gain = |o: &Open| -> Option<u64> {
            let elapsed = now_ms.saturating_sub(o.head_ms);
            if o.stage != Stage::Body || elapsed < MEASURED_AFTER_MS {
                return None;
            }
            let (_, left) = ranged.chunks.window(o.chunk);
            let slow_ms = left.saturating_mul(elapsed) / o.body_bytes.max(1);
            let fast_ms = (left as f64 / best) as u64;
            (slow_ms > fast_ms.saturating_mul(SLOWER))
                .then(|| slow_ms - fast_ms)
                .filter(|&gain| gain >= WORTH_CUTTING_MS)
        };
        let Some((at, _)) = self
            .open
            .iter()
            .enumerate()
            .filter_map(|(at, o)| gain(o).map(|g| (at, g)))
            .max_by_key(|&(_, g)| g)
        else {
            return false;
        };
        let open = self.open.remove(at);
        self.close(open.id, None);
        if let Mode::Ranged(ranged) = &mut self.mode {
            ranged.chunks.requeue(open.chunk);
        }
        true
    }

    /// The source the chunk of `done` (a request that got all it asked
    /// for) should go on from at `offset`, when it is another than
    /// `done`'s: at a piece's start only, so a piece comes from one source.
    pub(super) fn better_source(&self, done: &Open, offset: u64, now_ms: u64) -> Option<usize> {
        let set = self.sources.as_ref()?;
        let at_boundary = self
            .pieces()
            .is_none_or(|p| p.is_boundary(offset, self.object.size.unwrap_or(0)));
        if !at_boundary {
            return None;
        }
        let picked = set.pick(&open_per_source(&self.open, set), now_ms)?;
        (picked != done.source).then_some(picked)
    }

    /// Where a new request to `source` goes.
    pub(super) fn source_url(&self, source: usize) -> String {
        match &self.sources {
            Some(set) => set.object(source).url.clone(),
            None => self.object.url.clone(),
        }
    }

    /// Piece bytes `range` of the request at `at` did not match: its
    /// source is dropped (or, the last one, the transfer stops).
    pub(super) fn piece_failed(&mut self, at: usize, piece: usize, range: ByteRange) {
        let url = self.open[at].url.clone();
        let kind = self.pieces().map_or("hash", |p| p.kind.name());
        let reason = Reason::PieceMismatch {
            url,
            piece,
            range,
            kind,
        };
        if self.others_can_take(at) {
            return self.source_failed(at, reason, true, 0);
        }
        self.stop(Stop::Failed(reason.into()));
    }
}
