//! The first look at the object: a HEAD to the origin, redirects followed
//! only while they stay under the configured prefix.

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
    /// The origin refused HEAD in a way a GET may not: ask with GET.
    HeadRefused,
    /// An error status to pass on to the client.
    Status {
        status: u16,
        headers: Headers,
    },
    Failed(String),
}

pub fn probe(client: &Client, prefix: &OriginPrefix, url: &str) -> Probe {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let response = match client.head(&url).and_then(|pending| pending.wait()) {
            Ok(response) => response,
            Err(reason) => return Probe::Failed(format!("the origin did not answer: {reason}")),
        };
        let verdict = interpret_probe(
            &url,
            ProbeMethod::Head,
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
            ProbeVerdict::Redirect(next) if prefix.contains_text(&next) => url = next,
            ProbeVerdict::Redirect(next) => {
                return Probe::Failed(format!(
                    "the origin redirected to {next}, outside {}; not followed",
                    prefix.display()
                ))
            }
            ProbeVerdict::TryGet => return Probe::HeadRefused,
            ProbeVerdict::Retry { .. } | ProbeVerdict::Fail(_) => {
                return Probe::Status {
                    status: response.status,
                    headers: response.headers,
                }
            }
        }
    }
    Probe::Failed(format!("more than {MAX_REDIRECTS} redirects"))
}
