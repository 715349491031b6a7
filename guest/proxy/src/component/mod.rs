//! Everything that touches WASI: the exported `wasi:http/incoming-handler`
//! and the driver that feeds `rangeget-core` what the origin answers.

mod passthrough;
mod probe;
mod ranged;
mod reply;
mod sink;
mod time;

use std::sync::atomic::{AtomicBool, Ordering};

use rangeget_core::probe::TransferMode;
use rangeget_core::stream_plan::ClientRange;
use rangeget_wasi_http::Trace;
use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, Method, ResponseOutparam};

use crate::config::ProxyConfig;
use probe::Probe;
use ranged::RangedOutcome;

wasip2::http::proxy::export!(Proxy);

struct Proxy;

/// Sends origin requests; `VERBOSE=1` logs each on stderr.
pub type Client = rangeget_wasi_http::Client<OriginLog>;

/// How many times one incoming request starts over when the object
/// changes before its response has begun.
const MAX_FRESH_STARTS: u32 = 3;
/// Origin requests give up after this long without a byte.
const ORIGIN_TIMEOUT_MS: u64 = 60_000;
const CONNECT_TIMEOUT_MS: u64 = 30_000;

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub struct OriginLog;

impl Trace for OriginLog {
    fn line(message: impl FnOnce() -> String) {
        if VERBOSE.load(Ordering::Relaxed) {
            log(&message());
        }
    }
}

/// A line on stderr (which hosts usually collect per request).
pub fn log(message: &str) {
    eprintln!("rangeget-proxy: {message}");
}

/// What the client asked for, once checked.
pub struct Incoming {
    pub head_only: bool,
    /// The path and query as the client sent them, for messages.
    pub path: String,
    /// Where it lives at the origin.
    pub url: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
}

impl Guest for Proxy {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let env = wasip2::cli::environment::get_environment();
        let config = match ProxyConfig::from_vars(env) {
            Ok(config) => config,
            Err(message) => {
                log(&message);
                return reply::text(
                    out,
                    500,
                    &format!("rangeget-proxy is misconfigured: {message}"),
                );
            }
        };
        VERBOSE.store(config.verbose, Ordering::Relaxed);
        let head_only = match request.method() {
            Method::Get => false,
            Method::Head => true,
            _ => return reply::method_not_allowed(out),
        };
        let path = request.path_with_query().unwrap_or_default();
        let url = match config.origin.upstream_url(&path) {
            Ok(url) => url,
            Err(rejected) => return reply::text(out, 400, &format!("bad path {}", rejected.0)),
        };
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .first()
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let incoming = Incoming {
            head_only,
            range: header("range"),
            if_range: header("if-range"),
            path,
            url,
        };
        drop(request);
        serve(&config, &incoming, out);
    }
}

/// Probes the object, then answers by parallel ranges when the origin
/// supports them, else by passing its single response through.
fn serve(config: &ProxyConfig, incoming: &Incoming, mut out: ResponseOutparam) {
    let client = Client::new(
        vec![(
            "user-agent".into(),
            concat!("rangeget-proxy/", env!("CARGO_PKG_VERSION")).into(),
        )],
        CONNECT_TIMEOUT_MS,
        ORIGIN_TIMEOUT_MS,
    )
    // The same rule as the command's: were credentials ever configured,
    // they would go to the origin only.
    .credentials_only_for(&incoming.url);
    for _ in 0..MAX_FRESH_STARTS {
        let (object, headers) = match probe::probe(&client, &config.origin, &incoming.url) {
            Probe::Object { object, headers } => (object, headers),
            Probe::Status { status, headers } => {
                return reply::origin_status(out, status, &headers, incoming)
            }
            Probe::Failed(message) => return reply::bad_gateway(out, incoming, &message),
        };
        let TransferMode::Ranged { size } = object.transfer_mode() else {
            return passthrough::get(&client, config, incoming, out);
        };
        let wanted = ClientRange::from_request(
            incoming.range.as_deref(),
            incoming.if_range.as_deref(),
            &object,
            size,
        );
        let Some(span) = wanted.span(size) else {
            return reply::range_not_satisfiable(out, size, incoming.head_only);
        };
        let head = reply::object_head(&headers, wanted, size, span.len(), true);
        if incoming.head_only {
            return reply::head_only(out, head);
        }
        let request = ranged::RangedRequest {
            client: &client,
            config,
            object: &object,
            span,
            head,
        };
        match ranged::serve(request, out) {
            RangedOutcome::Done => return,
            RangedOutcome::ObjectChanged(returned, reason) => {
                log(&format!(
                    "{}: {reason}; starting over with the new version",
                    incoming.path
                ));
                out = returned;
            }
            RangedOutcome::RangesIgnored(returned, response) => {
                return passthrough::stream_response(returned, response, incoming)
            }
            RangedOutcome::Failed(returned, message) => {
                return reply::bad_gateway(returned, incoming, &message)
            }
        }
    }
    reply::bad_gateway(
        out,
        incoming,
        "the object kept changing while it was being fetched",
    )
}
