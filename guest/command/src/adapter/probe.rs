//! The first look at the object: `rangeget_core::probe::Probe`, driven
//! through the shared exchanges.

use rangeget_core::probe::{Probe, ProbeEnd};
use rangeget_core::request::RequestId;
use rangeget_core::{Failure, RemoteObject};
use rangeget_options::Options;
use rangeget_wasi_http::Response;

use super::http::{self, Exchanges};
use super::wait::CommandHooks;

pub struct Probed {
    pub object: RemoteObject,
    /// When the probe was a GET answered with the whole object: that
    /// response, body unread, for a download that streams it.
    pub body: Option<(RequestId, Response)>,
}

pub fn probe(options: &Options) -> Result<Probed, Failure> {
    let mut exchanges = Exchanges::new(http::client_for(options));
    let probe = Probe::new(&options.url, options.request_rules());
    match exchanges.probe(probe, &mut CommandHooks)? {
        ProbeEnd::Object { object, body, .. } => Ok(Probed {
            object,
            body: body.and_then(|id| exchanges.take_response(id).map(|r| (id, r))),
        }),
        ProbeEnd::Refused { failure, .. } | ProbeEnd::Failed(failure) => Err(failure),
    }
}
