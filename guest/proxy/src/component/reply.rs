//! Answers to the client: the object's headers, and short plain-text
//! answers for everything that is not the object.

use rangeget_core::fetch::{Answer, ResponseHead};
use wasip2::http::types::ResponseOutparam;

use super::log::log;
use super::sink::{response, Sink};

/// Sends `answer`'s head; the sink its body goes into when it has one.
pub fn answer(out: ResponseOutparam, answer: Answer) -> Option<Sink> {
    match answer {
        Answer::Object(head) => Sink::open(out, &head),
        Answer::Short { head, text: None } => {
            head_only(out, head);
            None
        }
        Answer::Short {
            head,
            text: Some(message),
        } => {
            text_with(out, head.status, &message, head.headers);
            None
        }
    }
}

/// Headers only: the answer to HEAD. No body resource is opened, so the
/// host sends the Content-Length as given.
pub fn head_only(out: ResponseOutparam, head: ResponseHead) {
    match response(&head) {
        Some(response) => ResponseOutparam::set(out, Ok(response)),
        None => text(
            out,
            500,
            "rangeget-proxy could not build the response headers",
        ),
    }
}

/// A short plain-text answer.
pub fn text(out: ResponseOutparam, status: u16, message: &str) {
    text_with(out, status, message, Vec::new());
}

fn text_with(out: ResponseOutparam, status: u16, message: &str, extra: Vec<(String, String)>) {
    let body = format!("{message}\n");
    let mut headers = vec![
        (
            "content-type".to_string(),
            "text/plain; charset=utf-8".to_string(),
        ),
        ("content-length".to_string(), body.len().to_string()),
    ];
    headers.extend(extra);
    let head = ResponseHead { status, headers };
    let Some(mut sink) = Sink::open(out, &head) else {
        return log(&format!("could not send HTTP {status} ({message})"));
    };
    sink.paced.give(body.into_bytes());
    sink.finish();
}

pub fn method_not_allowed(out: ResponseOutparam) {
    text_with(
        out,
        405,
        "rangeget-proxy serves GET and HEAD only",
        vec![("allow".into(), "GET, HEAD".into())],
    );
}
