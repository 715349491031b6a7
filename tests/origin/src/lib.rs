//! A deterministic HTTP/1.1 origin for testing `rangeget`, which misbehaves
//! on request.
//!
//! Integration tests start an [`Origin`] on a free loopback port, run the
//! real downloader against it and compare the file with
//! [`expected_content`]; people run the `rangeget-test-origin` binary to
//! try the downloader by hand. Everything about a scenario is in the URL:
//!
//! - `GET /meta4/{name}.meta4?size=N&piece=L&src=URL&src=URL`: a Metalink
//!   of object `name` listing the `src` URLs (see `routes::Route::Metalink`).
//! - `GET|HEAD /o/{name}?size=64M&fault=truncate,throttle&rate=4M`: object
//!   `name` (the rest of the path, raw) of `size` bytes (default 1M; plain
//!   bytes or K/M/G binary suffixes) with range support, a strong `ETag` and
//!   `Last-Modified`, and the faults listed in `fault=` (each one and its
//!   parameters is documented on the variants of `faults::Fault`).
//!   `variant=ID` makes another object of the same path (content
//!   [`variant_name`]), which `etag=` can give the same `ETag`.
//! - `GET|HEAD /twin/{name}?…`: a mirror holding another version of the
//!   file. It answers exactly as `/o/{name}` with the same query does (same
//!   size, `ETag`, `Last-Modified`, Range, If-Range, faults, `rate=`), but
//!   its bytes from [`twin_split`] (`size / 2`) on are the complement of the
//!   object's ([`expected_twin_content`]). Its body bytes are also counted
//!   apart ([`Origin::twin_body_bytes_sent`], `twin_body_bytes_sent` in
//!   `/_stats`).
//! - `/r/{n}/{name}` and `/ra/{n}/{name}`: redirect chains (relative and
//!   absolute) ending at `/o/{name}`; `/loop/{name}` redirects to itself.
//! - `/presign/{ms}/{name}`: a redirect to a link to `name` signed for `ms`
//!   milliseconds (then 403).
//! - `GET /_stats` and `POST /_replace/{name}`: counters and replacement.
//!
//! [`metalink`] writes a Metalink 4 document (RFC 5854) for an object, with
//! SHA-256 digests of the whole and of its pieces, for multi-source tests.
//!
//! [`Socks5Proxy`] is a SOCKS5 proxy on loopback to put in between.
//!
//! Content is generated on the fly from `(name, version, offset)`, so
//! objects of any size cost no memory and serving is not the bottleneck.

mod body;
mod connection;
mod content;
mod counters;
mod faults;
mod handler;
mod metalink;
mod object_response;
mod objects;
mod pacing;
mod query;
mod range;
mod routes;
mod server;
mod socks;

pub use content::{
    expected_content, expected_twin_content, fill_content, twin_split, LAST_MODIFIED_BASE_SECS,
};
pub use metalink::{metalink, METALINK_NAMESPACE};
pub use object_response::variant_name;
pub use query::parse_byte_size;
pub use server::Origin;
pub use socks::Socks5Proxy;
