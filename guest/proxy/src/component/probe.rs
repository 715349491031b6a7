//! The first look at the object: a HEAD to the origin, redirects followed
//! only while they stay under the configured prefix. Origins that refuse
//! HEAD (S3 URLs signed for GET answer 403) are asked for the first byte
//! with a ranged GET instead, as the command does, so they are still
//! fetched in parallel.

use rangeget_core::probe::{interpret_probe, ProbeMethod, ProbeVerdict};
use rangeget_core::redirect::MAX_REDIRECTS;
use rangeget_core::{Headers, RemoteObject};

use super::{time, Client};
use crate::origin_path::OriginPrefix;

pub enum Probe {
    Object {
        object: RemoteObject,
        /// The HEAD's headers, for what the client gets passed through.
        headers: Headers,
    },
    /// An error status to pass on to the client.
    Status {
        status: u16,
        headers: Headers,
    },
    Failed(String),
}

pub fn probe(client: &Client, prefix: &OriginPrefix, url: &str) -> Probe {
    let mut url = url.to_string();
    let mut method = ProbeMethod::Head;
    let mut redirects = 0;
    while redirects <= MAX_REDIRECTS {
        let sent = match method.range_header() {
            None => client.head(&url),
            Some(range) => client.get(&url, &[("range", range.to_string())]),
        };
        let response = match sent.and_then(|pending| pending.wait()) {
            Ok(response) => response,
            Err(reason) => return Probe::Failed(format!("the origin did not answer: {reason}")),
        };
        let verdict = interpret_probe(
            &url,
            method,
            response.status,
            &response.headers,
            time::unix_ms(),
        );
        match verdict {
            ProbeVerdict::Object(object) => {
                return Probe::Object {
                    object,
                    headers: response.headers,
                }
            }
            ProbeVerdict::Redirect(next) if prefix.contains_text(&next) => {
                url = next;
                redirects += 1;
            }
            ProbeVerdict::Redirect(next) => {
                return Probe::Failed(format!(
                    "the origin redirected to {next}, outside {}; not followed",
                    prefix.display()
                ))
            }
            // The one-byte body of the answer is dropped with it.
            ProbeVerdict::TryGet if method == ProbeMethod::Head => method = ProbeMethod::FirstByte,
            ProbeVerdict::TryGet | ProbeVerdict::Retry { .. } | ProbeVerdict::Fail(_) => {
                return Probe::Status {
                    status: response.status,
                    headers: response.headers,
                }
            }
        }
    }
    Probe::Failed(format!("more than {MAX_REDIRECTS} redirects"))
}
