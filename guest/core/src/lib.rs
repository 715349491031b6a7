//! The sans-IO core of rangeget.
//!
//! Everything that *decides* lives here: how a probe response is read, how a
//! file is cut into chunks, whether a range response may be written, when a
//! saved `.part.meta` can be trusted, and when a failed chunk is retried. It
//! never touches a socket, a file or a clock: callers feed it what they saw
//! (status codes, headers, byte counts, the current time in milliseconds) and
//! act on what it returns. That is what lets the same logic run inside the
//! WASI component and be tested natively, exhaustively and fast.

pub(crate) mod answer;
pub mod batch;
pub mod batch_progress;
pub mod budget;
pub mod checksum;
pub(crate) mod client_condition;
pub(crate) mod client_range;
pub mod content_range;
pub mod cookies;
pub mod credentials;
pub mod failure;
pub mod fetch;
pub mod file_start;
pub(crate) mod fresh_starts;
pub mod headers;
pub mod input_file;
pub mod ledger;
pub mod lock;
pub mod meta;
pub mod metalink;
pub mod naming;
pub mod netrc;
pub(crate) mod object;
pub mod paths;
pub mod pieces;
pub(crate) mod plan;
pub(crate) mod probe;
pub mod proxy;
pub mod range;
pub mod rate_limit;
pub(crate) mod redirect;
pub mod report;
pub mod request;
pub(crate) mod request_size;
pub mod retry;
pub(crate) mod room;
pub(crate) mod signed_url;
pub mod size;
pub mod sources;
pub mod stream_out;
pub mod sync_group;
pub(crate) mod transfer;
pub mod unreachable_hosts;
pub(crate) mod validate;
pub mod wake;

pub use failure::{Failure, FailureKind};
pub use headers::Headers;
pub use meta::MetaFile;
pub use object::RemoteObject;
pub use range::ByteRange;
