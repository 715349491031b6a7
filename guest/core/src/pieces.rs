//! Digests a download is checked against that a source cannot forge: a
//! Metalink's piece hashes (each `length` bytes of the object, the last
//! shorter) and its whole-file hash. They are what lets bytes from several
//! servers be mixed in one file: a mirror serving another version of the
//! same size, even under the same `ETag`, is caught piece by piece.

use digest::DynDigest;

/// The hash functions Metalink 4 names (RFC 5854 §4.2.3, the IANA
/// "Hash Function Textual Names" registry) that rangeget computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HashKind {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashKind {
    /// Reads a Metalink `type` ("sha-256"; also "sha256"), any case.
    pub fn parse(name: &str) -> Option<HashKind> {
        Some(match name.to_ascii_lowercase().as_str() {
            "md5" => HashKind::Md5,
            "sha-1" | "sha1" => HashKind::Sha1,
            "sha-256" | "sha256" => HashKind::Sha256,
            "sha-384" | "sha384" => HashKind::Sha384,
            "sha-512" | "sha512" => HashKind::Sha512,
            _ => return None,
        })
    }

    /// The spelling Metalink and messages use.
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Md5 => "md5",
            HashKind::Sha1 => "sha-1",
            HashKind::Sha256 => "sha-256",
            HashKind::Sha384 => "sha-384",
            HashKind::Sha512 => "sha-512",
        }
    }

    /// Bytes in a digest.
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

/// An incremental digest of one [`HashKind`].
pub struct Hasher {
    kind: HashKind,
    digest: Box<dyn DynDigest>,
}

impl Hasher {
    pub fn new(kind: HashKind) -> Hasher {
        let digest: Box<dyn DynDigest> = match kind {
            HashKind::Md5 => Box::new(md5::Md5::default()),
            HashKind::Sha1 => Box::new(sha1::Sha1::default()),
            HashKind::Sha256 => Box::new(sha2::Sha256::default()),
            HashKind::Sha384 => Box::new(sha2::Sha384::default()),
            HashKind::Sha512 => Box::new(sha2::Sha512::default()),
        };
        Hasher { kind, digest }
    }

    pub fn kind(&self) -> HashKind {
        self.kind
    }

    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    pub fn finish(self) -> Vec<u8> {
        self.digest.finalize().into_vec()
    }
}

impl Clone for Hasher {
    fn clone(&self) -> Hasher {
        Hasher {
            kind: self.kind,
            digest: self.digest.box_clone(),
        }
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

/// Piece hashes: the digest of every `length` bytes of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceHashes {
    pub kind: HashKind,
    pub length: u64,
    pub digests: Vec<Vec<u8>>,
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
