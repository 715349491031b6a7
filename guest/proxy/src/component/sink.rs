//! The client's response: its head, and its body written only as fast as
//! the host takes it (see `rangeget_wasi_http::Paced`).

use wasip2::http::types::{Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasip2::io::streams::StreamError;

use rangeget_core::fetch::ResponseHead;
use rangeget_wasi_http::Paced;

use super::log::log;

/// The response resource of `head`; `None` if the host refuses a header.
pub fn response(head: &ResponseHead) -> Option<OutgoingResponse> {
    let fields: Vec<(String, Vec<u8>)> = head
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
        .collect();
    let fields = Fields::from_list(&fields).ok()?;
    let response = OutgoingResponse::new(fields);
    response.set_status_code(head.status).ok()?;
    Some(response)
}

/// An answer whose headers are sent and whose body is being written.
///
/// Dropping it without [`Sink::finish`] aborts the response: the host then
/// breaks the transfer off instead of ending it cleanly, so a client never
/// mistakes a partial body for a complete one.
pub struct Sink {
    // Declared first: the stream is dropped before its body.
    pub paced: Paced,
    body: OutgoingBody,
}

impl Sink {
    /// Sends the head and opens the body; `None` (after sending a 500 if
    /// still possible) when the host refuses either.
    pub fn open(out: ResponseOutparam, head: &ResponseHead) -> Option<Sink> {
        let Some(response) = response(head) else {
            log("the host refused the response headers");
            ResponseOutparam::set(
                out,
                Err(wasip2::http::types::ErrorCode::InternalError(None)),
            );
            return None;
        };
        let body = response.body().ok()?;
        let stream = body.write().ok()?;
        ResponseOutparam::set(out, Ok(response));
        Some(Sink {
            paced: Paced::new(stream),
            body,
        })
    }

    /// Writes what is still pending (waiting for the client), then ends
    /// the body cleanly; the host checks it against Content-Length.
    pub fn finish(self) {
        let Sink { mut paced, body } = self;
        let written = paced.finish();
        drop(paced);
        match written {
            Ok(()) | Err(StreamError::Closed) => {
                if let Err(e) = OutgoingBody::finish(body, None) {
                    log(&format!("the response did not end cleanly: {e:?}"));
                }
            }
            Err(StreamError::LastOperationFailed(e)) => {
                log(&format!("the response was cut: {}", e.to_debug_string()));
            }
        }
    }
}
