//! Answering one request: the object is probed, then fetched with the
//! core's transfer engine — validated ranges delivered in order, or one
//! stream where the origin has no usable ranges — and streamed to the
//! client as it arrives. The response head goes out only once an origin
//! answer has passed validation, so an object that changes before then is
//! simply fetched again; after it, a change aborts the response (the body
//! is dropped unfinished) rather than splice two versions together.

use rangeget_core::client_condition::not_modified;
use rangeget_core::client_range::ClientRange;
use rangeget_core::failure::Reason;
use rangeget_core::fresh_starts::{AfterStop, FreshStarts};
use rangeget_core::object::TransferMode;
use rangeget_core::probe::{Probe, ProbeEnd};
use rangeget_core::request::{RequestId, RequestRules};
use rangeget_core::retry::RetryPolicy;
use rangeget_core::transfer::{End, Settings, Stop, Transfer};
use rangeget_core::{Failure, Headers, RemoteObject};
use rangeget_wasi_http::{clock, Hooks};
use wasip2::http::types::ResponseOutparam;
use wasip2::random::random::get_random_u64;

use super::incoming::Incoming;
use super::log::{log, OriginLog, ProxyHooks};
use super::reply;
use super::sink::{ResponseHead, Sink};
use crate::config::ProxyConfig;

type Exchanges = rangeget_wasi_http::Exchanges<OriginLog>;
type Client = rangeget_wasi_http::Client<OriginLog>;

/// Origin requests give up after this long without a byte.
const ORIGIN_TIMEOUT_MS: u64 = 60_000;
const CONNECT_TIMEOUT_MS: u64 = 30_000;

/// How a streamed answer ended.
enum Streamed {
    /// Answered: completely, or aborted mid-body (already logged).
    Done,
    /// Nothing was sent yet: the caller answers `out` another way.
    NotStarted(ResponseOutparam, Stop),
}

pub fn serve(config: &ProxyConfig, incoming: &Incoming, mut out: ResponseOutparam) {
    let agent = concat!("rangeget-proxy/", env!("CARGO_PKG_VERSION"));
    let client = Client::new(
        vec![("user-agent".into(), agent.into())],
        CONNECT_TIMEOUT_MS,
        ORIGIN_TIMEOUT_MS,
    )
    // The same rule as the command's: were credentials ever configured,
    // they would go to the origin only.
    .credentials_only_for(&incoming.url, false);
    let mut exchanges = Exchanges::new(client);
    // Redirects are followed only while they stay under the prefix.
    let rules = RequestRules {
        scope: Some(config.origin.display()),
        ..RequestRules::default()
    };
    // A change before the response began starts it over.
    let mut starts = FreshStarts::default();
    loop {
        // An error status is the client's to see at once, not retried.
        let probe_rules = RequestRules {
            retry: RetryPolicy {
                max_retries: 0,
                ..rules.retry
            },
            ..rules.clone()
        };
        // One byte rather than a HEAD: its Content-Range states the size
        // the range answers will agree with (some servers' HEAD states
        // another), and it proves ranges work.
        let probe = Probe::first_bytes(&incoming.url, probe_rules, 1);
        let (object, headers, body) = match exchanges.probe(probe, &mut ProxyHooks) {
            Ok(ProbeEnd::Object {
                object,
                headers,
                body,
                ..
            }) => (object, headers, body),
            Ok(ProbeEnd::Refused {
                status, headers, ..
            }) => return reply::origin_status(out, status, &headers, incoming),
            Ok(ProbeEnd::Failed(failure)) | Err(failure) => {
                return reply::bad_gateway(out, incoming, &failure)
            }
            // The proxy's probe sends no condition of its own.
            Ok(ProbeEnd::NotModified) => {
                let unasked = Reason::Status {
                    url: incoming.url.clone(),
                    status: 304,
                };
                return reply::bad_gateway(out, incoming, &unasked.into());
            }
        };
        let settings = Settings {
            connections: config.connections,
            rules: rules.clone(),
            durable: false,
            seed: get_random_u64(),
            ..Settings::default()
        };
        // The client's copy is current: a 304, as a CDN edge answers.
        if not_modified(
            incoming.if_none_match.as_deref(),
            incoming.if_modified_since.as_deref(),
            &object,
        ) {
            if let Some(id) = body {
                exchanges.close(id);
            }
            return reply::not_modified(out, &headers);
        }
        let TransferMode::Ranged { size } = object.transfer_mode() else {
            return whole(
                config,
                incoming,
                out,
                object,
                &headers,
                body,
                settings,
                &mut exchanges,
            );
        };
        // A first-byte GET that got the whole object: ranges work after all
        // (the probe said so), so that answer is not needed.
        if let Some(id) = body {
            exchanges.close(id);
        }
        let wanted = ClientRange::from_request(
            incoming.range.as_deref(),
            incoming.if_range.as_deref(),
            &object,
            size,
        );
        let Some(span) = wanted.span(size) else {
            return reply::range_not_satisfiable(out, size, incoming.head_only);
        };
        let head = reply::object_head(&headers, wanted, size, Some(span.len()), true);
        if incoming.head_only {
            return reply::head_only(out, head);
        }
        // Whole CHUNK_SIZE slices, whatever the client's range: a cache in
        // front of the origin can reuse them.
        let transfer = Transfer::in_order_slices(
            object,
            span,
            config.chunk_size,
            size,
            settings.clone(),
            clock::now_ms(),
        );
        let (returned, stop) = match stream(transfer, head, &mut exchanges, out) {
            Streamed::Done => return,
            Streamed::NotStarted(returned, stop) => (returned, stop),
        };
        // Nothing was sent: the client has nothing to take back.
        match starts.after_stop(&incoming.url, stop, true) {
            AfterStop::StartOver(notice) => {
                log(&format!("{}: {notice}", incoming.path));
                out = returned;
            }
            AfterStop::OneStreamFrom(id) => {
                log(&format!(
                    "{}: the origin ignored a range; passing its whole answer on",
                    incoming.path
                ));
                let object = RemoteObject {
                    accepts_ranges: false,
                    ..rangeget_core::RemoteObject::from_headers(&incoming.url, &headers)
                };
                return whole(
                    config,
                    incoming,
                    returned,
                    object,
                    &headers,
                    Some(id),
                    settings,
                    &mut exchanges,
                );
            }
            AfterStop::Fail(failure) => return reply::bad_gateway(returned, incoming, &failure),
        }
    }
}

/// Answers with the whole object in one stream (an origin without usable
/// ranges), the client's `Range` ignored (a 200 with the whole object is a
/// valid answer to it). `adopted` is an answer of the origin already in
/// hand whose body is the object.
#[allow(clippy::too_many_arguments)]
fn whole(
    config: &ProxyConfig,
    incoming: &Incoming,
    out: ResponseOutparam,
    object: RemoteObject,
    headers: &Headers,
    adopted: Option<RequestId>,
    settings: Settings,
    exchanges: &mut Exchanges,
) {
    // Without a length, the host sends the body chunked.
    let head = reply::object_head(headers, ClientRange::Whole, 0, object.size, false);
    if incoming.head_only {
        return reply::head_only(out, head);
    }
    let window = config.chunk_size * config.connections as u64;
    let mut transfer = Transfer::whole(object, Some(window), adopted, settings, clock::now_ms());
    if let Some(id) = adopted {
        exchanges.refeed_head(id, &mut transfer);
    }
    if let Streamed::NotStarted(out, stop) = stream(transfer, head, exchanges, out) {
        reply::bad_gateway(out, incoming, &stop.into());
    }
}

/// Runs `transfer` (see the engine's contract) and streams what it
/// delivers: the head goes out once an origin answer passed validation.
fn stream(
    mut transfer: Transfer,
    head: ResponseHead,
    exchanges: &mut Exchanges,
    out: ResponseOutparam,
) -> Streamed {
    let mut out = Some(out);
    let mut sink: Option<Sink> = None;
    loop {
        // In order, nothing is written locally: no command concerns this side.
        exchanges.follow(&mut transfer, |_, _| {});
        while let Some(event) = transfer.poll_event() {
            ProxyHooks.event(event);
        }
        if let Some(open) = &mut sink {
            if open.pump(|_| transfer.poll_delivery()).is_err() {
                log("the client went away; the answer stops");
                return Streamed::Done;
            }
        }
        if let Some(end) = transfer.poll_end() {
            return match (end, out) {
                (End::Finished, _) => {
                    if let Some(sink) = sink {
                        sink.finish();
                    }
                    Streamed::Done
                }
                (End::Stopped { stop, .. }, Some(out)) => Streamed::NotStarted(out, stop),
                (End::Stopped { stop, .. }, None) => {
                    log(&format!(
                        "aborting the answer mid-body: {}",
                        describe(&stop)
                    ));
                    drop(sink);
                    Streamed::Done
                }
            };
        }
        if sink.is_none() && transfer.validated() {
            match Sink::open(out.take().expect("the head is sent once"), &head) {
                Some(opened) => sink = Some(opened),
                None => return Streamed::Done,
            }
            continue;
        }
        let timer = transfer.poll_timeout(clock::now_ms()).map(clock::wake_at);
        let client = sink
            .as_ref()
            .filter(|s| s.has_pending() || transfer.has_delivery())
            .map(Sink::pollable);
        let extra: Vec<_> = timer.iter().chain(client).collect();
        for id in exchanges.wait(Some(&transfer), &extra) {
            let _ = exchanges.service(id, &mut transfer, &mut |_, _| Ok::<(), Failure>(()));
        }
        transfer.handle_timeout(clock::now_ms());
    }
}

fn describe(stop: &Stop) -> String {
    match stop {
        Stop::Changed(change) => format!("the object changed at the origin ({change})"),
        Stop::RangesIgnored { .. } => "the origin stopped serving ranges".into(),
        Stop::Failed(failure) => failure.to_string(),
    }
}
