//! A fetch's sources (see `crate::sources`): the one in use, the ones
//! after it, and moving on when a source cannot serve the file. A source
//! that fails its probe, states another size, or (one at a time) fails its
//! transfer is dropped, named, and the next one takes over, from byte 0
//! when nothing proves the two serve one file.

use super::{Fetch, Notice, Output};
use crate::failure::{Reason, RemoteChange};
use crate::object::RemoteObject;
use crate::request::Event;
use crate::sources::{Mixing, SourceReport};
use crate::transfer::Transfer;

/// The fetch's sources, in the order to prefer them.
#[derive(Clone, Debug, Default)]
pub(super) struct Failover {
    reports: Vec<SourceReport>,
    /// The source in use.
    at: usize,
    /// A whole-file hash failed after sources were mixed: one at a time
    /// from now on.
    unmixed: bool,
}

impl Failover {
    pub(super) fn new(first: &str, others: &[String]) -> Failover {
        let reports = std::iter::once(first)
            .chain(others.iter().map(String::as_str))
            .map(|url| SourceReport {
                url: url.to_string(),
                ..SourceReport::default()
            })
            .collect();
        Failover {
            reports,
            at: 0,
            unmixed: false,
        }
    }

    /// `transfer` ended (having `failed` for that reason): what it got
    /// from each source is counted, its own count when it mixed them, else
    /// its bytes are the source in use's (and so is its failure).
    pub(super) fn counted(&mut self, transfer: &Transfer, failed: Option<&Reason>) {
        let reports = transfer.source_reports();
        if reports.is_empty() {
            let used = &mut self.reports[self.at];
            used.bytes += transfer.fetched_bytes();
            if let Some(reason) = failed {
                used.failures += 1;
                used.dropped = Some(reason.to_string());
            }
            return;
        }
        for report in reports {
            match self.reports.iter_mut().find(|r| r.url == report.url) {
                Some(kept) => {
                    kept.bytes += report.bytes;
                    kept.failures += report.failures;
                    kept.dropped = report.dropped.or(kept.dropped.take());
                }
                None => self.reports.push(report),
            }
        }
    }

    /// The URL of the source in use.
    pub(super) fn current(&self) -> &str {
        &self.reports[self.at].url
    }

    /// The sources after the one in use (the earlier ones were dropped).
    pub(super) fn others(&self) -> Vec<String> {
        self.reports[self.at + 1..]
            .iter()
            .map(|r| r.url.clone())
            .collect()
    }

    pub(super) fn has_next(&self) -> bool {
        self.at + 1 < self.reports.len()
    }

    fn is_several(&self) -> bool {
        self.reports.len() > 1
    }
}

impl Fetch {
    /// The URL of the source in use.
    pub(super) fn failover_url(&self) -> &str {
        self.failover.current()
    }

    /// What identifies the file across sources in its meta: its piece
    /// hashes' fingerprint.
    pub(super) fn pieces_id(&self) -> Option<String> {
        self.spec.mirrors.pieces.as_ref().map(|p| p.fingerprint())
    }

    /// How this file's sources may be used together.
    pub(super) fn mixing(&self) -> Mixing {
        if self.failover.unmixed {
            return Mixing::OneAtATime;
        }
        let whole_hash = match &self.to {
            super::Destination::File(target) => target.checksum.is_some(),
            _ => false,
        };
        self.spec.mirrors.mixing(whole_hash)
    }

    /// The sources a file's transfer may mix with the one in use.
    pub(super) fn sources_to_mix(&self) -> Vec<String> {
        match self.mixing() {
            Mixing::OneAtATime => Vec::new(),
            _ => self.failover.others(),
        }
    }

    /// The size the probed source states, against the one every source
    /// must state: another is that source's failure.
    pub(super) fn size_refused(&self, object: &RemoteObject) -> Option<Reason> {
        let (Some(from), Some(to)) = (self.spec.mirrors.size, object.size) else {
            return None;
        };
        (from != to).then_some(Reason::Changed(RemoteChange::Size { from, to }))
    }

    /// The source in use failed for `reason`: while nothing went out for
    /// good and another is listed, it is dropped, named, and the next one
    /// is probed (a file's `.part` discarded: its bytes were another
    /// server's). Returns whether it moved on.
    pub(super) fn fail_over(&mut self, reason: &Reason, part_written: bool) -> bool {
        if !self.failover.has_next() || !self.recallable() {
            return false;
        }
        let dropped = &mut self.failover.reports[self.failover.at];
        dropped.failures += 1;
        dropped.dropped = Some(reason.to_string());
        let url = dropped.url.clone();
        self.failover.at += 1;
        let left = self.failover.reports.len() - self.failover.at;
        self.outputs.push_back(Output::Event(Event::SourceDropped {
            url,
            reason: reason.clone(),
            left,
        }));
        if part_written {
            self.outputs.push_back(Output::Discard);
        }
        self.reprobe();
        true
    }

    /// The file's hash failed after sources were mixed: no range can be
    /// judged without piece hashes, so it starts over from one source, the
    /// first still in use; each source's whole file is then held to the
    /// hash in turn. Returns whether it starts over.
    pub(super) fn unmix(&mut self, sources_used: usize) -> bool {
        if self.failover.unmixed || self.mixing() != Mixing::WholeHash || sources_used < 2 {
            return false;
        }
        self.failover.unmixed = true;
        self.notice(Notice::Unmixing {
            sources: sources_used,
            from: self.failover.current().to_string(),
        });
        self.outputs.push_back(Output::RemoveMeta);
        self.outputs.push_back(Output::Discard);
        self.reprobe();
        true
    }

    /// What each source gave (empty for one source).
    pub(super) fn source_reports(&self) -> Vec<SourceReport> {
        if self.failover.is_several() {
            self.failover.reports.clone()
        } else {
            Vec::new()
        }
    }
}
