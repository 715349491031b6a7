//! What the driver feeds the engine: response heads, body bytes, the end
//! or failure of a request, and the passing of time.

use super::*;

impl Transfer {
    /// Whether request `id` is one this transfer has open: a driver feeds
    /// nothing else (a request the transfer closed, whose `Close` the
    /// driver has not carried out yet, is dropped, not fed).
    pub fn has_open(&self, id: RequestId) -> bool {
        self.open.iter().any(|o| o.id == id)
    }

    /// An input for a request the transfer does not have open (in that
    /// stage): a driver's bug, told rather than ignored; the input is
    /// dropped and the transfer goes on.
    fn unexpected(&mut self, id: RequestId, what: &'static str) {
        self.events.push_back(Event::Unexpected { id, what });
    }

    /// Request `id`'s response head arrived.
    pub fn handle_head(
        &mut self,
        id: RequestId,
        status: u16,
        headers: &Headers,
        now_ms: u64,
        now_unix_ms: u64,
    ) {
        let Some(at) = self.find(id, Stage::Head) else {
            return self.unexpected(id, "a head");
        };
        if matches!(self.mode, Mode::Whole(_)) {
            return self.whole_head(at, status, headers, now_ms, now_unix_ms);
        }
        let open = &self.open[at];
        let range = open.range.expect("a ranged request has a range");
        // Each source is held to its own validators.
        let object = match &self.sources {
            Some(set) => set.object(open.source),
            None => &self.object,
        };
        let verdict = check_range_response(object, range, &open.url, status, headers, now_unix_ms);
        if self.others_can_take(at) {
            // Another version, an error, ranges ignored: that source's
            // fault, not the object's; its chunk goes to the others.
            let dropped = match &verdict {
                RangeVerdict::RemoteChanged(change) => Some(Reason::Changed(change.clone())),
                RangeVerdict::RangesIgnored => Some(Reason::RangesIgnored),
                RangeVerdict::Fatal(reason) => Some(reason.clone()),
                _ => None,
            };
            if let Some(reason) = dropped {
                return self.source_failed(at, reason, true, now_ms);
            }
        }
        match verdict {
            RangeVerdict::Write => {
                if let Some(set) = &mut self.sources {
                    set.answered(self.open[at].source, headers);
                }
                self.adopt_fresh_link(at);
                let length = headers.content_length().unwrap_or(0);
                if length > range.len() && !self.told_longer_than_range {
                    self.told_longer_than_range = true;
                    let url = self.open[at].url.clone();
                    self.events
                        .push_back(Event::LongerThanRange { url, range, length });
                }
                self.open[at].start_body(now_ms);
                self.validated = true;
            }
            RangeVerdict::Redirect(next) => self.redirect(at, next, now_ms),
            RangeVerdict::Retry {
                reason,
                retry_after_ms,
            } => self.fail_attempt(at, reason, retry_after_ms, now_ms),
            RangeVerdict::RemoteChanged(change) => self.stop(Stop::Changed(change)),
            RangeVerdict::RangesIgnored => {
                // That response is the object from byte 0: it is the
                // driver's now, not a request to drop.
                self.open.remove(at);
                self.stop(Stop::RangesIgnored { id });
            }
            RangeVerdict::Fatal(reason) if self.link_expired(at, &reason) => {
                self.renew_link(at, reason)
            }
            RangeVerdict::Fatal(reason) => self.stop(Stop::Failed(reason.into())),
        }
    }

    /// How much of request `id`'s body to read now, and where it goes;
    /// `None` unless its body is being read.
    pub fn body_window(&self, id: RequestId, now_ms: u64) -> Option<BodyWindow> {
        let open = &self.open[self.find(id, Stage::Body)?];
        let (offset, len) = match &self.mode {
            Mode::Ranged(ranged) => ranged.chunks.window(open.chunk),
            Mode::Whole(whole) => {
                let len = match (self.sink, whole.announced) {
                    (Sink::InOrder, _) => {
                        let buffered: u64 = whole.pieces.iter().map(|p| p.len() as u64).sum();
                        whole.buffer_limit.saturating_sub(buffered)
                    }
                    // One byte past the announced length tells a body that
                    // runs on from one that ends there.
                    (Sink::File, Some(announced)) => announced - whole.written + 1,
                    (Sink::File, None) => u64::MAX,
                };
                (whole.written, len)
            }
        };
        let len = match &self.limiter {
            Some(limiter) => len.min(limiter.borrow().available(now_ms)),
            None => len,
        };
        Some(BodyWindow { offset, len })
    }

    /// Body bytes of request `id` arrived (read within its window and, for
    /// a file, written at its offset).
    pub fn handle_body(&mut self, id: RequestId, data: Vec<u8>, now_ms: u64) {
        let Some(at) = self.find(id, Stage::Body) else {
            return self.unexpected(id, "body bytes");
        };
        let len = data.len() as u64;
        if let Some(limiter) = &self.limiter {
            limiter.borrow_mut().consume(now_ms, len);
        }
        let open = &mut self.open[at];
        open.window_bytes += len;
        open.body_bytes += len;
        // Each source's speed is measured as its bytes come.
        if let Some(set) = &mut self.sources {
            set.timed(open.source, len, now_ms.saturating_sub(open.body_at_ms));
        }
        open.body_at_ms = now_ms;
        let chunk = self.open[at].chunk;
        let writes_back = self.writes_back();
        let progress = match &mut self.mode {
            Mode::Ranged(ranged) => {
                let (progress, accepted) = ranged.chunks.record(chunk, data);
                self.fetched += accepted;
                if let Some(set) = &mut self.sources {
                    set.took(self.open[at].source, accepted);
                }
                if let Some(saves) = &mut ranged.saves {
                    if accepted > 0 {
                        saves.saw_progress();
                    }
                    if progress == Progress::ChunkDone {
                        saves.saw_finished_chunk();
                    }
                }
                // A request that ends hands the rest over when it closes.
                if progress == Progress::Continue && writes_back {
                    let (next, _) = ranged.chunks.window(chunk);
                    if let Some(span) = self.open[at].writeback_due(next) {
                        self.commands.push_back(Command::Flush(span));
                    }
                }
                progress
            }
            Mode::Whole(whole) => {
                let total = whole.written + len;
                if let Some(announced) = whole.announced.filter(|&a| total > a) {
                    return self.fail_whole(at, Reason::RanPast { announced }, None, now_ms);
                }
                if let Some(max) = self.settings.max_filesize.filter(|&m| total > m) {
                    let url = self.object.url.clone();
                    return self.stop(Stop::Failed(Reason::PassedMax { url, max }.into()));
                }
                whole.written = total;
                self.fetched += len;
                if self.sink == Sink::InOrder && len > 0 {
                    whole.pieces.push_back(data);
                }
                Progress::Continue
            }
        };
        match progress {
            Progress::Continue => {}
            Progress::RequestDone => self.continue_chunk(at, now_ms),
            Progress::ChunkDone => {
                let open = self.open.remove(at);
                self.timed(&open, now_ms);
                self.close(open.id, open.not_handed_to_disk());
            }
            Progress::PieceBad { piece, range } => self.piece_failed(at, piece, range),
        }
    }

    /// Request `id`'s body ended.
    pub fn handle_body_end(&mut self, id: RequestId, now_ms: u64) {
        let Some(at) = self.find(id, Stage::Body) else {
            return self.unexpected(id, "the end of a body");
        };
        match &mut self.mode {
            Mode::Ranged(ranged) => {
                let (_, missing) = ranged.chunks.window(self.open[at].chunk);
                self.fail_attempt(at, Reason::BodyShort { missing }, None, now_ms);
            }
            Mode::Whole(whole) => {
                if let Some(announced) = whole.announced.filter(|&a| a != whole.written) {
                    let got = whole.written;
                    let reason = Reason::LengthMismatch { announced, got };
                    return self.fail_whole(at, reason, None, now_ms);
                }
                whole.ended = true;
                let open = self.open.remove(at);
                self.close(open.id, None);
            }
        }
    }

    /// Request `id` failed: before its head (no connection, a reset) or
    /// while its body was read.
    pub fn handle_error(&mut self, id: RequestId, failure: RequestFailure, now_ms: u64) {
        let Some(at) = self.open.iter().position(|o| o.id == id) else {
            return self.unexpected(id, "a failure");
        };
        let reason = match self.open[at].stage {
            Stage::Head => Reason::Unreachable {
                url: self.open[at].url.clone(),
                error: failure.message().to_string(),
                no_connection: failure.no_connection(),
            },
            Stage::Body => Reason::BodyFailed(failure.message().to_string()),
        };
        if self.link_expired(at, &reason) {
            return self.renew_link(at, reason);
        }
        if self.others_can_take(at) {
            return self.source_failed(at, reason, failure.lasting(), now_ms);
        }
        if failure.lasting() {
            return self.stop(Stop::Failed(reason.into()));
        }
        match self.mode {
            Mode::Ranged(_) => self.fail_attempt(at, reason, None, now_ms),
            Mode::Whole(_) => self.fail_whole(at, reason, None, now_ms),
        }
    }

    /// Cuts requests that received less than the stall rule asks for in
    /// their last window (a stall, or a trickle below any useful rate);
    /// requests that passed get a fresh window.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let rule = self.settings.stall;
        let mut at = 0;
        while at < self.open.len() {
            let open = &self.open[at];
            if now_ms.saturating_sub(open.window_start_ms) < rule.timeout_ms {
                at += 1;
                continue;
            }
            let moved = open.window_bytes >= rule.min_bytes.max(1);
            let chunk = open.chunk;
            if let Mode::Ranged(ranged) = &mut self.mode {
                ranged.chunks.set_progressed(chunk, moved);
            }
            if moved {
                let open = &mut self.open[at];
                open.window_start_ms = now_ms;
                open.window_bytes = 0;
                at += 1;
                continue;
            }
            let stalled = Reason::Stalled {
                min_bytes: rule.min_bytes,
                secs: rule.timeout_ms / 1000,
            };
            match self.mode {
                Mode::Ranged(_) => self.fail_attempt(at, stalled, None, now_ms),
                Mode::Whole(_) => self.fail_whole(at, stalled, None, now_ms),
            }
            if self.end.is_some() {
                return;
            }
        }
    }
}
