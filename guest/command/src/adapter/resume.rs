//! Starting a ranged download: continue a previous run when its meta is
//! trustworthy, the remote unchanged and its claims proven by the bytes on
//! disk; otherwise start clean, saying why.

use rangeget_core::download::{Checkpoint, Claim, Download};
use rangeget_core::meta::{MetaFile, ResumeDecision, MAX_META_BYTES};
use rangeget_core::options::Options;
use rangeget_core::plan::chunk_size_for;
use rangeget_core::room::check_free_space;
use rangeget_core::size::format_size;
use rangeget_core::{Failure, RemoteObject};

use super::output::{OutputDir, PartFile};
use super::report::warn;
use super::{clock, lease};

/// Bytes read back per call while verifying.
const VERIFY_READ_SIZE: u64 = 1 << 20;

pub fn prepare(
    out: &OutputDir,
    options: &Options,
    object: RemoteObject,
    size: u64,
) -> Result<(Download, PartFile), Failure> {
    let meta_display = format!("{}.part.meta", out.display);
    match out
        .read(&out.meta_name(), MAX_META_BYTES)?
        .map(|bytes| MetaFile::parse(&bytes))
    {
        Some(Ok(meta)) => match meta.resume_decision(&options.url, &object) {
            ResumeDecision::Resume => match out.open_part()? {
                Some((part, len)) => match meta.check_part_len(len) {
                    Ok(()) => return resume(out, options, object, &meta, part),
                    Err(e) => warn(&format!("ignoring {meta_display}: {e}; starting over")),
                },
                None => warn(&format!("{} is missing; starting over", out.part_display())),
            },
            ResumeDecision::Restart(reason) => warn(&format!("{reason}; starting over")),
        },
        Some(Err(e)) => warn(&format!("ignoring {meta_display}: {e}; starting over")),
        None if out.exists(&out.part_name()) => warn(&format!(
            "{} has no {meta_display} describing it, so its content cannot be trusted; starting over",
            out.part_display()
        )),
        None => {}
    }
    start_clean(out, options, object, size)
}

fn start_clean(
    out: &OutputDir,
    options: &Options,
    object: RemoteObject,
    size: u64,
) -> Result<(Download, PartFile), Failure> {
    check_free_space(&out.dir_display(), size, options.free_space)?;
    out.remove(&out.meta_name())?;
    let part = out.create_part(Some(size))?;
    let chunk_size = chunk_size_for(size, options.chunk_size, options.connections);
    let mut download = Download::new(object, size, chunk_size, options.retry_policy());
    // Saved before any byte arrives, so even a kill during the first chunk
    // leaves a meta describing the `.part`.
    out.write_atomically(
        &out.meta_name(),
        &download.to_meta(&options.url).to_json(),
        true,
    )?;
    download.mark_checkpointed(clock::now_ms(), Checkpoint::Durable);
    Ok((download, part))
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
) -> Result<(Download, PartFile), Failure> {
    let (mut download, claims) = Download::resume(object, meta, options.retry_policy());
    let mut rejected = 0u64;
    for claim in &claims {
        read_back(out, &part, &mut download, claim)?;
        if !download.finish_verification(claim) {
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
    warn(&format!(
        "resuming: {} of {} already downloaded and verified",
        format_size(download.reused_bytes()),
        format_size(meta.size)
    ));
    // The `.part` is sparse: its missing bytes still need room.
    check_free_space(
        &out.dir_display(),
        meta.size - download.reused_bytes(),
        options.free_space,
    )?;
    Ok((download, part))
}

fn read_back(
    out: &OutputDir,
    part: &PartFile,
    download: &mut Download,
    claim: &Claim,
) -> Result<(), Failure> {
    let mut offset = claim.range.start();
    while offset <= claim.range.end() {
        let len = VERIFY_READ_SIZE.min(claim.range.end() - offset + 1);
        let data = part
            .read_at(len, offset)
            .map_err(|e| out.fs_error("read", &out.part_name(), e))?;
        // Reading back gigabytes takes a while.
        lease::renew_if_due()?;
        if data.is_empty() {
            break; // Shorter than claimed: the digest will not match.
        }
        download.verify_bytes(claim, &data);
        offset += data.len() as u64;
    }
    Ok(())
}
