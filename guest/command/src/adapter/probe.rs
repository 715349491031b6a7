//! The first look at the object: `rangeget_core::probe::Probe`, driven
//! through the shared exchanges.

use rangeget_core::plan::MIN_CHUNK_SIZE;
use rangeget_core::probe::{Probe, ProbeEnd};
use rangeget_core::range::ByteRange;
use rangeget_core::request::RequestId;
use rangeget_core::{Failure, RemoteObject};
use rangeget_options::Options;
use rangeget_wasi_http::Response;

use super::http::{self, Exchanges};
use super::wait::CommandHooks;

pub struct Probed {
    pub object: RemoteObject,
    /// A GET's answer whose body is worth reading, body unread: the whole
    /// object (a server that ignores ranges), or its first bytes.
    pub body: Option<(RequestId, Response)>,
    /// Which bytes `body` carries when they are the first ones, not all.
    pub first: Option<ByteRange>,
}

/// Probes `options.url`. A fresh download asks for its first bytes at once
/// (one round trip less than a HEAD and then ranges); one that continues
/// a previous run asks with a HEAD, as those bytes may be on disk already.
pub fn probe(options: &Options, continuing: bool) -> Result<Probed, Failure> {
    let mut exchanges = Exchanges::new(http::client_for(options));
    let rules = options.request_rules();
    let probe = if continuing {
        Probe::new(&options.url, rules)
    } else {
        // No more than the smallest chunk, so the answer is chunk 0's
        // first request, whatever the plan.
        let first = options
            .chunk_size
            .unwrap_or(MIN_CHUNK_SIZE)
            .min(MIN_CHUNK_SIZE);
        Probe::first_bytes(&options.url, rules, first)
    };
    match exchanges.probe(probe, &mut CommandHooks)? {
        ProbeEnd::Object {
            object,
            body,
            first,
            ..
        } => Ok(Probed {
            object,
            body: body.and_then(|id| exchanges.take_response(id).map(|r| (id, r))),
            first,
        }),
        ProbeEnd::Refused { failure, .. } | ProbeEnd::Failed(failure) => Err(failure),
    }
}
