//! One stream from byte 0, for origins without usable ranges: the length
//! its body must have, and starting over from byte 0 when it fails.

use super::*;

impl Transfer {
    /// One stream's answer arrived: the object as it is now, and the
    /// length its body must have.
    pub(super) fn whole_head(
        &mut self,
        at: usize,
        status: u16,
        headers: &Headers,
        now_ms: u64,
        now_unix_ms: u64,
    ) {
        let url = self.open[at].url.clone();
        match judge(&url, status, headers, now_unix_ms) {
            Judgement::Redirect(next) => return self.redirect(at, next, now_ms),
            Judgement::Retry {
                reason,
                retry_after_ms,
            } => return self.fail_whole(at, reason, retry_after_ms, now_ms),
            Judgement::Final(reason) => return self.stop(Stop::Failed(reason.into())),
            Judgement::Accept if (200..300).contains(&status) => {}
            // Not the object from byte 0 (a 304, a 416): perhaps the next.
            Judgement::Accept => {
                let reason = Reason::Status { url, status };
                return self.fail_whole(at, reason, None, now_ms);
            }
        }
        let answered = RemoteObject::from_headers(&self.object.url, headers);
        let announced = match self.object.change_from(&answered) {
            Some(change) => {
                // Nothing of the old version was kept: take the new one.
                self.events.push_back(Event::NewVersion(change));
                self.object.size = answered.size;
                self.object.etag = answered.etag;
                self.object.last_modified = answered.last_modified;
                answered.size
            }
            // The same object: a length the probe announced still holds for
            // a body that states none (chunked).
            None => answered.size.or(self.object.size),
        };
        if let Some(size) = announced {
            if let Err(reason) =
                check_max_filesize(&self.object.url, size, self.settings.max_filesize)
            {
                return self.stop(Stop::Failed(reason.into()));
            }
        }
        if let Mode::Whole(whole) = &mut self.mode {
            whole.announced = announced;
        }
        self.open[at].start_body(now_ms);
        self.validated = true;
    }

    /// One stream failed: it starts over from byte 0 after a backoff (a
    /// file is truncated), unless bytes already went to a reader or it
    /// has failed too often.
    pub(super) fn fail_whole(
        &mut self,
        at: usize,
        reason: Reason,
        retry_after: Option<u64>,
        now_ms: u64,
    ) {
        let open = self.open.remove(at);
        self.close(open.id, None);
        let policy = self.settings.rules.retry;
        let in_order = self.sink == Sink::InOrder;
        let Mode::Whole(whole) = &mut self.mode else {
            return;
        };
        // Every attempt starts from byte 0: what one brought is not kept,
        // so none counts as progress.
        let after = whole
            .attempts
            .failed(false, &policy, retry_after, &mut self.jitter);
        let delivered = in_order && whole.written > 0;
        let delay_ms = match after {
            AfterFailure::Retry { delay_ms, .. } if !delivered => delay_ms,
            _ => {
                let what = if delivered {
                    format!("{} (part of it was already delivered)", self.object.url)
                } else {
                    format!(
                        "downloading {} (it cannot be resumed: every attempt starts from byte 0)",
                        self.object.url
                    )
                };
                let gave_up = Reason::GaveUp {
                    what,
                    failures: whole.attempts.failures(),
                    last: Box::new(reason),
                };
                return self.stop(Stop::Failed(gave_up.into()));
            }
        };
        whole.written = 0;
        whole.pieces.clear();
        whole.resend_at_ms = Some(now_ms.saturating_add(delay_ms));
        self.retries += 1;
        if self.sink == Sink::File {
            self.commands.push_back(Command::Truncate);
        }
        self.events.push_back(Event::Restarting {
            reason,
            retry: whole.attempts.failures(),
            delay_ms,
        });
    }
}
