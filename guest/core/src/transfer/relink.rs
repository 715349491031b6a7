//! Links that expire. Big files are rarely served from the URL a user
//! types: GitHub's release assets redirect to a storage link signed for
//! 300 s, S3's presigned links and CDN tokens expire too. A chunk asked
//! of such a link after its expiry is refused (401, 403, 404, 410), or its
//! host is gone; a fresh link cures that. The chunk is then asked of the
//! requested URL again, whose redirects lead to a fresh link; its answer
//! passes the same validation as any range's (size, `ETag`,
//! `Last-Modified`, `If-Range`), so a link to another object is the
//! change rule's, never spliced. The first request to land a fresh link
//! gives it to every request after it. A fresh link refused at once will
//! not get better: the transfer stops, saying so.

use super::*;

/// How many times links are renewed before the transfer gives up: a link
/// that lasts a second renewed over a long download, not a loop.
pub(crate) const MAX_RENEWALS: u32 = 1000;

#[derive(Clone, Default)]
pub(super) struct Relinks {
    /// The URL the download was asked for, when the object's URL was
    /// reached from it through redirects (only such links are renewed).
    requested: Option<String>,
    /// Links renewed so far.
    renewals: u32,
}

impl Relinks {
    /// Whether `url` is the requested URL (a request to it looks for a
    /// fresh link).
    pub(super) fn is_requested(&self, url: &str) -> bool {
        self.requested.as_deref() == Some(url)
    }
}

/// Whether a fresh link would cure what `reason` says of a link: refused
/// as links are once they expire, or nobody at its host any more.
fn cured_by_fresh_link(reason: &Reason) -> bool {
    match reason {
        Reason::Status { status, .. } => matches!(status, 401 | 403 | 404 | 410),
        Reason::Unreachable { no_connection, .. } => *no_connection,
        _ => false,
    }
}

impl Transfer {
    /// The download was asked for at `requested`: where the object's URL
    /// differs (redirects led there), an expired link is renewed through it.
    pub(crate) fn renews_links_from(&mut self, requested: &str) {
        if requested != self.object.url {
            self.relinks.requested = Some(requested.to_string());
        }
    }

    /// Whether the request at `at`, which failed for `reason`, went to a
    /// link that a fresh one would replace (a ranged request, not to the
    /// requested URL itself).
    pub(super) fn link_expired(&self, at: usize, reason: &Reason) -> bool {
        let open = &self.open[at];
        matches!(self.mode, Mode::Ranged(_))
            && self.relinks.requested.is_some()
            && !self.relinks.is_requested(&open.url)
            && cured_by_fresh_link(reason)
    }

    /// The request at `at` met an expired link: its chunk is asked again
    /// at once, through the requested URL (told once per transfer), and
    /// so is every request after it until a fresh link answers. A fresh
    /// link that fails at once, or too many renewals, stop the transfer.
    pub(super) fn renew_link(&mut self, at: usize, reason: Reason) {
        let open = self.open.remove(at);
        self.close(open.id, None);
        let requested = self
            .relinks
            .requested
            .clone()
            .expect("checked by link_expired");
        let renewals = self.relinks.renewals;
        if open.fresh_link || renewals >= MAX_RENEWALS {
            let last = Box::new(reason);
            let at_once = open.fresh_link;
            let failed = Reason::LinkExpired {
                requested,
                renewals,
                at_once,
                last,
            };
            return self.stop(Stop::Failed(failed.into()));
        }
        if self.object.url != requested {
            if renewals == 0 {
                self.events.push_back(Event::LinkExpired {
                    requested: requested.clone(),
                    reason,
                });
            }
            self.relinks.renewals += 1;
            self.object.url = requested;
        }
        if let Mode::Ranged(ranged) = &mut self.mode {
            ranged.chunks.requeue(open.chunk);
        }
    }

    /// The request at `at` is being answered: a fresh link it found is
    /// where the requests after it go.
    pub(super) fn adopt_fresh_link(&mut self, at: usize) {
        let open = &self.open[at];
        if open.fresh_link && self.relinks.is_requested(&self.object.url) {
            self.object.url = open.url.clone();
        }
    }
}
