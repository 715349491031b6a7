//! Digests a download is checked against that a source cannot forge: a
//! Metalink's piece hashes (each `length` bytes of the object, the last
//! shorter) and its whole-file hash. They are what lets bytes from several
//! servers be mixed in one file: a mirror serving another version of the
//! same size, even under the same `ETag`, is caught piece by piece.

use sha2::Digest;

/// A hash algorithm a metalink may name, weakest first, so that the
/// strongest of several is their maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashKind {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashKind {
    /// The kind a metalink's `type` names: the IANA spellings RFC 5854
    /// uses (`sha-256`) and Metalink 3's (`sha256`), in any case.
    pub fn from_name(name: &str) -> Option<HashKind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "md5" | "md-5" => Some(HashKind::Md5),
            "sha-1" | "sha1" => Some(HashKind::Sha1),
            "sha-256" | "sha256" => Some(HashKind::Sha256),
            "sha-384" | "sha384" => Some(HashKind::Sha384),
            "sha-512" | "sha512" => Some(HashKind::Sha512),
            _ => None,
        }
    }

    /// The IANA name, as RFC 5854 spells it.
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Md5 => "md5",
            HashKind::Sha1 => "sha-1",
            HashKind::Sha256 => "sha-256",
            HashKind::Sha384 => "sha-384",
            HashKind::Sha512 => "sha-512",
        }
    }

    /// The length of a digest, in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            HashKind::Md5 => 16,
            HashKind::Sha1 => 20,
            HashKind::Sha256 => 32,
            HashKind::Sha384 => 48,
            HashKind::Sha512 => 64,
        }
    }
}

/// A whole file's expected digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileHash {
    pub kind: HashKind,
    pub digest: Vec<u8>,
}

impl FileHash {
    /// The digest in lower-case hex, for messages.
    pub fn hex(&self) -> String {
        crate::checksum::hex(&self.digest)
    }
}

/// The expected digests of a file's pieces: piece `i` is bytes
/// `i * length ..` up to `length` of them (the last may be shorter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceHashes {
    pub kind: HashKind,
    /// Bytes per piece, never 0.
    pub length: u64,
    /// One per piece, in order: exactly `ceil(size / length)`.
    pub digests: Vec<Vec<u8>>,
}

/// An incremental digest of any [`HashKind`]: fed what arrives, a chunk at
/// a time, so a file is never held whole.
#[derive(Clone)]
pub struct Hasher(State);

#[derive(Clone)]
enum State {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(kind: HashKind) -> Hasher {
        Hasher(match kind {
            HashKind::Md5 => State::Md5(md5::Md5::new()),
            HashKind::Sha1 => State::Sha1(sha1::Sha1::new()),
            HashKind::Sha256 => State::Sha256(sha2::Sha256::new()),
            HashKind::Sha384 => State::Sha384(sha2::Sha384::new()),
            HashKind::Sha512 => State::Sha512(sha2::Sha512::new()),
        })
    }

    pub fn kind(&self) -> HashKind {
        match self.0 {
            State::Md5(_) => HashKind::Md5,
            State::Sha1(_) => HashKind::Sha1,
            State::Sha256(_) => HashKind::Sha256,
            State::Sha384(_) => HashKind::Sha384,
            State::Sha512(_) => HashKind::Sha512,
        }
    }

    /// Adds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            State::Md5(h) => h.update(bytes),
            State::Sha1(h) => h.update(bytes),
            State::Sha256(h) => h.update(bytes),
            State::Sha384(h) => h.update(bytes),
            State::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything added.
    pub fn finish(self) -> Vec<u8> {
        match self.0 {
            State::Md5(h) => h.finalize().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
            State::Sha384(h) => h.finalize().to_vec(),
            State::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher({})", self.kind().name())
    }
}

impl PieceHashes {
    /// The piece holding byte `offset`.
    pub fn piece_at(&self, offset: u64) -> usize {
        (offset / self.length) as usize
    }

    /// Whether `offset` is where a piece starts (or the object ends).
    pub fn is_boundary(&self, offset: u64, size: u64) -> bool {
        offset.is_multiple_of(self.length) || offset == size
    }

    /// Where the piece holding `offset` ends (exclusive), within `size`.
    pub fn piece_end(&self, offset: u64, size: u64) -> u64 {
        ((offset / self.length + 1) * self.length).min(size)
    }

    /// Whether `digest` is piece `index`'s.
    pub fn matches(&self, index: usize, digest: &[u8]) -> bool {
        self.digests.get(index).is_some_and(|d| d == digest)
    }

    /// A short fingerprint of the whole list, recorded in the meta file so
    /// a rerun continues only a download checked by the same pieces.
    pub fn fingerprint(&self) -> String {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(self.kind.name().as_bytes());
        hasher.update(&self.length.to_le_bytes());
        for digest in &self.digests {
            hasher.update(digest);
        }
        format!(
            "{}:{}:{:032x}",
            self.kind.name(),
            self.length,
            hasher.digest128()
        )
    }
}
