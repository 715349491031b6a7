//! What the client asked for, once checked: only paths under the origin.

use wasip2::http::types::{IncomingRequest, Method};

use rangeget_core::fetch::ClientAsk;
use rangeget_core::proxy::config::ProxyConfig;

pub struct Incoming {
    /// Where it lives at the origin.
    pub url: String,
    /// What the client asks of it.
    pub ask: ClientAsk,
}

/// Why a request is not served: the status and a line saying why.
pub enum Refusal {
    MethodNotAllowed,
    BadPath(String),
}

impl Incoming {
    pub fn read(request: &IncomingRequest, config: &ProxyConfig) -> Result<Incoming, Refusal> {
        let head_only = match request.method() {
            Method::Get => false,
            Method::Head => true,
            _ => return Err(Refusal::MethodNotAllowed),
        };
        let path = request.path_with_query().unwrap_or_default();
        let url = config
            .origin
            .upstream_url(&path)
            .map_err(|rejected| Refusal::BadPath(rejected.0))?;
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .first()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let ask = ClientAsk {
            head_only,
            range: header("range"),
            if_range: header("if-range"),
            if_none_match: header("if-none-match"),
            if_modified_since: header("if-modified-since"),
            slice: config.chunk_size,
            path,
        };
        Ok(Incoming { url, ask })
    }
}
