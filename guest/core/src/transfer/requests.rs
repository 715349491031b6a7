//! What happens to a ranged request after its head: a redirect followed
//! for the same bytes, the next request of a chunk, a failed attempt
//! retried or given up on.

use super::*;
use crate::request_size::Finished;

impl Transfer {
    /// The request at `at` was redirected to `next`: the same bytes are
    /// asked there, within the redirect rules.
    pub(super) fn redirect(&mut self, at: usize, next: String, now_ms: u64) {
        let open = self.open.remove(at);
        let hops = open.redirects + 1;
        if let Err(reason) = self.settings.rules.follow(&open.url, &next, hops) {
            self.close(open.id, None);
            return self.stop(Stop::Failed(reason.into()));
        }
        self.close(open.id, None);
        let id = self.fresh_id();
        let request = match open.range {
            Some(range) => Request::range_of(id, &self.object, &next, range),
            None => Request {
                id,
                method: Method::Get,
                url: next.clone(),
                range: None,
                if_range: None,
                if_modified_since: None,
            },
        };
        let mut next = Open::new(id, open.chunk, open.range, next, hops, now_ms);
        next.fresh_link = open.fresh_link;
        next.source = open.source;
        self.open.push(next);
        self.commands.push_back(Command::Send(request));
    }

    /// The request at `at` got all it asked for and its chunk wants more:
    /// the next request goes to the same (possibly redirected) URL, sized
    /// by what this one's timing says about the round trip.
    pub(super) fn continue_chunk(&mut self, at: usize, now_ms: u64) {
        let id = self.fresh_id();
        let Mode::Ranged(ranged) = &mut self.mode else {
            return;
        };
        let open = self.open.remove(at);
        // It asked for a full request (a shorter one would have finished
        // the chunk), so its timing is evidence.
        ranged.sizer.finished(Finished {
            id: open.id,
            bytes: open.range.map_or(0, |r| r.len()),
            wait_ms: open.head_ms.saturating_sub(open.sent_ms),
            body_ms: now_ms.saturating_sub(open.head_ms),
        });
        let size = ranged.sizer.next(id, ranged.chunks.missing(open.chunk));
        let range = ranged.chunks.continue_chunk(open.chunk, size);
        self.timed(&open, now_ms);
        self.close(open.id, open.not_handed_to_disk());
        // Several sources: the chunk goes on from whichever is best now
        // (only where a piece starts: a piece comes from one source).
        let (source, url, redirects) = match self.better_source(&open, range.start(), now_ms) {
            Some(source) => (source, self.source_url(source), 0),
            None => (open.source, open.url, open.redirects),
        };
        let object = match &self.sources {
            Some(set) => set.object(source),
            None => &self.object,
        };
        let request = Request::range_of(id, object, &url, range);
        let mut next = Open::new(id, open.chunk, Some(range), url, redirects, now_ms);
        next.source = source;
        self.open.push(next);
        self.commands.push_back(Command::Send(request));
    }

    /// Request `open` got all it asked for: its timing, for `-v` and for
    /// choosing among sources.
    pub(super) fn timed(&mut self, open: &Open, now_ms: u64) {
        let Some(range) = open.range else {
            return;
        };
        let wait_ms = open.head_ms.saturating_sub(open.sent_ms);
        let body_ms = now_ms.saturating_sub(open.head_ms);
        let from = self.sources.as_ref().map(|_| open.url.clone());
        self.events.push_back(Event::Timing {
            range,
            wait_ms,
            body_ms,
            from,
        });
    }

    /// An attempt on a chunk failed: retry it after a backoff, or stop once
    /// it has failed too often without progress.
    pub(super) fn fail_attempt(
        &mut self,
        at: usize,
        reason: Reason,
        retry_after: Option<u64>,
        now_ms: u64,
    ) {
        if self.others_can_take(at) {
            return self.source_failed(at, reason, false, now_ms);
        }
        let open = self.open.remove(at);
        self.close(open.id, None);
        let policy = self.settings.rules.retry;
        let Mode::Ranged(ranged) = &mut self.mode else {
            return;
        };
        let what = format!(
            "{} of {}",
            open.range.unwrap_or(ranged.chunks.range(open.chunk)),
            self.object.url
        );
        let after = ranged
            .chunks
            .fail(open.chunk, &policy, retry_after, &mut self.jitter, now_ms);
        match after {
            AfterFailure::Retry { retry, delay_ms } => {
                self.retries += 1;
                self.events.push_back(Event::Retrying {
                    what: Some(what),
                    reason,
                    retry,
                    max: policy.max_retries,
                    delay_ms,
                });
            }
            AfterFailure::GiveUp { failures } => {
                let gave_up = Reason::GaveUp {
                    what,
                    failures,
                    last: Box::new(reason),
                };
                self.stop(Stop::Failed(gave_up.into()));
            }
        }
    }
}
