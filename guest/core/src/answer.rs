//! What an answer's status means, judged once for every request rangeget
//! makes: the probe, a range of a chunk, one whole stream. Each caller
//! looks further only at what is accepted here (a `206`'s `Content-Range`,
//! a `200`'s validators): which statuses are worth another try, which are
//! final, and how a redirect is followed are one rule, not three.

use crate::failure::Reason;
use crate::headers::Headers;
use crate::redirect::{is_redirect, resolve_location};
use crate::retry::retry_after_ms;

/// The meaning of an answer's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// A status the caller reads further: `2xx`, `304` (an answer to a
    /// condition) and `416` (a range that does not fit, which says the
    /// object's size).
    Accept,
    /// Follow the redirect to this URL.
    Redirect(String),
    /// A fault of this answer, or of the server for now: try again, after
    /// the pause the server asked for, if it did.
    Retry {
        reason: Reason,
        retry_after_ms: Option<u64>,
    },
    /// Asking again cannot help (the object is not there, not ours to
    /// have, or the request is one the server will not take).
    Final(Reason),
}

/// Judges the answer of `url` with `status` and `headers`, at
/// `now_unix_ms` (for a `Retry-After` date).
pub fn judge(url: &str, status: u16, headers: &Headers, now_unix_ms: u64) -> Judgement {
    let status_reason = || Reason::Status {
        url: url.to_string(),
        status,
    };
    let retry = |reason: Reason| Judgement::Retry {
        reason,
        retry_after_ms: retry_after_ms(headers, now_unix_ms),
    };
    if is_redirect(status) {
        return match headers.get("location").map(|l| resolve_location(url, l)) {
            Some(Ok(next)) => Judgement::Redirect(next),
            // Somewhere rangeget will not go (another scheme, say).
            Some(Err(detail)) => Judgement::Final(Reason::BadRedirect {
                url: url.to_string(),
                detail,
            }),
            // A redirect that forgot its target: a glitch of this answer.
            None => retry(Reason::BadRedirect {
                url: url.to_string(),
                detail: format!("HTTP {status} without a Location"),
            }),
        };
    }
    match status {
        200..=299 | 304 | 416 => Judgement::Accept,
        // Timeouts, rate limits, early data, a connection to the wrong
        // server, and every server error: another try may find it well.
        408 | 421 | 425 | 429 | 500..=599 => retry(status_reason()),
        // Informational answers are not answers: the exchange went wrong.
        100..=199 => retry(status_reason()),
        // Every other client error (401, 403, 404, 410, 400, 405...) and
        // the 3xx that are not redirects: the same request gets the same.
        _ => Judgement::Final(status_reason()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(status: u16, pairs: &[(&str, &str)]) -> Judgement {
        judge(
            "http://h/a/f",
            status,
            &Headers::from_pairs(pairs.iter().copied()),
            0,
        )
    }

    #[test]
    fn statuses_are_accepted_retried_or_final() {
        for status in [200, 206, 304, 416] {
            assert_eq!(judged(status, &[]), Judgement::Accept, "{status}");
        }
        for status in [408, 421, 425, 429, 500, 502, 503, 504, 599, 103] {
            assert!(
                matches!(judged(status, &[]), Judgement::Retry { .. }),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 405, 410, 451, 300, 305] {
            assert!(
                matches!(judged(status, &[]), Judgement::Final(Reason::Status { .. })),
                "{status}"
            );
        }
    }

    #[test]
    fn a_retry_waits_as_the_server_asks() {
        assert_eq!(
            judged(503, &[("Retry-After", "7")]),
            Judgement::Retry {
                reason: Reason::Status {
                    url: "http://h/a/f".into(),
                    status: 503
                },
                retry_after_ms: Some(7_000)
            }
        );
    }

    #[test]
    fn redirects_are_followed_and_a_missing_target_is_retried() {
        assert_eq!(
            judged(302, &[("Location", "../g")]),
            Judgement::Redirect("http://h/g".into())
        );
        assert!(matches!(
            judged(301, &[]),
            Judgement::Retry {
                reason: Reason::BadRedirect { .. },
                ..
            }
        ));
        assert!(matches!(
            judged(307, &[("Location", "ftp://elsewhere/f")]),
            Judgement::Final(Reason::BadRedirect { .. })
        ));
    }
}
