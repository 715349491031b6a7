//! Fetching the object into `FILE.part` with the core's transfer engine:
//! continue what a previous run proved it wrote, or start clean; turns of
//! the engine's contract; the last steps once every byte is there.

use rangeget_core::failure::Reason;
use rangeget_core::meta::{resume_verdict, MetaFile, RestartReason, MAX_META_BYTES};
use rangeget_core::object::TransferMode;
use rangeget_core::paths::meta_path;
use rangeget_core::plan::chunk_size_for;
use rangeget_core::range::ByteRange;
use rangeget_core::request::RequestId;
use rangeget_core::room::check_free_space;
use rangeget_core::size::format_size;
use rangeget_core::transfer::{Claim, Command, End, Save, Transfer};
use rangeget_core::{Failure, RemoteObject};
use rangeget_options::Options;
use rangeget_wasi_http::{clock, Hooks, Response};
use wasip2::random::random::get_random_u64;

use super::http::Exchanges;
use super::lease;
use super::output::{OutputDir, PartFile};
use super::report::{warn, Stats};
use super::wait::CommandHooks;

/// Bytes read back per call while verifying a previous run's claims.
const VERIFY_READ_SIZE: u64 = 1 << 20;

/// What a probe found: the object, and the answer it may have left open.
pub struct Probed {
    pub object: RemoteObject,
    /// A GET's answer whose body is worth reading, body unread: the whole
    /// object (a server that ignores ranges), or its first bytes.
    pub body: Option<(RequestId, Response)>,
    /// Which bytes `body` carries when they are the first ones, not all.
    pub first: Option<ByteRange>,
    /// How long the probe's answer took: about one round trip.
    pub round_trip_ms: u64,
}

/// The transfer of `probed` into `out`: by ranges, continuing a previous
/// run where it can, or as one stream (servers without usable ranges, or
/// after one answered a range with the whole object).
pub fn start(
    out: &OutputDir,
    options: &Options,
    probed: Probed,
    ranges_ignored: bool,
    exchanges: &mut Exchanges,
) -> Result<(Transfer, PartFile), Failure> {
    match probed.object.transfer_mode() {
        TransferMode::Ranged { size } if !ranges_ignored => {
            prepare(out, options, probed, size, exchanges)
        }
        _ => single_stream(out, options, probed, ranges_ignored, exchanges),
    }
}

/// What the user is told when the transfer stopped: what is kept.
pub fn explain(failure: Failure, saved: bool, transfer: &Transfer, out: &OutputDir) -> Failure {
    let meta = meta_path(&out.display);
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

/// The transfer of a ranged download: continued from a previous run's meta
/// when it can be trusted, the remote is unchanged and its claims are
/// proven by the bytes on disk; otherwise started clean, saying why.
fn prepare(
    out: &OutputDir,
    options: &Options,
    probed: Probed,
    size: u64,
    exchanges: &mut Exchanges,
) -> Result<(Transfer, PartFile), Failure> {
    let Probed {
        object,
        body,
        first,
        round_trip_ms,
    } = probed;
    let meta = out.read_meta(MAX_META_BYTES)?;
    // Without a meta, a `.part` is not trusted: it is replaced unread
    // (its creation tells whether one stood there, to say so).
    let part = match meta {
        Some(_) => out.open_part()?,
        None => None,
    };
    if meta.is_some() {
        let part_len = part.as_ref().map(|(_, len)| *len);
        match resume_verdict(meta.as_deref(), part_len, &options.url, &object) {
            Ok(meta) => {
                let (part, _) = part.expect("the verdict saw the part");
                let (mut transfer, part) = resume(out, options, object, &meta, part)?;
                transfer.origin_round_trip(round_trip_ms);
                return Ok((transfer, part));
            }
            Err(reason) => warn_starting_over(out, reason),
        }
    }
    drop(part);
    check_free_space(&out.dir_display(), size, options.free_space)?;
    // A no-op when the look above found none.
    out.remove_meta()?;
    // All of it in the probe's answer: written in order from the start,
    // nothing to size up front.
    let all_in_hand = first.is_some_and(|range| range.start() == 0 && range.len() == size);
    let (part, replaced) = out.create_part((!all_in_hand).then_some(size))?;
    if meta.is_none() && replaced {
        warn_starting_over(
            out,
            resume_verdict(None, Some(0), &options.url, &object)
                .err()
                .flatten(),
        );
    }
    let chunk_size = chunk_size_for(size, options.chunk_size, options.connections, round_trip_ms);
    let settings = options.settings(get_random_u64());
    let mut transfer = Transfer::to_file(object, size, chunk_size, settings, clock::now_ms());
    transfer.origin_round_trip(round_trip_ms);
    // The probe's answer carries the first bytes: the first request.
    if let (Some((id, response)), Some(range)) = (body, first) {
        if transfer.adopt(id, range, clock::now_ms()) {
            exchanges.adopt(id, response);
            exchanges.refeed_head(id, &mut transfer);
        }
    }
    // Saved before any byte arrives, so even a kill during the first chunk
    // leaves a meta describing the `.part` (unless the engine keeps none,
    // or puts it off for a small file that may be done before it is due).
    if transfer.saves_progress() && !transfer.defers_record() {
        let meta = transfer.to_meta(&options.url).to_json();
        out.write_meta(&meta, !options.no_fsync)?;
    }
    Ok((transfer, part))
}

/// Says why a previous run's `.part` is not continued (`None`: nothing
/// worth saying).
fn warn_starting_over(out: &OutputDir, reason: Option<RestartReason>) {
    if let Some(reason) = reason {
        let meta = meta_path(&out.display);
        warn(&format!(
            "{}; starting over",
            reason.describe(&out.part_display(), &meta)
        ));
    }
}

/// Reads back every byte range the meta claims and keeps only those whose
/// digest matches: a power loss or a rotting disk can leave a meta that
/// promises more than the `.part` holds.
fn resume(
    out: &OutputDir,
    options: &Options,
    object: RemoteObject,
    meta: &MetaFile,
    part: PartFile,
) -> Result<(Transfer, PartFile), Failure> {
    let settings = options.settings(get_random_u64());
    let (mut transfer, claims) = Transfer::resume_file(object, meta, settings, clock::now_ms());
    let mut rejected = 0u64;
    for claim in &claims {
        read_back(out, &part, &mut transfer, claim)?;
        if !transfer.finish_verification(claim) {
            rejected += claim.range.len();
        }
    }
    if rejected > 0 {
        warn(&format!(
            "{} of {} did not match its recorded digest (torn by a crash or damaged on disk) and will be fetched again",
            format_size(rejected),
            out.part_display()
        ));
    }
    // Named: in a batch, several files may resume at once.
    warn(&format!(
        "resuming {}: {} of {} already downloaded and verified",
        out.display,
        format_size(transfer.reused_bytes()),
        format_size(meta.size)
    ));
    // The `.part` is sparse: its missing bytes still need room.
    let missing = meta.size - transfer.reused_bytes();
    check_free_space(&out.dir_display(), missing, options.free_space)?;
    Ok((transfer, part))
}

fn read_back(
    out: &OutputDir,
    part: &PartFile,
    transfer: &mut Transfer,
    claim: &Claim,
) -> Result<(), Failure> {
    let mut offset = claim.range.start();
    while offset <= claim.range.end() {
        let len = VERIFY_READ_SIZE.min(claim.range.end() - offset + 1);
        let data = part
            .read_at(len, offset)
            .map_err(|e| out.fs_error("read", &out.part_name(), e))?;
        if data.is_empty() {
            break; // Shorter than claimed: the digest will not match.
        }
        transfer.verify_claim(claim, &data);
        offset += data.len() as u64;
        // Reading back gigabytes takes a while.
        lease::renew_due();
        out.check_lease()?;
    }
    Ok(())
}

/// The transfer of a server without usable ranges: one stream from byte 0
/// (the probe's own GET, or the answer that ignored a range, when there is
/// one), which cannot be resumed.
fn single_stream(
    out: &OutputDir,
    options: &Options,
    probed: Probed,
    ranges_ignored: bool,
    exchanges: &mut Exchanges,
) -> Result<(Transfer, PartFile), Failure> {
    let Probed { object, body, .. } = probed;
    // Say why there is only one stream; an empty file needs no ranges, and
    // a server that ignored a range request was already reported.
    let why = if ranges_ignored {
        None
    } else if !object.accepts_ranges {
        Some("does not support range requests")
    } else if object.size.is_none() {
        Some("does not state the file's length")
    } else {
        None
    };
    if let Some(why) = why {
        warn(&format!(
            "{} {why}; downloading in one stream, which cannot be resumed",
            object.url
        ));
    }
    out.remove_meta()?;
    let (part, _) = out.create_part(None)?;
    let settings = options.settings(get_random_u64());
    let adopted = body.as_ref().map(|(id, _)| *id);
    let mut transfer = Transfer::whole(object, None, adopted, settings, clock::now_ms());
    if let Some((id, response)) = body {
        exchanges.adopt(id, response);
        exchanges.refeed_head(id, &mut transfer);
    }
    Ok((transfer, part))
}

/// One turn of the engine's contract, without waiting: what is ready is
/// fed (bodies into `part`), stalls are cut, then commands (new requests
/// within the budget), events and a due save; the end once it comes.
pub fn turn(
    transfer: &mut Transfer,
    part: &PartFile,
    out: &OutputDir,
    options: &Options,
    exchanges: &mut Exchanges,
) -> Option<End> {
    let mut write = |offset: u64, data: &[u8]| {
        part.write_at(data, offset)
            .map_err(|e| out.fs_error("write", &out.part_name(), e))
    };
    for id in exchanges.ready_now(Some(transfer)) {
        if let Err(failure) = exchanges.service(id, transfer, &mut write) {
            transfer.handle_local_failure(failure);
        }
    }
    transfer.handle_timeout(clock::now_ms());
    if let Err(failure) = out.check_lease() {
        transfer.handle_local_failure(failure);
    }
    exchanges.follow(transfer, |transfer, command| match command {
        Command::Close {
            flush: Some(range), ..
        } => part.start_writeback(range),
        Command::Truncate => {
            if let Err(e) = part.truncate() {
                transfer.handle_local_failure(out.fs_error("truncate", &out.part_name(), e));
            }
        }
        _ => {}
    });
    while let Some(event) = transfer.poll_event() {
        CommandHooks.event(event);
    }
    let now = clock::now_ms();
    if let Some(save) = transfer.poll_save(now) {
        match save_progress(transfer, save, part, out, options) {
            Ok(()) => transfer.handle_saved(save, clock::now_ms()),
            Err(failure) => transfer.handle_local_failure(failure),
        }
    }
    transfer.poll_end()
}

/// Records progress in the meta. Every claim there carries a digest that
/// a resume verifies, so a quick save (no fsync) is safe against a power
/// loss too; the engine says when to sync.
fn save_progress(
    transfer: &Transfer,
    save: Save,
    part: &PartFile,
    out: &OutputDir,
    options: &Options,
) -> Result<(), Failure> {
    if save.sync_data {
        part.sync_data()
            .map_err(|e| out.fs_error("sync", &out.part_name(), e))?;
    }
    let meta = transfer.to_meta(&options.url).to_json();
    out.write_meta(&meta, save.sync_meta)
}

/// The last steps of a finished transfer: the data synced (unless
/// `--no-fsync`) and the `.part`'s length checked.
pub fn finish(
    transfer: &Transfer,
    part: &PartFile,
    out: &OutputDir,
    options: &Options,
) -> Result<Stats, Failure> {
    if !options.no_fsync {
        part.sync_data()
            .map_err(|e| out.fs_error("sync", &out.part_name(), e))?;
    }
    let len = part
        .len()
        .map_err(|e| out.fs_error("stat", &out.part_name(), e))?;
    let size = transfer.object().size.unwrap_or(len);
    if len != size {
        return Err(Reason::PartLength {
            path: out.part_display(),
            len,
            expected: size,
        }
        .into());
    }
    Ok(Stats {
        size,
        reused: transfer.reused_bytes(),
        retries: transfer.retries(),
        connections: transfer.connections_used() as u32,
    })
}
