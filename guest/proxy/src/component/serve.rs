//! Answering one request: the fetch's pump. The core's fetch probes the
//! origin, decides the answer, and delivers the object in order from
//! validated ranges (or one stream where the origin has no usable
//! ranges); this moves its requests over `wasi:http` and what it delivers
//! to the client. The answer's head goes out only once an origin answer
//! has passed validation, so an object that changes before then is simply
//! fetched again; after it, a change aborts the response (the body is
//! dropped unfinished) rather than splice two versions together.

use rangeget_core::fetch::{Destination, Ending, Fetch, Output};
use rangeget_core::request::Event;
use rangeget_wasi_http::Trace;
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
    .credentials_only_for(&incoming.url, false)
    // Cookies an origin's answers set (a redirect that signs in) go on to
    // where they lead, for this request only.
    .with_cookies(Some(rangeget_wasi_http::SharedJar::default()));
    let mut exchanges = Exchanges::new(client);
    let spec = config.fetch_spec(incoming.url.clone(), get_random_u64());
    let mut fetch = Fetch::new(spec, Destination::Client(incoming.ask.clone()));
    let mut answering = Answering::Waiting(out);
    loop {
        let to = match &mut answering {
            Answering::Body(sink) => Some(&mut sink.paced),
            _ => None,
        };
        let Ok(output) = exchanges.poll_in_order(&mut fetch, to, &mut |_| {}) else {
            return log("the client went away; the answer stops");
        };
        match output {
            Output::Event(event @ (Event::Timing { .. } | Event::RoundTrip { .. })) => {
                OriginLog::line(|| event.to_string())
            }
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
            // Answered without a body (HEAD, a short answer): nothing to deliver to.
            Output::Deliver(_) => return,
            Output::End(ending) => return end(ending, answering, incoming),
            other => unreachable!("a client's fetch is asked {other:?}"),
        }
    }
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
        (Ending::Failed(failure), _) => log(&format!("{}: {failure}", incoming.ask.path)),
        _ => {}
    }
}
