//! Origins without range support: one GET, its body streamed through as
//! it arrives, never read faster than the client takes it.

use rangeget_core::redirect::{is_redirect, resolve_location, MAX_REDIRECTS};
use rangeget_core::stream_plan::ClientRange;
use rangeget_wasi_http::{Read, Response, READ_SIZE};
use wasip2::http::types::ResponseOutparam;
use wasip2::io::poll::poll;

use super::reply::{self, ResponseHead};
use super::sink::Sink;
use super::{log, Client, Incoming};
use crate::config::ProxyConfig;

/// Answers with the origin's plain GET of the object. A client's `Range`
/// is ignored (a 200 with the whole object is a valid answer to it).
pub fn get(client: &Client, config: &ProxyConfig, incoming: &Incoming, out: ResponseOutparam) {
    let mut url = incoming.url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let response = match client.get(&url, &[]).and_then(|pending| pending.wait()) {
            Ok(response) => response,
            Err(reason) => {
                return reply::bad_gateway(
                    out,
                    incoming,
                    &format!("the origin did not answer: {reason}"),
                )
            }
        };
        if !is_redirect(response.status) {
            return stream_response(out, response, incoming);
        }
        let next = response
            .headers
            .get("location")
            .map(|location| resolve_location(&url, location));
        match next {
            Some(Ok(next)) if config.origin.contains_text(&next) => url = next,
            Some(Ok(next)) => {
                let reason = format!(
                    "the origin redirected to {next}, outside {}; not followed",
                    config.origin.display()
                );
                return reply::bad_gateway(out, incoming, &reason);
            }
            _ => {
                let reason = format!("HTTP {} without a usable Location", response.status);
                return reply::bad_gateway(out, incoming, &reason);
            }
        }
    }
    reply::bad_gateway(
        out,
        incoming,
        &format!("more than {MAX_REDIRECTS} redirects"),
    )
}

/// Streams `response`, a whole-object answer of the origin, to the client.
pub fn stream_response(out: ResponseOutparam, response: Response, incoming: &Incoming) {
    if !(200..300).contains(&response.status) {
        return reply::origin_status(out, response.status, &response.headers, incoming);
    }
    let length = response.headers.content_length();
    let mut head = reply::object_head(&response.headers, ClientRange::Whole, 0, 0, false);
    // The length is the origin's, when it stated one; without, the host
    // sends the body chunked.
    head.headers.retain(|(name, _)| name != "content-length");
    if let Some(length) = length {
        head.headers
            .push(("content-length".into(), length.to_string()));
    }
    let head = ResponseHead {
        status: 200,
        headers: head.headers,
    };
    if incoming.head_only {
        return reply::head_only(out, head);
    }
    let body = match response.into_body() {
        Ok(body) => body,
        Err(reason) => return reply::bad_gateway(out, incoming, &reason),
    };
    let Some(mut sink) = Sink::open(out, &head) else {
        return;
    };
    loop {
        let mut ended = None;
        let pumped = sink.pump(|room| match body.read(room.min(READ_SIZE)) {
            Read::Data(data) => Some(data),
            Read::Wait => None,
            Read::End => {
                ended = Some(Ok(()));
                None
            }
            Read::Failed(reason) => {
                ended = Some(Err(reason));
                None
            }
        });
        if pumped.is_err() {
            return log(&format!("{}: the client went away", incoming.path));
        }
        match ended {
            Some(Ok(())) if !sink.has_pending() => return sink.finish(),
            Some(Ok(())) => {}
            // Dropping the sink unfinished breaks the transfer off.
            Some(Err(reason)) => {
                return log(&format!(
                    "{}: the origin body failed: {reason}",
                    incoming.path
                ))
            }
            None => {}
        }
        // Wait for whichever side holds things up: the client when bytes
        // are pending or it has no room, else the origin.
        if sink.has_pending() || sink.capacity().unwrap_or(1) == 0 || ended.is_some() {
            sink.pollable().block();
        } else {
            poll(&[body.pollable()]);
        }
    }
}
