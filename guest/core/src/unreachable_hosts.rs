//! Hosts a run has given up on. A file fails for want of a connection
//! (no DNS answer, refused, timed out, a failed TLS handshake) only after
//! every retry its budget allows (seconds of them), or at once for a cause
//! that lasts (an untrusted certificate). A reset after the request went
//! out does not count: a server or a filter may do that to one URL only. Its host's other files would each wait out the same
//! retries: a thousand files from a host that is down would take an hour
//! to fail. Instead they fail at once, naming the file that proved it,
//! and the same command again tries them all.

use std::collections::BTreeMap;

use crate::budget::host_of;
use crate::failure::{Failure, Reason};

/// What proved a host unreachable.
#[derive(Clone, Debug)]
struct Proof {
    path: String,
    error: String,
}

#[derive(Clone, Debug, Default)]
pub struct UnreachableHosts {
    hosts: BTreeMap<String, Proof>,
}

impl UnreachableHosts {
    /// The file at `path` failed for `failure`: if its last attempts could
    /// not connect to the host they asked, that host is given up on for
    /// the rest of the run.
    pub fn file_failed(&mut self, path: &str, failure: &Failure) {
        if let Reason::Unreachable {
            url,
            error,
            no_connection: true,
        } = failure.reason.root()
        {
            self.hosts.entry(host_of(url)).or_insert_with(|| Proof {
                path: path.to_string(),
                error: error.clone(),
            });
        }
    }

    /// Before a file's first request to `url`: a failure when its host
    /// was given up on.
    pub fn check(&self, url: &str) -> Result<(), Failure> {
        let host = host_of(url);
        match self.hosts.get(&host) {
            None => Ok(()),
            Some(proof) => Err(Reason::HostGivenUp {
                url: url.to_string(),
                host,
                path: proof.path.clone(),
                error: proof.error.clone(),
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::FailureKind;

    fn refused(url: &str) -> Failure {
        Failure::from(Reason::Unreachable {
            url: url.into(),
            error: "connection refused".into(),
            no_connection: true,
        })
        .with_note("6 attempts")
    }

    #[test]
    fn a_host_that_never_answered_fails_its_other_files_without_a_request() {
        let mut hosts = UnreachableHosts::default();
        hosts.file_failed("d/a.bin", &refused("http://down:8080/a.bin"));
        let failure = hosts.check("http://down:8080/b.bin").unwrap_err();
        assert_eq!(failure.reason.code(), "host-given-up");
        assert_eq!(failure.kind(), FailureKind::Network);
        let message = failure.to_string();
        assert!(
            message.starts_with("http://down:8080/b.bin: not tried: down:8080 could not be reached for d/a.bin (connection refused)"),
            "{message}"
        );
        // Another port, another host; the first proof is the one named.
        assert!(hosts.check("http://down:8081/b.bin").is_ok());
        hosts.file_failed("d/c.bin", &refused("http://down:8080/c.bin"));
        assert!(hosts
            .check("http://down:8080/e.bin")
            .unwrap_err()
            .to_string()
            .contains("for d/a.bin"));
    }

    #[test]
    fn a_host_that_answered_is_not_given_up_on() {
        let mut hosts = UnreachableHosts::default();
        let not_found = Failure::from(Reason::Status {
            url: "http://up/a".into(),
            status: 404,
        });
        let cut = Failure::from(Reason::BodyFailed("reset".into()));
        // The request went out, then the connection was reset: a filter
        // may do that to one URL only.
        let reset = Failure::from(Reason::Unreachable {
            url: "http://up/a".into(),
            error: "connection closed by the server".into(),
            no_connection: false,
        });
        hosts.file_failed("a", &not_found);
        hosts.file_failed("a", &cut);
        hosts.file_failed("a", &reset);
        assert!(hosts.check("http://up/b").is_ok());
    }

    #[test]
    fn a_retried_request_that_gave_up_counts_by_its_last_cause() {
        let mut hosts = UnreachableHosts::default();
        let gave_up = Failure::from(Reason::GaveUp {
            what: "bytes 0-9".into(),
            failures: 6,
            last: Box::new(Reason::Unreachable {
                url: "https://cdn.example/x".into(),
                error: "connection timed out".into(),
                no_connection: true,
            }),
        });
        hosts.file_failed("x", &gave_up);
        assert!(hosts.check("https://cdn.example/y").is_err());
        assert!(hosts.check("http://cdn.example/y").is_ok());
    }
}
