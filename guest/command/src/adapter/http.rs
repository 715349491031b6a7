//! Outgoing HTTP through the shared `rangeget-wasi-http` client (also used
//! by the proxy component), with its `-v` lines routed through this
//! command's report module.

pub use rangeget_wasi_http::{ready_transfers, Body, Read, Response, READ_SIZE};

pub type Client = rangeget_wasi_http::Client<VerboseLines>;
pub type PendingResponse = rangeget_wasi_http::PendingResponse<VerboseLines>;

/// `-v`: what went over the wire, on stderr.
pub struct VerboseLines;

impl rangeget_wasi_http::Trace for VerboseLines {
    fn line(message: impl FnOnce() -> String) {
        super::report::trace(message);
    }
}
