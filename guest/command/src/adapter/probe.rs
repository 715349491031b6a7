//! The first request: find out what the object is, following redirects,
//! falling back from HEAD to GET, and retrying transient failures.

use rangeget_core::options::Options;
use rangeget_core::probe::{interpret_probe, ProbeMethod, ProbeVerdict};
use rangeget_core::redirect::MAX_REDIRECTS;
use rangeget_core::{Failure, RemoteObject};
use wasip2::random::random::get_random_u64;

use super::http::{self, PendingResponse, Response};
use super::report::warn;
use super::{clock, wait};

pub struct Probed {
    pub object: RemoteObject,
    /// When the probe was a GET, its response, body unread: a download that
    /// cannot use ranges streams it instead of asking again.
    pub get_response: Option<Response>,
}

pub fn probe(url: &str, options: &Options, first_method: ProbeMethod) -> Result<Probed, Failure> {
    let policy = options.retry_policy();
    let client = http::Client::for_options(options);
    let mut method = first_method;
    let mut current = url.to_string();
    let mut redirects = 0;
    let mut failures = 0;
    loop {
        let sent = match method {
            ProbeMethod::Head => client.head(&current),
            method => {
                let range = method.range_header().map(|r| ("range", r.to_string()));
                client.get(&current, range.as_slice())
            }
        };
        let verdict = match sent.and_then(|pending| wait_for_response(&pending)) {
            Ok(response) => {
                let verdict = interpret_probe(
                    &current,
                    method,
                    response.status,
                    &response.headers,
                    clock::unix_ms(),
                );
                if let ProbeVerdict::Object(object) = verdict {
                    // Only a whole-object answer can be streamed from byte 0.
                    let streamable = method != ProbeMethod::Head && response.status == 200;
                    let get_response = streamable.then_some(response);
                    return Ok(Probed {
                        object,
                        get_response,
                    });
                }
                verdict
            }
            // An untrusted certificate or a malformed URL stays so: say it
            // now rather than after every retry.
            Err(reason) if reason.lasting => {
                return Err(Failure::network(format!("{current}: {reason}")))
            }
            Err(reason) => ProbeVerdict::Retry {
                reason: Failure::network(format!("{current}: {reason}")),
                retry_after_ms: None,
            },
        };
        match verdict {
            ProbeVerdict::Object(_) => unreachable!("returned above"),
            ProbeVerdict::Redirect(next) => {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(Failure::http(format!(
                        "too many redirects (more than {MAX_REDIRECTS}) starting at {url}; \
                         the last one pointed to {next}. The server is probably in a redirect loop."
                    )));
                }
                current = next;
            }
            ProbeVerdict::TryGet => method = ProbeMethod::FirstByte,
            ProbeVerdict::Retry {
                reason,
                retry_after_ms,
            } => {
                failures += 1;
                if failures > policy.max_retries {
                    return Err(Failure::new(
                        reason.kind,
                        format!(
                            "{reason} ({failures} attempts); check the URL and your connection, \
                             or raise --retries"
                        ),
                    ));
                }
                let delay = policy.delay_ms(failures, retry_after_ms, get_random_u64());
                warn(&format!(
                    "{reason}; retry {failures}/{} in {:.1} s",
                    policy.max_retries,
                    delay as f64 / 1000.0
                ));
                wait::sleep_until(clock::now_ms() + delay);
            }
            ProbeVerdict::Fail(reason) => return Err(reason),
        }
    }
}

/// The response's head, once it arrives (a restart's probe waits while
/// the run holds its destination's lock, so the wait keeps the lease).
fn wait_for_response(
    pending: &PendingResponse,
) -> Result<Response, rangeget_wasi_http::RequestError> {
    loop {
        if let Some(result) = pending.try_take() {
            return result;
        }
        wait::until_ready(pending.pollable());
    }
}
