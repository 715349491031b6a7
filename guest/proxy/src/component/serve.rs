//! Answering one request: the fetch's pump. The core's fetch probes the
//! origin, decides the answer, and delivers the object in order from
//! validated ranges (or one stream where the origin has no usable
//! ranges); this moves its requests over `wasi:http` and what it delivers
//! to the client. The answer's head goes out only once an origin answer
//! has passed validation, so an object that changes before then is simply
//! fetched again; after it, a change aborts the response (the body is
//! dropped unfinished) rather than splice two versions together.

use rangeget_core::fetch::Settings;
use rangeget_core::fetch::{ClientAsk, Destination, Ending, Fetch, Input, Output, Spec};
use rangeget_core::request::{Event, RequestRules};
use rangeget_core::Failure;
use rangeget_wasi_http::{clock, Trace};
use wasip2::http::types::ResponseOutparam;
use wasip2::random::random::get_random_u64;

use super::incoming::Incoming;
use super::log::{log, OriginLog};
use super::reply;
use super::sink::Sink;
use rangeget_core::proxy::config::ProxyConfig;

type Exchanges = rangeget_wasi_http::Exchanges<OriginLog>;
type Client = rangeget_wasi_http::Client<OriginLog>;

/// Origin requests give up after this long without a byte.
const ORIGIN_TIMEOUT_MS: u64 = 60_000;
const CONNECT_TIMEOUT_MS: u64 = 30_000;

/// Where the answer stands.
enum Answering {
    /// Nothing sent yet.
    Waiting(ResponseOutparam),
    /// The head went out; the body is being written.
    Body(Sink),
    /// Answered, or the client went away.
    Done,
}

pub fn serve(config: &ProxyConfig, incoming: &Incoming, out: ResponseOutparam) {
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
    let mut fetch = Fetch::new(
        spec(config, incoming),
        Destination::Client(ask(config, incoming)),
    );
    let mut answering = Answering::Waiting(out);
    loop {
        match exchanges.poll(&mut fetch) {
            Output::Event(event @ Event::Timing { .. }) => OriginLog::line(|| event.to_string()),
            Output::Event(event) => log(&event.to_string()),
            Output::Notice(notice) => log(&notice.to_string()),
            Output::Respond(answer) => {
                let Answering::Waiting(out) = answering else {
                    unreachable!("one answer per request");
                };
                answering = match reply::answer(out, answer) {
                    Some(sink) => Answering::Body(sink),
                    None => Answering::Done,
                };
            }
            Output::Deliver(piece) => match &mut answering {
                Answering::Body(sink) => {
                    sink.give(piece);
                    if pump(sink, &mut fetch).is_err() {
                        return log("the client went away; the answer stops");
                    }
                }
                _ => return,
            },
            Output::End(ending) => return end(ending, answering, incoming),
            Output::Wait(deadline) => {
                let timer = deadline.map(clock::wake_at);
                let client = match &answering {
                    Answering::Body(sink) if sink.has_pending() => Some(sink.pollable()),
                    _ => None,
                };
                let extra: Vec<_> = timer.iter().chain(client).collect();
                for id in exchanges.wait(&fetch, &extra) {
                    let _ = exchanges.service(id, &mut fetch, &mut |_, _| Ok::<(), Failure>(()));
                }
                if let Answering::Body(sink) = &mut answering {
                    if pump(sink, &mut fetch).is_err() {
                        return log("the client went away; the answer stops");
                    }
                }
            }
            other => unreachable!("a client's fetch is asked {other:?}"),
        }
    }
}

/// Writes what the client takes now; once the last delivery is all
/// written, the fetch may deliver the next.
fn pump(sink: &mut Sink, fetch: &mut Fetch) -> Result<(), super::sink::Closed> {
    if sink.has_pending() {
        sink.pump(|_| None)?;
        if !sink.has_pending() {
            fetch.handle(Input::Taken, clock::now_ms());
        }
    }
    Ok(())
}

fn end(ending: Ending, answering: Answering, incoming: &Incoming) {
    match (ending, answering) {
        (Ending::Finished(_), Answering::Body(sink)) => sink.finish(),
        // Dropped unfinished: the host breaks the transfer off, so the
        // client never takes a partial body for a whole one.
        (Ending::Failed(failure), Answering::Body(sink)) => {
            log(&format!("aborting the answer mid-body: {failure}"));
            drop(sink);
        }
        // Answered with a 502 or 504 saying why.
        (Ending::Failed(failure), _) => log(&format!("{}: {failure}", incoming.path)),
        _ => {}
    }
}

/// How the origin is fetched for the client.
fn spec(config: &ProxyConfig, incoming: &Incoming) -> Spec {
    Spec {
        url: incoming.url.clone(),
        settings: Settings {
            connections: config.connections,
            // Redirects are followed only while they stay under the prefix.
            rules: RequestRules {
                scope: Some(config.origin.display()),
                ..RequestRules::default()
            },
            seed: get_random_u64(),
            ..Settings::default()
        },
        chunk_size: Some(config.chunk_size),
        free_space: None,
        rate_limit: None,
    }
}

fn ask(config: &ProxyConfig, incoming: &Incoming) -> ClientAsk {
    ClientAsk {
        head_only: incoming.head_only,
        range: incoming.range.clone(),
        if_range: incoming.if_range.clone(),
        if_none_match: incoming.if_none_match.clone(),
        if_modified_since: incoming.if_modified_since.clone(),
        slice: config.chunk_size,
        path: incoming.path.clone(),
    }
}
