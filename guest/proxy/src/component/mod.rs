//! Everything that touches WASI: the exported `wasi:http/incoming-handler`
//! and the driver that feeds `rangeget-core` what the origin answers.

mod incoming;
mod log;
mod no_cli;
mod reply;
mod serve;
mod settings;
mod sink;

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

use incoming::{Incoming, Refusal};

wasip2::http::proxy::export!(Proxy);

struct Proxy;

impl Guest for Proxy {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let config = match settings::read() {
            Ok(config) => config,
            Err(message) => {
                log::log(&message);
                let message = format!("rangeget-proxy is misconfigured: {message}");
                return reply::text(out, 500, &message);
            }
        };
        log::set_verbose(config.verbose);
        match Incoming::read(&request, &config) {
            Ok(incoming) => {
                drop(request);
                serve::serve(&config, &incoming, out)
            }
            Err(Refusal::MethodNotAllowed) => reply::method_not_allowed(out),
            Err(Refusal::BadPath(why)) => reply::text(out, 400, &format!("bad path {why}")),
        }
    }
}
