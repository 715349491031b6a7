//! A file's `.part` before its transfer: continued from what a previous
//! run proved it wrote (its meta trusted, the remote unchanged, every
//! claim read back and checked against its digest), or started clean,
//! saying why; and what a stopped transfer leaves the user.

use super::{Fetch, Notice, Output, Probed, Stage};
use crate::failure::{Failure, Reason};
use crate::meta::{resume_verdict, MetaFile};
use crate::object::TransferMode;
use crate::paths::meta_path;
use crate::plan::chunk_size_for;
use crate::range::ByteRange;
use crate::room::check_free_space;
use crate::transfer::{Claim, Transfer};

/// Bytes read back per request while verifying a previous run's claims.
const VERIFY_READ_SIZE: u64 = 1 << 20;

/// A file's `.part` being made ready.
// One per fetch, for a moment: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Prepare {
    /// Waiting for [`super::Input::PartCreated`].
    Creating {
        probed: Probed,
        /// A ranged file of this size; `None`: one stream.
        ranged: Option<u64>,
        /// A meta was found (and judged): a `.part` replaced was told of.
        meta_found: bool,
    },
    /// Reading a previous run's claims back.
    Verifying(Verify),
}

pub(super) struct Verify {
    transfer: Transfer,
    claims: Vec<Claim>,
    /// The claim being read, and the next offset to read in it.
    at: usize,
    offset: u64,
    rejected: u64,
    size: u64,
}

impl Fetch {
    fn path(&self) -> &str {
        &self.target().path
    }

    /// The directory of the file, as its messages name it.
    fn dir(&self) -> String {
        let dir = self.path().rsplit_once('/').map_or(".", |(d, _)| d);
        format!("{dir}/")
    }

    /// The `.part` for `probed`, given what stands at the destination:
    /// by ranges, continuing a previous run where it can, or as one stream
    /// (servers without usable ranges, or after one answered a range with
    /// the whole object).
    pub(super) fn prepare(
        &mut self,
        probed: Probed,
        meta: Option<Vec<u8>>,
        part_len: Option<u64>,
        now_ms: u64,
    ) {
        let size = match probed.object.transfer_mode() {
            TransferMode::Ranged { size } if !self.ranges_ignored => size,
            _ => return self.prepare_one_stream(probed),
        };
        if let Some(bytes) = &meta {
            match resume_verdict(
                Some(bytes),
                part_len,
                &self.spec.url,
                &probed.object,
                self.pieces_id().as_deref(),
            ) {
                Ok(meta) => return self.verify(probed, &meta, now_ms),
                Err(Some(reason)) => self.notice(Notice::NotResumed {
                    reason,
                    path: self.path().to_string(),
                }),
                Err(None) => {}
            }
        }
        if let Err(reason) = check_free_space(&self.dir(), size, self.spec.free_space) {
            return self.fail(reason.into());
        }
        // A no-op when none was found.
        self.outputs.push_back(Output::RemoveMeta);
        // All of it in the probe's answer: written in order from the start,
        // nothing to size up front.
        let all_in_hand = probed
            .first
            .is_some_and(|range| range.start() == 0 && range.len() == size);
        self.outputs.push_back(Output::CreatePart {
            size: (!all_in_hand).then_some(size),
        });
        self.stage = Stage::Preparing(Prepare::Creating {
            probed,
            ranged: Some(size),
            meta_found: meta.is_some(),
        });
    }

    /// One stream from byte 0 (the probe's own GET, or the answer that
    /// ignored a range, when there is one), which cannot be resumed.
    fn prepare_one_stream(&mut self, probed: Probed) {
        // Say why; an empty file needs no ranges, and a server that
        // ignored a range request was already reported.
        let why = if self.ranges_ignored {
            None
        } else if !probed.object.accepts_ranges {
            Some("does not support range requests")
        } else if probed.object.size.is_none() {
            Some("does not state the file's length")
        } else {
            None
        };
        if let Some(why) = why {
            self.notice(Notice::OneStream {
                url: probed.object.url.clone(),
                why,
            });
        }
        self.outputs.push_back(Output::RemoveMeta);
        self.outputs.push_back(Output::CreatePart { size: None });
        self.stage = Stage::Preparing(Prepare::Creating {
            probed,
            ranged: None,
            meta_found: true,
        });
    }

    /// The `.part` stands, empty: the transfer starts.
    pub(super) fn part_created(&mut self, replaced: bool, now_ms: u64) {
        let (probed, ranged, meta_found) = match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Preparing(Prepare::Creating {
                probed,
                ranged,
                meta_found,
            }) => (probed, ranged, meta_found),
            // Unasked: a bug of the pump, without effect.
            other => return self.stage = other,
        };
        let settings = self.settings(true);
        let Some(size) = ranged else {
            return self.one_stream(probed, None, settings, now_ms);
        };
        if !meta_found && replaced {
            let verdict = resume_verdict(None, Some(0), &self.spec.url, &probed.object, None);
            if let Err(Some(reason)) = verdict {
                self.notice(Notice::NotResumed {
                    reason,
                    path: self.path().to_string(),
                });
            }
        }
        let connections = settings.connections as u32;
        let chunk_size = chunk_size_for(
            size,
            self.spec.chunk_size,
            connections,
            probed.round_trip_ms,
        );
        // Checked by pieces, every chunk starts where a piece does.
        let chunk_size = match &self.spec.mirrors.pieces {
            Some(pieces) => chunk_size.div_ceil(pieces.length) * pieces.length,
            None => chunk_size,
        };
        let mut transfer =
            Transfer::to_file(probed.object.clone(), size, chunk_size, settings, now_ms);
        self.with_sources(&mut transfer);
        transfer.ids_from(self.next_id);
        transfer.origin_round_trip(probed.round_trip_ms);
        // The probe's answer carries the first bytes: the first request.
        self.take_first_bytes(&mut transfer, &probed, now_ms);
        // Saved before any byte arrives, so even a kill during the first
        // chunk leaves a meta describing the `.part` (unless the engine
        // keeps none, or puts it off for a small file that may be done
        // before it is due).
        if transfer.saves_progress() && !transfer.defers_record() {
            self.outputs.push_back(Output::SaveMeta {
                json: transfer.to_meta(&self.spec.url).to_json(),
                sync_data: false,
                sync_meta: self.spec.settings.durable,
            });
        }
        self.transferring(transfer);
    }

    /// A file's transfer checks its pieces and mixes the sources that may
    /// be mixed.
    fn with_sources(&self, transfer: &mut Transfer) {
        if let Some(pieces) = &self.spec.mirrors.pieces {
            transfer.check_pieces(pieces.clone());
        }
        let per_host = self
            .spec
            .mirrors
            .per_host
            .unwrap_or(self.spec.settings.connections);
        transfer.add_sources(self.failover_url(), &self.sources_to_mix(), per_host);
    }

    /// Continues from `meta`: nothing it claims is trusted until read back.
    fn verify(&mut self, probed: Probed, meta: &MetaFile, now_ms: u64) {
        if let Some(id) = probed.body {
            // Its first bytes may well be on disk already.
            self.probe_open.retain(|&open| open != id);
            self.outputs.push_back(Output::Close(id));
        }
        let settings = self.settings(true);
        let (mut transfer, claims) = Transfer::resume_file(probed.object, meta, settings, now_ms);
        self.with_sources(&mut transfer);
        transfer.ids_from(self.next_id);
        transfer.origin_round_trip(probed.round_trip_ms);
        let offset = claims.first().map_or(0, |claim| claim.range.start());
        let verify = Verify {
            transfer,
            claims,
            at: 0,
            offset,
            rejected: 0,
            size: meta.size,
        };
        self.next_read(verify);
    }

    /// Asks for the next bytes to verify, or ends the verification.
    fn next_read(&mut self, verify: Verify) {
        match verify.claims.get(verify.at) {
            Some(claim) => {
                let len = VERIFY_READ_SIZE.min(claim.range.end() - verify.offset + 1);
                let range = ByteRange::from_len(verify.offset, len).expect("a claim is not empty");
                self.outputs.push_back(Output::ReadBack(range));
                self.stage = Stage::Preparing(Prepare::Verifying(verify));
            }
            None => self.verified(verify),
        }
    }

    /// Bytes of the `.part` read back for the claim being verified.
    pub(super) fn read_back(&mut self, data: Vec<u8>, _now_ms: u64) {
        let mut verify = match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Preparing(Prepare::Verifying(verify)) => verify,
            // Unasked: a bug of the pump, without effect.
            other => return self.stage = other,
        };
        let claim = &verify.claims[verify.at];
        let end = claim.range.end();
        // Shorter than claimed: the digest will not match.
        let short = data.is_empty();
        verify.offset += data.len() as u64;
        verify.transfer.verify_claim(claim, &data);
        if short || verify.offset > end {
            let claim = verify.claims[verify.at];
            if !verify.transfer.finish_verification(&claim) {
                verify.rejected += claim.range.len();
            }
            verify.at += 1;
            if let Some(next) = verify.claims.get(verify.at) {
                verify.offset = next.range.start();
            }
        }
        self.next_read(verify);
    }

    /// Every claim was read back: the transfer goes on from what held.
    fn verified(&mut self, verify: Verify) {
        let path = self.path().to_string();
        if verify.rejected > 0 {
            self.notice(Notice::Damaged {
                bytes: verify.rejected,
                path: path.clone(),
            });
        }
        let reused = verify.transfer.reused_bytes();
        self.notice(Notice::Resuming {
            path,
            reused,
            size: verify.size,
        });
        // The `.part` is sparse: its missing bytes still need room.
        let missing = verify.size - reused;
        if let Err(reason) = check_free_space(&self.dir(), missing, self.spec.free_space) {
            return self.fail(reason.into());
        }
        self.transferring(verify.transfer);
    }
}

/// What the user is told when a file's transfer stopped: what is kept.
pub(super) fn explain(failure: Failure, saved: bool, transfer: &Transfer, path: &str) -> Failure {
    let meta = meta_path(path);
    if !transfer.saves_progress() || transfer.defers_record() {
        return failure;
    }
    if matches!(failure.reason, Reason::GaveUp { .. }) {
        return failure.with_note(format!(
            "Progress is saved in {meta}: run the same command again to resume, perhaps with a \
             larger --retries or --timeout"
        ));
    }
    let kept = if saved {
        "Finished chunks are saved"
    } else {
        "Progress up to the last save is kept"
    };
    failure.with_note(format!("{kept} in {meta}; the same command resumes"))
}
