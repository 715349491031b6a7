//! Several sources for one file: mirrors listed on one line of an `-i`
//! list, or a Metalink's URLs. Mixing sources is where downloaders corrupt
//! files (a mirror serving another version of the same size), so how they
//! may be mixed follows from what can prove their bytes:
//!
//! - **Piece hashes**: chunks go to every source at once; each piece is
//!   checked as it completes, and a source whose piece does not match is
//!   dropped, named, and the piece fetched again from another.
//! - **Only a whole-file hash**: sources are mixed; if the file does not
//!   match at the end, no piece can say which source was wrong, so the
//!   download starts over from one source, and that source's file must
//!   match.
//! - **No hash**: one source at a time. When it fails, the next one takes
//!   over from byte 0: nothing proves two servers' bytes belong to one file.
//!
//! Every source must state the same size (the Metalink's, or the first
//! answer's); validators (`ETag`, `Last-Modified`) are each source's own.

use std::sync::Arc;

use serde::Serialize;

use crate::pieces::PieceHashes;

/// The other places a file may come from, and what proves their bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mirrors {
    /// URLs of the same file besides the spec's own, in the order to
    /// prefer them.
    pub urls: Vec<String>,
    /// The size every source must state (a Metalink's `<size>`).
    pub size: Option<u64>,
    /// Every piece is checked against these as it completes.
    pub pieces: Option<Arc<PieceHashes>>,
    /// At most this many requests to one host at once
    /// (`--max-connections-per-host`).
    pub per_host: Option<usize>,
}

/// How a file's sources may be used together (see the module's text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mixing {
    Pieces,
    WholeHash,
    OneAtATime,
}

impl Mirrors {
    /// How sources are used, given whether the whole file's hash is known.
    pub fn mixing(&self, whole_hash: bool) -> Mixing {
        match (&self.pieces, whole_hash) {
            (Some(_), _) => Mixing::Pieces,
            (None, true) => Mixing::WholeHash,
            (None, false) => Mixing::OneAtATime,
        }
    }
}

/// What each source of a failed file gave (see [`SourceReport`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SourceReports(pub Vec<SourceReport>);

/// What one source gave, for `--json` and the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SourceReport {
    pub url: String,
    /// Body bytes received from it (those of a piece that failed included).
    pub bytes: u64,
    /// Requests to it that failed.
    pub failures: u32,
    /// Why it was dropped, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
}
